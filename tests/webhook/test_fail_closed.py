"""Fail closed on the unknown, through the real webhook (HTTPS) and the real sidecar.

Every object the core tables of tests/core/extract/test_fail_closed.py show exportgate cannot
identify is sent as an AdmissionReview for tenant "nimbus" (restricted): the review must be
denied, and the decision the sidecar logged must name what was found where. Pins to uncontrolled
products must still be admitted, with a record.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from tests.core.extract import test_fail_closed as core
from tests.webhook.conftest import Webhook
from tests.webhook.helpers import NIMBUS_NS, review_for


def _in_nimbus(obj: dict[str, Any]) -> dict[str, Any]:
    placed = copy.deepcopy(obj)
    placed["metadata"]["namespace"] = NIMBUS_NS
    placed["metadata"].pop("labels", None)
    return placed


def _negative(expression: dict[str, Any]) -> dict[str, Any]:
    return core._pod([core._c(resources={"limits": core.GPU})], affinity=core._required(expression))


DENIED = [
    *((f"negative-{cid}", _negative(expr)) for cid, expr in core.NEGATIVE),
    *((f"access-{cid}", obj) for cid, obj in core.ACCESS),
    *(
        (f"resource-{r}", core._pod([core._c(resources={"limits": {r: 1}})]))
        for r in core.SUSPECT_RESOURCES
    ),
    *((f"unadapted-{cid}", obj) for cid, obj in core.UNADAPTED),
    ("dra-unreadable-class", core._claim_of("big-gpus")),
    (
        "dra-pod-unreadable-template",
        core._pod(
            [core._c(resources={"claims": [{"name": "gpu"}]})],
            resourceClaims=[{"name": "gpu", "resourceClaimTemplateName": "gpu-template"}],
        ),
    ),
]


@pytest.mark.parametrize("obj", [c[1] for c in DENIED], ids=[c[0] for c in DENIED])
async def test_what_cannot_be_identified_is_denied_with_a_record(
    webhook: Webhook, obj: dict[str, Any]
) -> None:
    body = review_for(_in_nimbus(obj))
    response = await webhook.review("/validate", body)
    assert response["allowed"] is False, response
    assert response["auditAnnotations"]["decision"] == "deny"
    record = webhook.logged_decision(response["auditAnnotations"]["decision-id"])
    assert record["tenant"] == "nimbus"
    assert record["requestUid"] == body["request"]["uid"]
    assert record["accelerators"], record


ADMITTED = [(cid, obj) for cid, obj in core.SMALL_PINS]


@pytest.mark.parametrize("obj", [c[1] for c in ADMITTED], ids=[c[0] for c in ADMITTED])
async def test_pins_to_uncontrolled_products_are_admitted(
    webhook: Webhook, obj: dict[str, Any]
) -> None:
    response = await webhook.review("/validate", review_for(_in_nimbus(obj)))
    assert response["allowed"] is True, response
    assert response["auditAnnotations"]["decision"] == "allow"


async def test_an_ephemeral_container_added_to_a_running_pod_is_reviewed(webhook: Webhook) -> None:
    running = _in_nimbus(core._pod([core._c()]))
    debugged = copy.deepcopy(running)
    debugged["spec"]["ephemeralContainers"] = [
        {
            "name": "debug",
            "image": "busybox",
            "env": [{"name": "NVIDIA_VISIBLE_DEVICES", "value": "all"}],
        }
    ]
    body = review_for(debugged, operation="UPDATE", old=running)
    body["request"]["subResource"] = "ephemeralcontainers"
    response = await webhook.review("/validate", body)
    assert response["allowed"] is False, response
