"""Issue 11 in the webhook: bounded work per object, terminating objects, connection limits.

Real webhook and sidecar over TLS (conftest). The connection tests open real sockets on
loopback against a webhook with small limits, so they finish in seconds.
"""

from __future__ import annotations

import asyncio
import copy
import dataclasses
from typing import Any

import pytest
from exportgate_sidecar.server import SidecarServer

from exportgate.core.limits import INLINE_BODY_BYTES, MAX_PLACEMENTS
from tests.cluster.certs import ServingCert
from tests.webhook.conftest import (
    Webhook,
    client_context,
    start_webhook,
    stop_webhook,
    webhook_config,
)
from tests.webhook.helpers import ACME_NS, NIMBUS_NS, gpu_pod, review_for

# The listener and sessions meet the loop here: every test runs on the stdlib loop and on
# uvloop (the webhook's default, exportgate/eventloop.py).
pytestmark = pytest.mark.both_loops


def _dying(pod: dict[str, Any]) -> dict[str, Any]:
    dying = copy.deepcopy(pod)
    dying["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    dying["metadata"]["finalizers"] = ["example.com/hold"]
    return dying


async def test_a_spec_change_of_a_terminating_object_is_evaluated(webhook: Webhook) -> None:
    old = _dying(gpu_pod("t", NIMBUS_NS, product="Tesla-T4"))
    new = _dying(gpu_pod("t", NIMBUS_NS))  # now asks for an H100: restricted for nimbus
    response = await webhook.review("/validate", review_for(new, operation="UPDATE", old=old))
    assert response["allowed"] is False
    assert response["status"]["code"] == 403


async def test_a_finalizer_change_of_a_terminating_object_is_skipped(webhook: Webhook) -> None:
    old = _dying(gpu_pod("t", NIMBUS_NS))
    new = copy.deepcopy(old)
    new["metadata"]["finalizers"] = []
    response = await webhook.review("/validate", review_for(new, operation="UPDATE", old=old))
    assert response["allowed"] is True
    assert webhook.metrics.requests.labels("validate", "Pod", "UPDATE", "skipped")._value.get() == 1


def _cross_product_pod(containers: int, terms: int) -> dict[str, Any]:
    pod = gpu_pod("x", ACME_NS, product=None)
    pod["spec"]["containers"] = [
        {"name": f"c{i}", "image": "x", "resources": {"limits": {"nvidia.com/gpu": "1"}}}
        for i in range(containers)
    ]
    pod["spec"]["affinity"] = {
        "nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [
                    {"matchExpressions": [{"key": "nvidia.com/gpu.product", "operator": "In",
                                           "values": [f"NVIDIA-H100-80GB-HBM3-{t}"]}]}
                    for t in range(terms)
                ]
            }
        }
    }
    return pod


async def test_an_object_past_a_cap_is_refused_with_400_naming_it(webhook: Webhook) -> None:
    response = await webhook.review(
        "/validate", review_for(_cross_product_pod(4, MAX_PLACEMENTS + 1))
    )
    assert response["allowed"] is False
    assert response["status"]["code"] == 400
    assert "MAX_PLACEMENTS" in response["status"]["message"]


async def test_a_large_object_within_the_caps_is_decided_off_the_loop(webhook: Webhook) -> None:
    pod = _cross_product_pod(200, MAX_PLACEMENTS)
    body = review_for(pod)
    assert len(str(body)) > INLINE_BODY_BYTES  # takes the worker-pool path
    response = await webhook.review("/validate", body)
    # Decided by the sidecar (an allow, or a policy denial), not refused as unreadable.
    assert response.get("status", {}).get("code") in (None, 403), response
    assert response.get("auditAnnotations"), response


@pytest.mark.parametrize(
    "body",
    [
        b'{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"\\ud800"}}',
        b'{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":'
        + b'{"a":' * 150 + b"1" + b"}" * 150 + b"}",
    ],
    ids=["lone-surrogate", "deep"],
)
async def test_bodies_that_cannot_be_handled_get_400_not_500(webhook: Webhook, body: bytes) -> None:
    status, answer = await webhook.post("/validate", body)
    assert status == 400, answer
    assert "surrogate" in answer["message"] or "MAX_DEPTH" in answer["message"]


# -- connections -----------------------------------------------------------------------------


@pytest.fixture
async def small_webhook(sidecar: SidecarServer, serving_cert: ServingCert) -> Any:
    config = webhook_config(serving_cert, sidecar.unix_target)
    listen = dataclasses.replace(
        config.listen,
        max_connections=20,
        handshake_timeout_s=0.5,
        header_timeout_s=0.5,
        idle_timeout_s=1.0,
    )
    hook = await start_webhook(dataclasses.replace(config, listen=listen), serving_cert)
    try:
        yield hook
    finally:
        await stop_webhook(hook)


async def _closed(reader: asyncio.StreamReader, within: float) -> bool:
    try:
        async with asyncio.timeout(within):
            return await reader.read(1) == b""
    except (TimeoutError, ConnectionError):
        return False


async def test_half_open_slow_and_idle_connections_are_closed(
    small_webhook: Webhook, serving_cert: ServingCert
) -> None:
    port = small_webhook.server.port
    # Half-open: TCP only, never a ClientHello.
    raw_reader, raw_writer = await asyncio.open_connection("127.0.0.1", port)
    # Slow headers: TLS done, half a request line, then nothing.
    slow_reader, slow_writer = await asyncio.open_connection(
        "127.0.0.1", port, ssl=client_context(serving_cert), server_hostname="127.0.0.1"
    )
    slow_writer.write(b"POST /validate HTTP/1.1\r\nHost: x\r\n")
    assert await _closed(raw_reader, 3.0)
    assert await _closed(slow_reader, 3.0)
    for writer in (raw_writer, slow_writer):
        writer.close()
    refused = small_webhook.metrics.connections_refused
    assert refused.labels("handshake")._value.get() >= 1
    assert refused.labels("header-timeout")._value.get() >= 1


async def test_connections_past_the_cap_are_reset_and_service_resumes(
    small_webhook: Webhook,
) -> None:
    port = small_webhook.server.port
    held = [await asyncio.open_connection("127.0.0.1", port) for _ in range(30)]
    await asyncio.sleep(0.1)
    assert small_webhook.metrics.connections_refused.labels("connection-cap")._value.get() >= 10
    for _, writer in held:
        writer.close()
    await asyncio.sleep(0.7)  # handshake timeout ends the held ones
    response = await small_webhook.review("/validate", review_for(gpu_pod("ok", ACME_NS)))
    assert response["allowed"] is True


async def test_an_alias_bomb_in_an_embedded_config_is_denied_promptly(webhook: Webhook) -> None:
    # 600 bytes of nested YAML aliases in a RayService's serveConfigV2 stood for 9**12 nodes,
    # and reading them held the event loop every tenant's admission shares (red team, session
    # 12). Now the config is read through the bounded loader, off the loop, and what it
    # cannot read is an unidentified model: denied for a tenant restricted from any model.
    lines = ["a0: &a0 [{model_loading_config: {model_id: x}}]"]
    lines += [f"a{i}: &a{i} [" + ",".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, 12)]
    service = {
        "apiVersion": "ray.io/v1",
        "kind": "RayService",
        "metadata": {"name": "bomb", "namespace": NIMBUS_NS},
        "spec": {"serveConfigV2": "\n".join(lines)},
    }
    async with asyncio.timeout(10):
        response = await webhook.review("/validate", review_for(service))
    assert response["allowed"] is False
    assert response["status"]["code"] == 403
    assert "could not be read" in response["status"]["message"]
