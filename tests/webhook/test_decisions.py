"""Each decision kind over real HTTPS, decided by the real sidecar over its Unix socket."""

from __future__ import annotations

import asyncio
import ssl
import warnings

import aiohttp
import pytest
from exportgate_sidecar import SidecarServer

from tests.cluster.certs import ServingCert
from tests.webhook.conftest import (
    Webhook,
    client_context,
    start_webhook,
    stop_webhook,
    webhook_config,
)
from tests.webhook.helpers import (
    ACME_NS,
    ORBIT_NS,
    UNBOUND_NS,
    decode_patch,
    gpu_pod,
    plain_pod,
    review_for,
)


async def test_deny_message_tells_the_tenant_what_why_and_how_to_fix(webhook: Webhook) -> None:
    body = review_for(gpu_pod("train"))
    response = await webhook.review("/validate", body)

    assert response["allowed"] is False
    status = response["status"]
    assert (status["code"], status["reason"]) == (403, "Forbidden")
    message = status["message"]
    lines = message.splitlines()
    # What was refused, and for which tenant.
    assert lines[0].startswith('exportgate denied Pod "nimbus-ml/train" for tenant "nimbus"')
    # What the object asked for, and where.
    assert "Requested: nvidia.com/gpu x1 at spec.containers[0].resources.limits" in message
    assert "nvidia-h100-sxm" in message
    # The rule and its citation.
    assert "Rule ear-3a090-d5-macau (15 CFR 744.23" in message
    # How to fix it.
    assert any(line.startswith("Fix: Use an uncontrolled accelerator") for line in lines)
    # The decision id to quote, which is the id of the logged decision.
    decision_id = response["auditAnnotations"]["decision-id"]
    assert f"Decision id: {decision_id}" in lines[-1]
    assert response["auditAnnotations"]["decision"] == "deny"
    assert response["auditAnnotations"]["rule"] == "ear-3a090-d5-macau"


async def test_deny_is_logged_before_it_is_answered(webhook: Webhook) -> None:
    body = review_for(gpu_pod("logged"))
    response = await webhook.review("/validate", body)
    record = webhook.logged_decision(response["auditAnnotations"]["decision-id"])
    assert record["action"] == "deny"
    assert record["requestUid"] == body["request"]["uid"]
    assert record["object"]["name"] == "logged"
    assert record["user"] == body["request"]["userInfo"]["username"]


async def test_unverified_tenant_is_told_to_renew_verification(webhook: Webhook) -> None:
    response = await webhook.review("/validate", review_for(gpu_pod("ft", ORBIT_NS, product=None)))
    assert response["allowed"] is False
    message = response["status"]["message"]
    assert 'for tenant "orbit"' in message
    assert "kyc-unverified-accelerator" in message
    assert "renew your verification" in message


async def test_warn_is_admitted_with_warnings_and_audit(webhook: Webhook) -> None:
    body = review_for(gpu_pod("l4", ACME_NS, product="NVIDIA-L4"))
    response = await webhook.review("/validate", body)
    assert response["allowed"] is True
    assert "status" not in response
    warnings = response["warnings"]
    assert warnings[0].startswith('exportgate: admitted with a warning: Pod "acme-ml/l4"')
    assert any("Rule l4-review-sg (Internal rollout note WH-1" in w for w in warnings)
    assert any(w.startswith("exportgate: Fix: Nothing to do now") for w in warnings)
    assert all(len(w) <= 256 and "\n" not in w for w in warnings)
    audit = response["auditAnnotations"]
    assert audit["decision"] == "warn"
    assert audit["rule"] == "l4-review-sg"
    assert audit["tenant"] == "acme"
    assert audit["decision-id"] in warnings[-1]


async def test_dryrun_is_admitted_silently_with_audit_annotations(webhook: Webhook) -> None:
    body = review_for(gpu_pod("l40s", ACME_NS, product="NVIDIA-L40S"))
    response = await webhook.review("/validate", body)
    assert response["allowed"] is True
    assert "warnings" not in response  # dryrun must not bother the tenant
    audit = response["auditAnnotations"]
    assert audit["decision"] == "dryrun"
    assert audit["rule"] == "l40s-observe-sg"
    assert audit["decision-id"]


async def test_allow_for_a_permitted_tenant(webhook: Webhook) -> None:
    response = await webhook.review("/validate", review_for(gpu_pod("h100", ACME_NS)))
    assert response["allowed"] is True
    assert response["auditAnnotations"]["decision"] == "allow"
    assert "warnings" not in response


async def test_unbound_namespace_is_told_how_to_get_bound(webhook: Webhook) -> None:
    response = await webhook.review("/validate", review_for(gpu_pod("x", UNBOUND_NS)))
    assert response["allowed"] is False
    message = response["status"]["message"]
    assert "unbound namespace" in message
    assert "Decision id:" in message


