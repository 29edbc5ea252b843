"""Which DRA references the webhook reads from the API server."""

from __future__ import annotations

from exportgate_webhook.dra import unread_references

from exportgate.core.types import AcceleratorRequest, ObjectRef, Workload


def _workload(*resources: str) -> Workload:
    return Workload(
        ref=ObjectRef("v1", "Pod", "p", "t"),
        accelerators=tuple(AcceleratorRequest(r, 1, (), "spec") for r in resources),
    )


def test_only_unread_references_with_object_names_are_fetched() -> None:
    workload = _workload(
        "nvidia.com/gpu",
        "ResourceClaimTemplate gpu-template",
        "ResourceClaimTemplate gpu-template",  # asked once
        "DeviceClass big-gpus",
        "ResourceClaim shared",
        "ResourceClaim (inline)",
        "exportgate.dev/device-access",
    )
    assert unread_references(workload) == [
        ("ResourceClaimTemplate", "gpu-template"),
        ("DeviceClass", "big-gpus"),
        ("ResourceClaim", "shared"),
    ]
