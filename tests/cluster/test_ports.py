"""The port allocator the test, demo and bench processes listen on."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from tests.cluster import ports


def _ephemeral_low() -> int:
    return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])


@pytest.mark.skipif(
    not Path("/proc/sys/net/ipv4/ip_local_port_range").exists(), reason="Linux only"
)
def test_ports_come_from_below_the_range_outgoing_connections_use() -> None:
    # The CI failure this guards against: a port picked by bind(0) was taken by an
    # outgoing connection before the webhook bound it ("Address already in use").
    handed = [ports.free_port() for _ in range(50)]
    assert all(10_000 <= port < _ephemeral_low() for port in handed)
    assert len(set(handed)) == len(handed), "a port was handed out twice"


def test_a_port_someone_listens_on_is_not_free() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        taken = listener.getsockname()[1]
        assert not ports._bindable(taken)
    assert ports._bindable(taken)


def test_without_a_readable_range_the_kernel_picks(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(ports, "_RANGE_FILE", tmp_path / "absent")
    port = ports.free_port()
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", port))  # free, as promised
