"""Bodies that are not a usable AdmissionReview get HTTP 400 with a reason, never an allow."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from exportgate_webhook.review import denied, encode, parse_review

from tests.cluster.certs import ServingCert
from tests.webhook.conftest import Webhook, client_context
from tests.webhook.helpers import gpu_pod, review_for


def _with(request_changes: dict[str, Any], **envelope: Any) -> bytes:
    body = review_for(gpu_pod())
    body["request"].update(request_changes)
    body.update(envelope)
    return json.dumps({k: v for k, v in body.items() if v is not ...}).encode()


def _without(key: str) -> bytes:
    body = review_for(gpu_pod())
    del body["request"][key]
    return json.dumps(body).encode()


CASES = [
    pytest.param(b"", "body is not valid JSON", id="empty"),
    pytest.param(b"{not json", "body is not valid JSON", id="not-json"),
    pytest.param(b"\xff\xfe\x00", "body is not valid JSON", id="not-utf8"),
    pytest.param(b"[1, 2]", "body must be an object, got a list", id="json-list"),
    pytest.param(b"[" * 100_000 + b"]" * 100_000, "MAX_DEPTH", id="deeply-nested"),
    pytest.param(
        _with({}, apiVersion="admission.k8s.io/v1beta1"),
        "apiVersion must be 'admission.k8s.io/v1', got 'admission.k8s.io/v1beta1'",
        id="v1beta1",
    ),
    pytest.param(_with({}, apiVersion=...), "apiVersion must be", id="no-apiVersion"),
    pytest.param(_with({}, kind="Pod"), "kind must be 'AdmissionReview'", id="wrong-kind"),
    pytest.param(_with({}, request=None), "request is missing", id="null-request"),
    pytest.param(_with({"uid": ""}), "request.uid is missing or empty", id="empty-uid"),
    pytest.param(_without("uid"), "request.uid is missing", id="no-uid"),
    pytest.param(_with({"operation": "PATCH"}), "request.operation must be one of", id="bad-op"),
    pytest.param(_without("kind"), "request.kind must be an object", id="no-kind"),
    pytest.param(
        _with({"kind": {"group": "", "version": "v1"}}), "request.kind.kind", id="no-kind-kind"
    ),
    pytest.param(_without("userInfo"), "request.userInfo must be an object", id="no-userInfo"),
    pytest.param(
        _with({"userInfo": {"username": "a", "groups": "admins"}}),
        "request.userInfo.groups must be a list of strings, got a string",
        id="groups-not-list",
    ),
    pytest.param(
        _with({"object": "pod"}), "request.object must be an object or null", id="obj-str"
    ),
    pytest.param(_with({"object": None}), "request.object is missing for a CREATE", id="no-object"),
    pytest.param(
        _with({"operation": "UPDATE", "oldObject": None}),
        "request.oldObject is missing for an UPDATE",
        id="update-without-old",
    ),
    pytest.param(_with({"dryRun": "yes"}), "request.dryRun must be a boolean", id="dryrun-str"),
    pytest.param(_with({"namespace": 7}), "request.namespace must be a string", id="ns-number"),
]


@pytest.mark.parametrize("path", ["/validate", "/mutate"])
@pytest.mark.parametrize(("body", "reason"), CASES)
async def test_malformed_is_400_with_reason(
    webhook: Webhook, path: str, body: bytes, reason: str
) -> None:
    status, answer = await webhook.post(path, body)
    assert status == 400
    assert answer["kind"] == "Status" and answer["code"] == 400
    assert answer["reason"] == "BadRequest"
    assert answer["message"].startswith("malformed AdmissionReview: ")
    assert reason in answer["message"]
    assert "response" not in answer  # in particular, never an allowed: true


async def test_oversized_body_is_400_without_reading_it(webhook: Webhook) -> None:
    pod = gpu_pod()
    pod["metadata"]["annotations"] = {"padding": "x" * (300 * 1024)}  # limit is 256 KiB here
    status, answer = await webhook.post("/validate", json.dumps(review_for(pod)).encode())
    assert status == 400
    assert "exceeds the limit of 262144 bytes" in answer["message"]


async def test_oversized_chunked_body_is_400(webhook: Webhook) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"apiVersion": "admission.k8s.io/v1", "padding": "'
        for _ in range(64):
            yield b"y" * 8192
        yield b'"}'

    async with webhook.http.post(webhook.base + "/validate", data=chunks()) as response:
        assert response.status == 400
        assert "exceeds the limit" in (await response.json())["message"]


async def test_server_survives_garbage_and_keeps_answering(
    webhook: Webhook, serving_cert: ServingCert
) -> None:
    for case in CASES:
        body = case.values[0]
        assert isinstance(body, bytes)
        assert (await webhook.post("/validate", body))[0] == 400
    # Garbage that is not even HTTP.
    context = client_context(serving_cert)
    reader, writer = await asyncio.open_connection("127.0.0.1", webhook.server.port, ssl=context)
    writer.write(b"\x00\x01garbage\r\n\r\n")
    await writer.drain()
    await reader.read(1024)
    writer.close()
    response = await webhook.review("/validate", review_for(gpu_pod()))
    assert response["allowed"] is False  # the nimbus H100 is still decided, and refused
    exposition = webhook.metrics.exposition().decode()
    assert 'exportgate_webhook_malformed_requests_total{endpoint="validate"}' in exposition


async def test_wrong_method_and_path(webhook: Webhook) -> None:
    async with webhook.http.get(webhook.base + "/validate") as response:
        assert response.status == 405
    async with webhook.http.post(webhook.base + "/nowhere", data=b"{}") as response:
        assert response.status == 404


@pytest.mark.parametrize(
    "body",
    [
        # What the fast decoder refuses and the stdlib accepts is still read, as before.
        b'{"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "big": '
        b"123456789012345678901234567890, "
        b'"request": {"uid": "u", "kind": {"group": "", "version": "v1", "kind": "ConfigMap"}, '
        b'"resource": {"group": "", "version": "v1", "resource": "configmaps"}, '
        b'"operation": "DELETE", "userInfo": {"username": "a"}}}',
        '{"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", '
        '"request": {"uid": "u", "kind": {"group": "", "version": "v1", "kind": "ConfigMap"}, '
        '"resource": {"group": "", "version": "v1", "resource": "configmaps"}, '
        '"operation": "DELETE", "userInfo": {"username": "a"}}}'.encode("utf-16"),
    ],
)
def test_bodies_the_stdlib_reads_are_read(body: bytes) -> None:
    request = parse_review(body)
    assert request["uid"] == "u"


def test_an_answer_with_a_lone_surrogate_is_still_encoded() -> None:
    body = encode(denied("u", "refused \udc80 name"))
    assert json.loads(body)["response"]["status"]["message"] == "refused \udc80 name"
