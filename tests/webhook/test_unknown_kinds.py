"""Kinds no adapter names, as the catch-all webhook (chart value webhook.catchAll) sends them.

The chart may send every namespaced kind of a tenant namespace. The webhook reads one no adapter
names with the generic fallback (exportgate/core/extract/generic.py), bounded; an object in which
it finds nothing is admitted at once, without asking the policy service, so nothing is logged
(the decision log holds decisions, and there was none to make): a catch-all cannot flood it.
Red team: a CRD (AIBrix ModelClaim, before its adapter) that makes a running pod load a model or
attach hardware was never sent; `Widget` stands for such a kind here.
"""

from __future__ import annotations

from typing import Any

from exportgate.core.extract.generic import MAX_NODES
from tests.webhook.conftest import Webhook
from tests.webhook.helpers import NIMBUS_NS, decode_patch, review_for


def widget(name: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "example.com/v1",
        "kind": "Widget",
        "metadata": {"name": name, "namespace": NIMBUS_NS},
        "spec": spec,
    }


def worker(resources: dict[str, Any]) -> dict[str, Any]:
    # The red team's shape: a container-shaped mapping, not a pod template.
    return {"worker": {"image": "vllm/vllm-openai", "resources": {"limits": resources}}}


async def test_an_unknown_kind_with_a_gpu_worker_is_read_and_denied(webhook: Webhook) -> None:
    response = await webhook.review("/validate", review_for(widget("w", worker({
        "nvidia.com/gpu": 8}))))  # fmt: skip
    assert response["allowed"] is False
    message = response["status"]["message"]
    assert message.startswith(f'exportgate denied Widget "{NIMBUS_NS}/w" for tenant "nimbus"')
    record = webhook.logged_decision(response["auditAnnotations"]["decision-id"])
    assert record["object"]["kind"] == "Widget"
    assert any("spec.worker" in a["source"] for a in record["accelerators"]), record


async def test_an_unknown_kind_holding_nothing_runnable_is_admitted_without_a_record(
    webhook: Webhook,
) -> None:
    before = len(webhook.logged())
    for obj in (
        widget("cpu", worker({"cpu": "2", "memory": "4Gi"})),  # a CPU worker
        widget("cfg", {"replicas": 3, "rules": [{"host": "a.example", "paths": ["/"]}] * 50}),
    ):
        response = await webhook.review("/validate", review_for(obj))
        assert response == {"uid": response["uid"], "allowed": True}  # no warnings, no audit
        assert decode_patch(await webhook.review("/mutate", review_for(obj))) == []
    assert len(webhook.logged()) == before  # the policy service was not asked
    status, text = await webhook.get("/metrics")
    assert status == 200
    reviews = 'decision="unguarded",endpoint="validate",kind="Widget",operation="CREATE"} 2.0'
    assert f"exportgate_webhook_requests_total{{{reviews}" in text


async def test_an_unknown_kind_too_large_to_search_is_an_unknown_accelerator(
    webhook: Webhook,
) -> None:
    """The search is bounded (MAX_NODES values): past it, the object is not admitted as
    harmless but judged as an unknown accelerator, which a restricted tenant may not use."""
    items = [{"k": [i]} for i in range(MAX_NODES // 2 + 1)]  # two values each
    response = await webhook.review("/validate", review_for(widget("huge", {"items": items})))
    assert response["allowed"] is False
    record = webhook.logged_decision(response["auditAnnotations"]["decision-id"])
    assert [a["resource"] for a in record["accelerators"]] == ["unsearchable object"]
