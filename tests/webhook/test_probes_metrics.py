"""/healthz, /readyz (ready only when the sidecar answers) and /metrics."""

from __future__ import annotations

import asyncio
import dataclasses
import re
from collections.abc import AsyncIterator

import aiohttp
import pytest
from exportgate_sidecar.server import SidecarServer
from exportgate_webhook.config import ListenConfig

from tests.cluster.certs import ServingCert
from tests.webhook.conftest import Webhook, start_webhook, stop_webhook, webhook_config
from tests.webhook.helpers import ACME_NS, gpu_pod, plain_pod, review_for


async def test_healthz_and_readyz(webhook: Webhook, sidecar: SidecarServer) -> None:
    assert await webhook.get("/healthz") == (200, "ok\n")
    status, text = await webhook.get("/readyz")
    assert status == 200
    assert text.startswith("ok: policy ") and "3 tenants" in text
    await sidecar.stop(grace=0)
    await asyncio.sleep(1.1)  # readiness is cached for a second
    status, text = await webhook.get("/readyz")
    assert status == 503
    assert text.startswith("policy sidecar: cannot reach the policy sidecar (unix://")
    assert (await webhook.get("/healthz"))[0] == 200  # alive, only not ready


def _sample(exposition: str, name: str, **labels: str) -> float:
    for line in exposition.splitlines():
        if not line.startswith(name + "{") and not line.startswith(name + " "):
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', line.partition(" ")[0]))
        if all(found.get(k) == v for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"{name}{labels} not in the exposition")


async def test_metrics_count_and_time_reviews_by_kind_operation_decision(
    webhook: Webhook,
) -> None:
    await webhook.review("/validate", review_for(gpu_pod("d")))  # nimbus: deny
    await webhook.review("/validate", review_for(gpu_pod("a", ACME_NS)))  # allow
    await webhook.review("/validate", review_for(gpu_pod("w", ACME_NS, product="NVIDIA-L4")))
    await webhook.review("/validate", review_for(plain_pod()))
    await webhook.review("/mutate", review_for(gpu_pod("a", ACME_NS)))
    await webhook.post("/validate", b"nonsense")

    status, text = await webhook.get("/metrics")
    assert status == 200
    common = {"endpoint": "validate", "kind": "Pod", "operation": "CREATE"}
    for decision in ("deny", "allow", "warn", "unguarded"):
        assert _sample(text, "exportgate_webhook_requests_total", decision=decision, **common) == 1
        count = _sample(
            text, "exportgate_webhook_request_duration_seconds_count", decision=decision, **common
        )
        assert count == 1
    assert _sample(
        text, "exportgate_webhook_requests_total", endpoint="mutate", kind="Pod", decision="allow"
    ) == 1
    assert "exportgate_webhook_request_duration_seconds_bucket{" in text
    assert _sample(text, "exportgate_webhook_malformed_requests_total", endpoint="validate") == 1
    assert _sample(text, "exportgate_webhook_sidecar_duration_seconds_count") == 4
    # One review at a time here: four calls of one item each.
    assert _sample(text, "exportgate_webhook_sidecar_batch_items_count") == 4
    assert _sample(text, "exportgate_webhook_sidecar_batch_items_sum") == 4
    # No sidecar errors yet, and the series exist for dashboards once they happen.
    assert "# TYPE exportgate_webhook_sidecar_errors_total counter" in text
    assert "exportgate_webhook_namespace_cache_hit_ratio" in text
    assert _sample(text, "exportgate_webhook_certificate_expiry_timestamp_seconds") > 0


@pytest.fixture
async def probe_webhook(
    sidecar: SidecarServer, serving_cert: ServingCert
) -> AsyncIterator[Webhook]:
    base = webhook_config(serving_cert, sidecar.unix_target)
    listen = ListenConfig(host="127.0.0.1", port=0, probe_host="127.0.0.1", probe_port=0)
    config = dataclasses.replace(base, listen=listen)
    hook = await start_webhook(config, serving_cert)
    try:
        yield hook
    finally:
        await stop_webhook(hook)


async def test_plain_http_probe_listener(probe_webhook: Webhook) -> None:
    port = probe_webhook.server.probe_port
    assert port is not None
    async with aiohttp.ClientSession() as http:
        for path, expected in (("/healthz", 200), ("/readyz", 200), ("/metrics", 200)):
            async with http.get(f"http://127.0.0.1:{port}{path}") as response:
                assert response.status == expected
        async with http.head(f"http://127.0.0.1:{port}/healthz") as response:
            assert response.status == 200 and await response.read() == b""
        async with http.post(f"http://127.0.0.1:{port}/healthz", data=b"x") as response:
            assert response.status == 405
        # Reviews are only served over TLS.
        async with http.post(f"http://127.0.0.1:{port}/validate", data=b"{}") as response:
            assert response.status == 404
            assert "probes only" in (await response.json())["message"]


async def test_the_probe_port_is_bounded_like_the_admission_port(probe_webhook: Webhook) -> None:
    """Plain HTTP, but the same parser, header deadline and idle timeout, and a connection cap."""
    port = probe_webhook.server.probe_port
    assert port is not None
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET /healthz HTTP/1.1\r\nHost: p\r\n\r\n" + b"\x00garbage\r\n\r\n")
    answers = await asyncio.wait_for(reader.read(), 5)  # answered, then closed for the garbage
    assert answers.startswith(b"HTTP/1.1 200 OK\r\n") and b"HTTP/1.1 400 Bad Request" in answers
    writer.close()
    held = [await asyncio.open_connection("127.0.0.1", port) for _ in range(80)]
    await asyncio.sleep(0.2)
    closed = 0
    for held_reader, held_writer in held:
        try:
            if await asyncio.wait_for(held_reader.read(1), 0.05) == b"":
                closed += 1
        except ConnectionResetError:  # refused with a reset, before any state is kept for it
            closed += 1
        except TimeoutError:
            pass
        held_writer.close()
    assert closed >= 80 - 64  # past the cap a connection is reset at once
    await asyncio.sleep(0.1)
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"http://127.0.0.1:{port}/healthz") as response,
    ):
        assert response.status == 200
