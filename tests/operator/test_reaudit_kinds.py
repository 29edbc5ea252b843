"""Re-audit covers every guarded kind of the kind table, not a hand-written list (issue 13).

On the real API server, with minimal schemaless stand-in CRDs for KServe, Kubeflow and KubeRay
(and Karpenter's NodePool): when a tenant's verification expires, its InferenceService, PyTorchJob,
RayCluster and NodePool asking for H100s all become violators, with the KYC rule and a decision
in the log, without anybody touching them.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from exportgate_operator.publish import VIOLATION

from tests.cluster.stand_in_crds import (
    INFERENCESERVICE_CRD,
    NODEPOOL_CRD,
    PYTORCHJOB_CRD,
    RAYCLUSTER_CRD,
)
from tests.cluster.workloads import H100, kserve_llm
from tests.operator.builders import SUITE_LABEL, nodepool, tenant
from tests.operator.conftest import OperatorHandle, wait_for

pytestmark = pytest.mark.cluster


def _template() -> dict[str, Any]:
    return {
        "spec": {
            "nodeSelector": {"nvidia.com/gpu.product": H100},
            "containers": [
                {
                    "name": "c",
                    "image": "registry.example/x:1",
                    "resources": {"limits": {"nvidia.com/gpu": "8"}},
                }
            ],
        }
    }


def _objects() -> list[tuple[str, dict[str, Any]]]:
    return [
        ("inferenceservice", kserve_llm("llm", labels=SUITE_LABEL)),
        (
            "pytorchjob",
            {
                "apiVersion": "kubeflow.org/v1",
                "kind": "PyTorchJob",
                "metadata": {"name": "train", "labels": SUITE_LABEL},
                "spec": {
                    "pytorchReplicaSpecs": {"Worker": {"replicas": 2, "template": _template()}}
                },
            },
        ),
        (
            "raycluster",
            {
                "apiVersion": "ray.io/v1",
                "kind": "RayCluster",
                "metadata": {"name": "ray", "labels": SUITE_LABEL},
                "spec": {
                    "headGroupSpec": {
                        "template": {
                            "spec": {"containers": [{"name": "head", "image": "rayproject/ray:2"}]}
                        }
                    },
                    "workerGroupSpecs": [{"groupName": "gpu", "template": _template()}],
                },
            },
        ),
    ]


def _violation(operator: OperatorHandle, kind: str, name: str, ns: str | None) -> Any:
    found = operator.get(kind, name, ns) or {}
    return (found.get("metadata", {}).get("annotations") or {}).get(VIOLATION)


def test_every_guarded_kind_becomes_a_violator_when_verification_expires(
    operator: OperatorHandle,
) -> None:
    operator.cluster.install_crds(
        [INFERENCESERVICE_CRD, PYTORCHJOB_CRD, RAYCLUSTER_CRD, NODEPOOL_CRD]
    )
    name = f"kinds-{uuid.uuid4().hex[:6]}"
    ns = operator.tenant_namespace(name)
    for _, obj in _objects():
        operator.cluster.apply(obj, namespace=ns)
    pool = f"{name}-gpu"
    operator.cluster.apply(nodepool(pool, name))
    expires = (datetime.now(UTC) + timedelta(seconds=12)).strftime("%Y-%m-%dT%H:%M:%SZ")
    operator.cluster.apply(tenant(name, hq="DE", expires=expires))
    wait_for(
        lambda: operator.verification(name) == "Verified",
        what="tenant verified",
    )
    for kind, obj in _objects():  # verified: the H100s are allowed
        assert _violation(operator, kind, obj["metadata"]["name"], ns) is None
    assert _violation(operator, "nodepool", pool, None) is None
    wait_for(
        lambda: operator.verification(name) == "Expired",
        timeout=40,
        what="verification expired",
    )
    marked = {}
    for kind, obj in _objects():
        marked[kind] = wait_for(
            lambda k=kind, o=obj: _violation(operator, k, o["metadata"]["name"], ns),
            what=f"{kind} annotated",
        )
    marked["nodepool"] = wait_for(
        lambda: _violation(operator, "nodepool", pool, None), what="node pool annotated"
    )
    for kind, value in marked.items():
        assert value.startswith("kyc-unverified-accelerator decision="), (kind, value)
