"""Objects for the compute-accounting tests: GPU nodes, owners, Pods with kubelet-style status.

The test API server runs no scheduler, kubelet or controllers, so the tests do their jobs:
Pods are created already bound (`spec.nodeName`), and their status is written through the
status subresource exactly as a kubelet would report a running, then finished Pod.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from exportgate_operator.kinds import Resource
from exportgate_operator.kube import Kube

from exportgate.core.catalogue import builtin_catalogue
from exportgate.core.compute import peak_ops_per_second
from tests.core.builders import export_policy
from tests.operator.builders import SUITE_LABEL

NODES = {
    # node label values as GPU Feature Discovery writes them
    "h100": "NVIDIA-H100-80GB-HBM3",
    "a100": "NVIDIA-A100-SXM4-80GB",
    "t4": "Tesla-T4",
}
PYTORCHJOBS = Resource("kubeflow.org", "v1", "pytorchjobs", "PyTorchJob")
JOBS = Resource("batch", "v1", "jobs", "Job")
PODS = Resource("", "v1", "pods", "Pod")


def stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def node(name: str, product_label: str | None) -> dict[str, Any]:
    labels = dict(SUITE_LABEL)
    if product_label:
        labels["nvidia.com/gpu.product"] = product_label
    return {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name, "labels": labels}}


def job(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name},
        "spec": {
            "suspend": True,  # nothing runs it anyway; says so
            "template": {
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [{"name": "train", "image": "registry.example/train:1"}],
                }
            },
        },
    }


def pytorchjob(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "kubeflow.org/v1",
        "kind": "PyTorchJob",
        "metadata": {"name": name},
        "spec": {"pytorchReplicaSpecs": {}},
    }


def owner_ref(obj: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": obj["apiVersion"],
        "kind": obj["kind"],
        "name": obj["metadata"]["name"],
        "uid": obj["metadata"]["uid"],
        "controller": True,
    }


def bound_pod(
    name: str, node_name: str, gpus: int, owner: dict[str, Any] | None = None
) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name}
    if owner is not None:
        meta["ownerReferences"] = [owner_ref(owner)]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": meta,
        "spec": {
            "nodeName": node_name,
            "restartPolicy": "Never",
            "containers": [
                {
                    "name": "train",
                    "image": "registry.example/train:1",
                    "resources": {"limits": {"nvidia.com/gpu": str(gpus)}},
                }
            ],
        },
    }


def _status(
    phase: str, since: datetime, *, ready: bool, changed: datetime, state: dict[str, Any]
) -> dict[str, Any]:
    """A Pod status as the kubelet writes it, for the one container of `bound_pod`."""
    return {
        "phase": phase,
        "startTime": stamp(since),
        "conditions": [
            {"type": "Ready", "status": str(ready), "lastTransitionTime": stamp(changed)}
        ],
        "containerStatuses": [
            {
                "name": "train",
                "ready": ready,
                "restartCount": 0,
                "image": "registry.example/train:1",
                "imageID": "",
                "state": state,
            }
        ],
    }


def running_status(since: datetime) -> dict[str, Any]:
    state = {"running": {"startedAt": stamp(since)}}
    return _status("Running", since, ready=True, changed=since, state=state)


def finished_status(since: datetime, until: datetime, phase: str = "Succeeded") -> dict[str, Any]:
    terminated = {
        "exitCode": 0 if phase == "Succeeded" else 1,
        "reason": "Completed" if phase == "Succeeded" else "Error",
        "startedAt": stamp(since),
        "finishedAt": stamp(until),
    }
    return _status(phase, since, ready=False, changed=until, state={"terminated": terminated})


def create(kube: Kube, resource: Resource, namespace: str, body: dict[str, Any]) -> dict[str, Any]:
    return kube.request("POST", resource.path(namespace), body=body)


def set_status(kube: Kube, namespace: str, name: str, status: dict[str, Any]) -> None:
    """Write a Pod's status the way the kubelet does (the status subresource)."""
    kube.merge_patch(PODS, name, {"status": status}, namespace=namespace, sub="status")


T0 = datetime(2026, 11, 2, 0, 0, tzinfo=UTC)  # in the past: the loop test runs on the wall clock
# Peak operations per second of one accelerator, the unit the tiers' figures are written in.
H100 = peak_ops_per_second(builtin_catalogue(), "nvidia-h100-sxm")
A100 = peak_ops_per_second(builtin_catalogue(), "nvidia-a100")


def at(seconds: int) -> datetime:
    return T0 + timedelta(seconds=seconds)


class Clock:
    """The accountant's clock, set by the test."""

    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


def compute_thresholds(
    version: str, tier: str, metric: str, threshold: float, *, minimum_hours: float
) -> dict[str, Any]:
    """An ExportPolicy replacing the built-in compute pack with one demo-sized report tier."""
    compute = {
        "appliesTo": {"foreignPersonsOutside": ["US"], "always": ["D:5", "MO"]},
        "tiers": [
            {"id": tier, "level": "report", "metric": metric, "threshold": threshold,
             "citation": "test", "effective": "2026-01-01", "housePolicy": True}
        ],
        "usage": {"baselineDays": 7, "jumpFactor": 3, "minimumHours": minimum_hours},
    }  # fmt: skip
    return export_policy("compute-thresholds", version=version, compute=compute)
