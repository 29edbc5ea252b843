"""Thousands of idle and half-open connections cannot take the webhook down (issue 11).

The real webhook process (bench.harness.Stack, default flags) on loopback. A client opens
thousands of plain TCP connections that never start TLS (half-open), TLS connections that never
send a request (idle), and TLS connections that send half a header line (slow), in waves, all
bounded by EXPORTGATE_FAULT_CONNECTIONS. Outcomes checked, not speed:

* the webhook's peak RSS stays under the chart's memory limit for it;
* every such connection is closed by the webhook within its timeouts (handshake 5 s, header 10 s);
* refusals are counted by reason, and a legitimate review succeeds after each wave (the API
  server's next attempt), so service resumes on its own.
"""

from __future__ import annotations

import asyncio
import json
import ssl
import time
from pathlib import Path
from typing import Any

import pytest

from bench.harness import Stack
from bench.reviews import gpu_pod, review
from tests.faults.conftest import Record, env_int
from tests.faults.limits import chart_memory_limit, peak_rss

CONNECTIONS = env_int("EXPORTGATE_FAULT_CONNECTIONS", 3000)
HANDSHAKE_S, HEADER_S = 5.0, 10.0  # the webhook's defaults (docs/webhook.md, Limits)


async def _open_many(
    port: int, count: int, context: ssl.SSLContext | None, send: bytes
) -> list[Any]:
    async def one() -> Any:
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(
                    "127.0.0.1", port, ssl=context, server_hostname="127.0.0.1" if context else None
                ),
                10,
            )
        except (OSError, TimeoutError, ssl.SSLError):
            return None  # reset at the cap: what the cap is for
        if send:
            writer.write(send)
        return reader, writer

    opened: list[Any] = []
    for start in range(0, count, 200):  # in bursts, so the listen backlog is not the test
        opened += await asyncio.gather(*(one() for _ in range(min(200, count - start))))
    return [o for o in opened if o is not None]


async def _all_closed(connections: list[Any], within: float) -> int:
    """How many of `connections` the server has not closed within `within` seconds."""

    async def closed(reader: asyncio.StreamReader) -> bool:
        try:
            async with asyncio.timeout(within):
                while await reader.read(1024):
                    pass
            return True
        except TimeoutError:
            return False
        except (OSError, ssl.SSLError):
            return True  # reset by the server

    results = await asyncio.gather(*(closed(r) for r, _ in connections))
    for _, writer in connections:
        writer.close()
    return sum(1 for ok in results if not ok)


def _legit_review(stack: Stack) -> int:
    import http.client

    body = json.dumps(review(gpu_pod("acme-ml", 1, "NVIDIA-H100-80GB-HBM3"), "CREATE")).encode()
    deadline = time.monotonic() + HANDSHAKE_S + 5
    while True:
        try:
            conn = http.client.HTTPSConnection(
                "127.0.0.1", stack.port, context=stack.client_ssl_context(), timeout=5
            )
            conn.request("POST", "/validate", body, {"Content-Type": "application/json"})
            status = conn.getresponse().status
            conn.close()
            return status
        except OSError:
            assert time.monotonic() < deadline, "service did not resume after the flood"
            time.sleep(0.2)


def _metric(stack: Stack, reason: str) -> float:
    import urllib.request

    with urllib.request.urlopen(f"http://127.0.0.1:{stack.probe_port}/metrics") as response:
        text = response.read().decode()
    prefix = f'exportgate_webhook_connections_refused_total{{reason="{reason}"}} '
    for line in text.splitlines():
        if line.startswith(prefix):
            return float(line[len(prefix):])
    return 0.0


@pytest.mark.parametrize(
    ("wave", "tls", "send", "within"),
    [
        ("half-open", False, b"", HANDSHAKE_S),
        ("idle-tls", True, b"", HEADER_S),
        ("slow-headers", True, b"POST /validate HTTP/1.1\r\nHost: x\r\n", HEADER_S),
    ],
)
def test_connection_floods_are_bounded_and_closed(
    make_stack: Any, fault_summary: Record, tmp_path: Path, wave: str, tls: bool, send: bytes,
    within: float,
) -> None:
    stack: Stack = make_stack(wave)
    assert stack.webhook is not None
    limit = chart_memory_limit("webhook")
    context = stack.client_ssl_context() if tls else None

    async def flood() -> tuple[int, int]:
        held = await _open_many(stack.port, CONNECTIONS, context, send)
        left_open = await _all_closed(held, within + 5)
        return len(held), left_open

    held, left_open = asyncio.run(flood())
    peak = peak_rss(stack.webhook.pid)
    status = _legit_review(stack)
    fault_summary(cases=CONNECTIONS, requests=held, failures=left_open,
                  detail={"peak_rss_mib": round(peak / 2**20, 1), "wave": wave})
    assert stack.webhook.alive(), stack.webhook.log_tail()
    assert 0 < held <= CONNECTIONS
    assert left_open == 0, f"{left_open} of {held} connections outlived the timeouts"
    assert peak < limit, f"webhook peak RSS {peak / 2**20:.0f} MiB >= chart limit"
    assert status == 200
    if CONNECTIONS > 256:  # past the default cap, some were reset at accept
        assert _metric(stack, "connection-cap") > 0
