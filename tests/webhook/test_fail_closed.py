"""Fail closed on the unknown, through the real webhook (HTTPS) and the real sidecar.

Every object the core tables of tests/core/extract/test_fail_closed*.py show exportgate cannot
identify is sent as an AdmissionReview for tenant "nimbus" (restricted): the review must be
denied, and the decision the sidecar logged must name what was found where. Pins to uncontrolled
products must still be admitted, with a record.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from tests.core.extract.fail_closed import GPU, claim_of, container, pod_of, required
from tests.core.extract.test_fail_closed import ACCESS, NEGATIVE
from tests.core.extract.test_fail_closed_kinds import UNADAPTED
from tests.core.extract.test_fail_closed_names import SUSPECT_RESOURCES
from tests.core.extract.test_fail_closed_over_blocking import SMALL_PINS
from tests.webhook.conftest import Webhook
from tests.webhook.helpers import NIMBUS_NS, review_for


def _in_nimbus(obj: dict[str, Any]) -> dict[str, Any]:
    placed = copy.deepcopy(obj)
    placed["metadata"]["namespace"] = NIMBUS_NS
    placed["metadata"].pop("labels", None)
    return placed


def _negative(expression: dict[str, Any]) -> dict[str, Any]:
    return pod_of([container(resources={"limits": GPU})], affinity=required(expression))


DENIED = [
    *((f"negative-{cid}", _negative(expr)) for cid, expr in NEGATIVE),
    *((f"access-{cid}", obj) for cid, obj in ACCESS),
    *(
        (f"resource-{r}", pod_of([container(resources={"limits": {r: 1}})]))
        for r in SUSPECT_RESOURCES
    ),
    *((f"unadapted-{cid}", obj) for cid, obj in UNADAPTED),
    ("dra-unreadable-class", claim_of("big-gpus")),
    (
        "dra-pod-unreadable-template",
        pod_of(
            [container(resources={"claims": [{"name": "gpu"}]})],
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


ADMITTED = [(cid, obj) for cid, obj in SMALL_PINS]


@pytest.mark.parametrize("obj", [c[1] for c in ADMITTED], ids=[c[0] for c in ADMITTED])
async def test_pins_to_uncontrolled_products_are_admitted(
    webhook: Webhook, obj: dict[str, Any]
) -> None:
    response = await webhook.review("/validate", review_for(_in_nimbus(obj)))
    assert response["allowed"] is True, response
    assert response["auditAnnotations"]["decision"] == "allow"


async def test_an_ephemeral_container_added_to_a_running_pod_is_reviewed(webhook: Webhook) -> None:
    running = _in_nimbus(pod_of([container()]))
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
