"""Writes to pods/status, and Bindings: refused only when they change (a Binding: carry) an
annotation exportgate reads, never evaluated as the Pod's admission (the kubelet writes status
constantly, violators included; kube-scheduler binds every pod).

The chart sends only the writes that change such an annotation (tests/charts/test_admission.py
and test_install.py reproduce the findings through the real API server); these tests cover the
webhook's rule for whatever reaches it.
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


# Red team 13b, H4: the API server merges a Binding's annotations into its Pod
# (BindingREST.setPodHostAndAnnotations), through pods/binding and the legacy bindings resource.
SCHEDULER = "system:kube-scheduler"
SCHEDULER_GROUPS = ("system:authenticated",)
RED_TEAM_BINDING = {
    "cdi.k8s.io/x": "nvidia.com/gpu=all",
    "io.katacontainers.config.hypervisor.machine_type": "p5.48xlarge",
    "gpu-fraction": "1",
    "exportgate.dev/decision-id": "forged",
}


def binding(
    annotations: dict[str, str] | None = None,
    *,
    legacy: bool = False,
    user: str = SCHEDULER,
    groups: tuple[str, ...] = SCHEDULER_GROUPS,
) -> dict[str, Any]:
    """A Binding of pod nimbus-ml/train to a node, as pods/binding (or `legacy`: bindings)."""
    metadata: dict[str, Any] = {"name": "train", "namespace": NIMBUS_NS, "uid": "pod-uid"}
    if annotations is not None:
        metadata["annotations"] = annotations
    obj = {
        "apiVersion": "v1",
        "kind": "Binding",
        "metadata": metadata,
        "target": {"kind": "Node", "name": "gpu-node-1"},
    }
    review = review_for(obj, operation="CREATE", user=user, groups=groups)
    if not legacy:
        review["request"]["resource"]["resource"] = "pods"
        review["request"]["subResource"] = "binding"
    assert review["request"]["resource"]["resource"] == ("bindings" if legacy else "pods")
    return review


@pytest.mark.parametrize("legacy", [False, True], ids=["pods-binding", "bindings"])
async def test_kube_schedulers_binding_is_admitted_without_a_decision(
    webhook: Webhook, legacy: bool
) -> None:
    """DefaultBinder.Bind sends name, namespace, uid and target only (the chart never sends it;
    a manual registration without the match condition must not refuse it either)."""
    before = len(webhook.logged())
    response = await webhook.review("/validate", binding(legacy=legacy))
    assert response["allowed"] is True
    assert len(webhook.logged()) == before  # the policy service was never asked


@pytest.mark.parametrize("legacy", [False, True], ids=["pods-binding", "bindings"])
@pytest.mark.parametrize(
    "annotations",
    [
        RED_TEAM_BINDING,
        {"cdi.k8s.io/x": "nvidia.com/gpu=all"},
        {"gpu-fraction": "1"},
        {"nvidia.com/container.main.gpu-memory.request": "2000"},
        {"io.katacontainers.config.hypervisor.machine_type": "p5.48xlarge"},
        {"exportgate.dev/decision-id": "forged"},
        {"exportgate.dev/violation": "none"},
    ],
    ids=["red-team", "cdi", "gpu-fraction", "per-container", "kata", "stamp", "violation"],
)
@pytest.mark.parametrize("user", [SCHEDULER, "alice@nimbus.example"])
async def test_a_binding_may_not_carry_an_annotation_exportgate_reads(
    webhook: Webhook, legacy: bool, annotations: dict[str, str], user: str
) -> None:
    """Whoever binds (a custom scheduler too, unless it is a platform identity)."""
    before = len(webhook.logged())
    review = binding({**annotations, "team": "ml"}, legacy=legacy, user=user, groups=())
    response = await webhook.review("/validate", review)
    assert response["allowed"] is False
    message = response["status"]["message"]
    assert f"Binding of pod {NIMBUS_NS}/train" in message
    listed = message.split("carries the annotations ", 1)[1].split(", which", 1)[0]
    assert listed.split(", ") == sorted(annotations)  # "team" is no concern of exportgate's
    assert len(webhook.logged()) == before


async def test_a_binding_with_unrelated_annotations_is_admitted(webhook: Webhook) -> None:
    review = binding({"team": "ml", "example.com/gpu-fraction": "1"})
    assert (await webhook.review("/validate", review))["allowed"] is True


async def test_platform_identities_may_bind_with_them(webhook: Webhook) -> None:
    review = binding(RED_TEAM_BINDING, user=PLATFORM_USER, groups=())
    assert (await webhook.review("/validate", review))["allowed"] is True


async def test_mutate_leaves_a_binding_alone(webhook: Webhook) -> None:
    response = await webhook.review("/mutate", binding(RED_TEAM_BINDING))
    assert response["allowed"] is True
    assert "patch" not in response