async def test_object_without_gpu_or_model_is_admitted_without_asking(webhook: Webhook) -> None:
    before = len(webhook.logged())
    response = await webhook.review("/validate", review_for(plain_pod()))
    assert response == {"uid": response["uid"], "allowed": True}
    mutated = await webhook.review("/mutate", review_for(plain_pod()))
    assert decode_patch(mutated) == []
    assert len(webhook.logged()) == before  # the sidecar logged nothing: it was not asked
    exposition = webhook.metrics.exposition().decode()
    assert 'decision="unguarded"' in exposition


async def test_delete_is_admitted(webhook: Webhook) -> None:
    body = review_for(None, operation="DELETE", old=gpu_pod("gone"))
    response = await webhook.review("/validate", body)
    assert response["allowed"] is True


async def test_uid_is_echoed_verbatim(webhook: Webhook) -> None:
    body = review_for(plain_pod(), uid="0f1e2d3c-weird-uid-ÄÖ")
    response = await webhook.review("/validate", body)
    assert response["uid"] == "0f1e2d3c-weird-uid-ÄÖ"


async def test_serves_tls_1_2_and_1_3_and_refuses_older(
    webhook: Webhook, serving_cert: ServingCert
) -> None:
    for version in (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3):
        context = client_context(serving_cert)
        context.minimum_version = context.maximum_version = version
        connector = aiohttp.TCPConnector(ssl=context)
        async with (
            aiohttp.ClientSession(connector=connector) as http,
            http.get(webhook.base + "/healthz") as answer,
        ):
            assert answer.status == 200
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    try:
        with warnings.catch_warnings():  # deprecated on purpose: it is what must be refused
            warnings.simplefilter("ignore", DeprecationWarning)
            context.minimum_version = ssl.TLSVersion.TLSv1
            context.maximum_version = ssl.TLSVersion.TLSv1_1
    except ValueError:
        pytest.skip("this OpenSSL cannot speak TLS 1.0/1.1 at all")
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=context)) as http:
        with pytest.raises(aiohttp.ClientError):
            async with http.get(webhook.base + "/healthz"):
                pass


async def test_model_denial_names_the_model_and_provider(webhook: Webhook) -> None:
    endpoint = {
        "apiVersion": "exportgate.dev/v1alpha1",
        "kind": "ModelEndpoint",
        "metadata": {"name": "assistant", "namespace": "nimbus-ml"},
        "spec": {"provider": "anthropic", "model": "claude-sonnet-4-5"},
    }
    response = await webhook.review("/validate", review_for(endpoint))
    assert response["allowed"] is False
    message = response["status"]["message"]
    assert message.startswith('exportgate denied ModelEndpoint "nimbus-ml/assistant"')
    assert "Requested: model claude-sonnet-4-5" in message
    assert "from anthropic at spec.model" in message
    # A CN parent is Anthropic's ownership rule, dated 2025-09-05 (regulation-2026.md s7).
    assert "Rule anthropic-ownership (Anthropic, Updating restrictions of sales" in message
    assert "Fix: Choose a model whose vendor serves your ownership structure" in message


async def test_concurrent_reviews_each_get_their_own_answer(webhook: Webhook) -> None:
    bodies = [review_for(gpu_pod(f"p{i}", ACME_NS if i % 2 else "nimbus-ml")) for i in range(40)]
    responses = await asyncio.gather(*(webhook.review("/validate", b) for b in bodies))
    for i, (body, response) in enumerate(zip(bodies, responses, strict=True)):
        assert response["uid"] == body["request"]["uid"]
        assert response["allowed"] is bool(i % 2)
    ids = {r["auditAnnotations"]["decision-id"] for r in responses}
    assert len(ids) == 40


async def test_one_phase_by_default_traces_an_admitted_object_by_its_uid(
    sidecar: SidecarServer, serving_cert: ServingCert
) -> None:
    # The default configuration: no stamp, so /mutate admits unchanged without asking, and
    # /validate's one logged decision names the object's uid (the API server has assigned it
    # by then) and is named in the audit annotations.
    config = webhook_config(serving_cert, sidecar.unix_target, mutate=False)
    hook = await start_webhook(config, serving_cert, sidecar.config.decision_log)
    try:
        pod = gpu_pod("serve", ACME_NS)
        mutated = await hook.review("/mutate", review_for(pod))
        assert mutated["allowed"] is True and "patch" not in mutated
        assert hook.logged() == []
        pod["metadata"]["uid"] = "0b8c3c1e-uid-of-serve"
        response = await hook.review("/validate", review_for(pod))
        assert response["allowed"] is True
        audit = response["auditAnnotations"]
        assert (audit["decision"], audit["phase"]) == ("allow", "validating")
        record = hook.logged_decision(audit["decision-id"])
        assert record["extra"]["objectUid"] == "0b8c3c1e-uid-of-serve"
        assert record["policyVersion"] == audit["policy-version"]
        assert len(hook.logged()) == 1
    finally:
        await stop_webhook(hook)
