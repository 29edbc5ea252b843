"""The listener's accept loop outlives a failing accept: out of descriptors (EMFILE), it waits
and accepts again once descriptors are free, rather than ending and leaving the port dead (with
``failurePolicy: Fail`` a dead port refuses every guarded request in the cluster)."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from tests.webhook.conftest import REPO

pytestmark = pytest.mark.parametrize("loop", ["asyncio", "uvloop"])


@pytest.fixture
def child(loop: str) -> Iterator[tuple[subprocess.Popen[str], int]]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.webhook.listener_child", loop, "6"],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        port = int(proc.stdout.readline())
        yield proc, port
    finally:
        proc.kill()
        proc.wait(10)


def _get(port: int, timeout: float = 5.0) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as conn:
        conn.sendall(b"GET /x HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        answer = b""
        while chunk := conn.recv(4096):
            answer += chunk
        return answer


def test_accepting_resumes_after_running_out_of_descriptors(
    child: tuple[subprocess.Popen[str], int],
) -> None:
    proc, port = child
    assert _get(port).startswith(b"HTTP/1.1 200")
    # More connections than the child has descriptors: the kernel completes them into the
    # backlog, and the child's accept fails with EMFILE until some are closed.
    held = [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(20)]
    time.sleep(1.0)
    assert proc.poll() is None
    for conn in held:
        conn.close()
    deadline = time.monotonic() + 20
    answer = b""
    while time.monotonic() < deadline:
        try:
            answer = _get(port, timeout=2.0)
        except OSError:
            answer = b""
        if answer.startswith(b"HTTP/1.1 200"):
            break
        time.sleep(0.2)
    assert answer.startswith(b"HTTP/1.1 200"), answer
    proc.kill()
    _, errors = proc.communicate(timeout=10)
    assert "accept failed" in errors  # it did run out, and said so
