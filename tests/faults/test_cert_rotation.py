"""Certificate rotation under load: zero failed requests, and the new certificate is served.

Two ways the files change in real clusters, both tested:

* atomic: the kubelet updates a mounted Secret by writing a new timestamped directory and
  swapping the `..data` symlink, so tls.crt and tls.key change together;
* torn: a tool writes tls.crt, then tls.key a moment later, so for a while the files hold a
  certificate and a key that do not match (the webhook must keep serving the old pair).
"""

from __future__ import annotations

import os
import socket
import ssl
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography import x509

from bench.harness import Stack, WebhookOptions
from bench.load import LoadResult, drive
from tests.cluster.certs import CertificateAuthority
from tests.faults.conftest import Record, env_int

RELOAD_S = 0.2


def _served_serial(port: int, ca: Path) -> int:
    context = ssl.create_default_context(cafile=str(ca))
    with (
        socket.create_connection(("127.0.0.1", port), timeout=5) as raw,
        context.wrap_socket(raw, server_hostname="127.0.0.1") as tls,
    ):
        der = tls.getpeercert(binary_form=True)
    assert der is not None
    return x509.load_der_x509_certificate(der).serial_number


class _SecretVolume:
    """tls.crt/tls.key as the kubelet lays out a Secret volume: files behind a ..data symlink."""

    def __init__(self, root: Path, ca: CertificateAuthority) -> None:
        self.root = root
        self.ca = ca
        self.generation = 0
        root.mkdir(parents=True, exist_ok=True)
        self.publish()
        for name in ("tls.crt", "tls.key"):
            (root / name).symlink_to(Path("..data") / name)

    def publish(self) -> int:
        """Write a new pair into a fresh directory and swap ..data to it atomically."""
        self.generation += 1
        pair = self.ca.issue_loopback_server(f"webhook-{self.generation}")
        target = self.root / f"..{time.time_ns()}"
        target.mkdir()
        (target / "tls.crt").write_bytes(pair.cert_pem)
        (target / "tls.key").write_bytes(pair.key_pem)
        tmp_link = self.root / "..data_tmp"
        tmp_link.symlink_to(target.name)
        os.replace(tmp_link, self.root / "..data")
        return x509.load_pem_x509_certificate(pair.cert_pem).serial_number


def _load(stack: Stack, seconds: float, out: list[LoadResult]) -> threading.Thread:
    def run() -> None:
        out.append(
            drive(
                stack.url + "/validate",
                stack.tls.ca_path,
                concurrency=8,
                duration=seconds,
                warmup=0.2,
                distinct=10**9,
                timeout=5.0,
            )
        )

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def _new_connections(stack: Stack, ca: Path, stop: threading.Event, failures: list[str]) -> None:
    """Fresh TLS handshakes all through the rotation (the load's connections are kept alive)."""
    while not stop.is_set():
        try:
            _served_serial(stack.port, ca)
        except (OSError, ssl.SSLError) as exc:
            failures.append(f"{type(exc).__name__}: {exc}")
        time.sleep(0.02)


@pytest.mark.parametrize("style", ["atomic", "torn"])
def test_rotation_under_load(
    style: str, make_stack: Callable[..., Stack], tmp_path: Path, fault_summary: Record
) -> None:
    rotations = env_int("EXPORTGATE_ROTATIONS", 5)
    stack = make_stack(start=False, webhook=WebhookOptions(tls_reload_interval=RELOAD_S))
    # The stack's own CA signs every rotated leaf: clients keep trusting the same CA bundle.
    ca = CertificateAuthority("rotation-ca")
    stack.tls.ca_path.write_bytes(ca.cert_pem)
    volume = _SecretVolume(tmp_path / "secret", ca)
    cert, key = volume.root / "tls.crt", volume.root / "tls.key"
    stack.tls = type(stack.tls)(ca.cert_pem, stack.tls.ca_path, cert, key)
    stack.start()

    results: list[LoadResult] = []
    handshake_failures: list[str] = []
    stop = threading.Event()
    prober = threading.Thread(
        target=_new_connections, args=(stack, stack.tls.ca_path, stop, handshake_failures)
    )
    prober.start()
    load = _load(stack, seconds=rotations * 4 * RELOAD_S + 1.0, out=results)
    served: list[int] = []
    try:
        for _ in range(rotations):
            time.sleep(4 * RELOAD_S)
            if style == "atomic":
                expected = volume.publish()
            else:
                volume.generation += 1
                pair = ca.issue_loopback_server(f"webhook-{volume.generation}")
                data = volume.root / "..data"
                (data / "tls.crt").write_bytes(pair.cert_pem)  # cert first, key later:
                time.sleep(3 * RELOAD_S)  # the reloader sees a mismatched pair meanwhile
                (data / "tls.key").write_bytes(pair.key_pem)
                expected = x509.load_pem_x509_certificate(pair.cert_pem).serial_number
            deadline = time.monotonic() + 10 * RELOAD_S + 2
            while _served_serial(stack.port, stack.tls.ca_path) != expected:
                assert time.monotonic() < deadline, "the new certificate was never served"
                time.sleep(0.05)
            served.append(expected)
        load.join(120)
    finally:
        stop.set()
        prober.join(10)
    assert results, "the load generator did not report"
    result = results[0]
    failed = result.failed + len(handshake_failures)
    fault_summary(
        outcome="passed" if failed == 0 else "failed",
        cases=rotations,
        requests=result.ok + result.failed,
        failures=failed,
        detail=f"{style} rotation every {4 * RELOAD_S:.1f}s; {len(served)} new certificates "
        f"served; {len(handshake_failures)} failed fresh handshakes",
    )
    assert result.ok > 0
    assert result.failed == 0, result.failures
    assert not handshake_failures, handshake_failures[:3]
    assert len(served) == rotations
