"""Writes to pods/status: refused only when they change an annotation exportgate reads, never
evaluated as the Pod's admission (the kubelet writes status constantly, violators included).

The chart sends only the writes that change such an annotation (tests/charts/test_admission.py
reproduces the finding through the real API server); these tests cover the webhook's rule for
whatever reaches it.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from tests.webhook.conftest import Webhook
from tests.webhook.helpers import NIMBUS_NS, PLATFORM_USER, gpu_pod, plain_pod, review_for

KUBELET = "system:node:gpu-node-1"
KUBELET_GROUPS = ("system:nodes", "system:authenticated")
VIOLATION = "exportgate.dev/violation"


def status_write(
    old: dict[str, Any],
    annotations: dict[str, str | None] | None = None,
    *,
    user: str = KUBELET,
    groups: tuple[str, ...] = KUBELET_GROUPS,
) -> dict[str, Any]:
    """A pods/status UPDATE of `old`: new conditions, and `annotations` merged (None removes)."""
    new = copy.deepcopy(old)
    new["status"] = {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}
    merged = dict(new["metadata"].get("annotations") or {})
    for key, value in (annotations or {}).items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = value
    new["metadata"]["annotations"] = merged
    review = review_for(new, operation="UPDATE", old=old, user=user, groups=groups)
    review["request"]["subResource"] = "status"
    return review


def violator() -> dict[str, Any]:
    """A restricted tenant's H100 pod, admitted before exportgate and marked by the operator."""
    return gpu_pod("old-h100", NIMBUS_NS, annotations={VIOLATION: "us-ear decision=d-1"})


async def test_a_status_write_of_a_violator_is_admitted_without_a_decision(
    webhook: Webhook,
) -> None:
    before = len(webhook.logged())
    response = await webhook.review("/validate", status_write(violator()))
    assert response["allowed"] is True
    assert len(webhook.logged()) == before  # the policy service was never asked


async def test_an_annotation_exportgate_does_not_read_may_change(webhook: Webhook) -> None:
    review = status_write(violator(), {"team": "ml"}, user="alice@nimbus.example", groups=())
    assert (await webhook.review("/validate", review))["allowed"] is True


@pytest.mark.parametrize(
    ("old", "change", "key"),
    [
        (plain_pod(), {"gpu-fraction": "0.5"}, "gpu-fraction"),
        (plain_pod(), {"cdi.k8s.io/gpu": "nvidia.com/gpu=all"}, "cdi.k8s.io/gpu"),
        (plain_pod(), {"exportgate.dev/decision-id": "forged"}, "exportgate.dev/decision-id"),
        (violator(), {VIOLATION: None}, VIOLATION),
        (violator(), {VIOLATION: "none"}, VIOLATION),
    ],
    ids=["gpu-share", "cdi-device", "forged-stamp", "violation-removed", "violation-altered"],
)
async def test_a_status_write_may_not_change_an_annotation_exportgate_reads(
    webhook: Webhook, old: dict[str, Any], change: dict[str, str | None], key: str
) -> None:
    """Even by the kubelet's identity, and with the mutating phase on (it never sees these)."""
    response = await webhook.review("/validate", status_write(old, change))
    assert response["allowed"] is False
    assert key in response["status"]["message"]
    assert "status" in response["status"]["message"]


async def test_removing_a_device_annotation_through_status_is_refused(webhook: Webhook) -> None:
    """It would hide the device from the operator's re-audit and compute accounting."""
    shared = plain_pod()
    shared["metadata"]["annotations"] = {"gpu-fraction": "0.5"}
    response = await webhook.review("/validate", status_write(shared, {"gpu-fraction": None}))
    assert response["allowed"] is False


async def test_platform_identities_may_change_them(webhook: Webhook) -> None:
    review = status_write(plain_pod(), {"gpu-fraction": "0.5"}, user=PLATFORM_USER, groups=())
    assert (await webhook.review("/validate", review))["allowed"] is True


async def test_mutate_leaves_a_status_write_alone(webhook: Webhook) -> None:
    response = await webhook.review("/mutate", status_write(violator()))
    assert response["allowed"] is True
    assert "patch" not in response
