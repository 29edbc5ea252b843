"""Every extracted kind: what the built-in adapters find, and how the engine then decides it."""

from __future__ import annotations

import pytest

from exportgate.core.engine import PolicyEngine
from exportgate.core.extract import AdapterRegistry, extract_workload
from exportgate.core.types import Action, Workload
from tests.core.builders import NOW, make_tenant
from tests.core.extract.kinds import KINDS, Accelerator, Kind


def _accelerators(workload: Workload) -> list[Accelerator]:
    return [
        (a.resource, a.count, {h.key: h.values for h in a.hints}) for a in workload.accelerators
    ]


@pytest.mark.parametrize("kind", KINDS, ids=[k.id for k in KINDS])
def test_extraction(kind: Kind) -> None:
    workload = extract_workload(kind.object)
    assert sorted(_accelerators(workload), key=repr) == sorted(kind.accelerators, key=repr)
    assert [m.reference for m in workload.models] == list(kind.models)
    assert workload.tenant_label == kind.tenant_label
    assert all(a.source for a in workload.accelerators)  # every finding says where it was


@pytest.mark.parametrize("kind", KINDS, ids=[k.id for k in KINDS])
def test_every_kind_is_denied_for_a_d5_tenant_and_admitted_for_a_permitted_one(
    kind: Kind,
) -> None:
    """End to end: each kind carries a controlled accelerator or a restricted model."""
    engine = PolicyEngine.build()
    workload = extract_workload(kind.object)
    assert engine.evaluate(workload, make_tenant(incorporation="CN"), NOW).action is Action.DENY
    assert engine.evaluate(workload, make_tenant(incorporation="SG"), NOW).action is Action.ALLOW


def test_the_registry_covers_the_kinds_the_issue_names() -> None:
    kinds = {kind for _, kind in AdapterRegistry.builtin().kinds()}
    for name in (
        "Pod", "Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "CronJob",
        "ReplicationController", "NodePool", "InferenceService", "ModelEndpoint",
        "ResourceClaim", "ResourceClaimTemplate", "Nodegroup", "ContainerNodePool",
        "MachineDeployment", "LLMInferenceService", "NIMService", "Workspace", "PyTorchJob",
        "TrainJob", "RayCluster", "RayJob", "JobSet", "LeaderWorkerSet",
    ):
        assert name in kinds, name


@pytest.mark.parametrize(
    "manifest",
    [
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "t"}},
        {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}},
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "p", "namespace": "t"},
            # Pinned to a GPU node but asks for no GPU: the device plugin gives it none.
            "spec": {
                "nodeSelector": {"nvidia.com/gpu.product": "NVIDIA-H100-80GB-HBM3"},
                "containers": [{"name": "c", "image": "x"}],
            },
        },
        {
            "apiVersion": "karpenter.sh/v1",
            "kind": "NodePool",
            "metadata": {"name": "cpu"},
            "spec": {"template": {"spec": {"requirements": [
                {"key": "kubernetes.io/arch", "operator": "In", "values": ["amd64"]}
            ]}}},
        },
    ],
    ids=["configmap", "unknown-kind", "pod-without-gpu-request", "cpu-nodepool"],
)
def test_objects_that_ask_for_nothing_are_unguarded(manifest: dict[str, object]) -> None:
    assert not extract_workload(manifest).guarded


def test_a_version_the_adapter_does_not_list_is_not_matched() -> None:
    """The legacy Karpenter Provisioner is only described for v1alpha5."""
    registry = AdapterRegistry.builtin()
    assert registry.adapter_for("karpenter.sh/v1alpha5", "Provisioner") is not None
    assert registry.adapter_for("karpenter.sh/v1", "Provisioner") is None
