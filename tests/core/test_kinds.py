"""The kind table: derived from the adapter files, one entry per guarded kind."""

from __future__ import annotations

import pytest

from exportgate.core.extract import AdapterRegistry, parse_adapter_text
from exportgate.core.kinds import (
    guarded_kind_patterns,
    guarded_kinds,
    plural_of,
    resources_by_group,
)


@pytest.mark.parametrize(
    ("kind", "plural"),
    [("Pod", "pods"), ("ExportPolicy", "exportpolicies"), ("NodePool", "nodepools"),
     ("NIMCache", "nimcaches"), ("Nodegroup", "nodegroups"), ("Workload", "workloads"),
     ("RAGEngine", "ragengines"), ("Gateway", "gateways")],
)  # fmt: skip
def test_plurals(kind: str, plural: str) -> None:
    assert plural_of(kind) == plural


def test_every_adapter_kind_is_in_the_table_with_its_scope() -> None:
    table = {(k.group, k.kind): k for k in guarded_kinds()}
    for group, kind in AdapterRegistry.builtin().kinds():
        assert (group, kind) in table
    assert table[("karpenter.sh", "NodePool")].cluster_scoped
    assert not table[("serving.kserve.io", "InferenceService")].cluster_scoped
    assert table[("exportgate.dev", "Tenant")].platform


def test_the_builtin_workload_groups_are_left_to_the_workload_rules() -> None:
    groups = resources_by_group(guarded_kinds())
    assert "" not in groups and "apps" not in groups and "batch" not in groups
    assert groups["ray.io"] == ["rayclusters", "rayjobs", "rayservices"]


def test_a_platform_adapter_adds_its_kind_to_the_table() -> None:
    extra = parse_adapter_text(
        "apiVersion: exportgate.dev/v1alpha1\nkind: AdapterSet\nmetadata: {name: acme}\n"
        "adapters:\n- {group: acme.example.com, kinds: [GpuJob], podTemplates: [spec.template]}\n"
    )
    registry = AdapterRegistry.builtin().extended([extra])
    assert ("acme.example.com", "GpuJob") in {(k.group, k.kind) for k in guarded_kinds(registry)}


def test_kinds_guarded_by_pattern_are_listed_by_group_not_named() -> None:
    """Cluster API infrastructure machine kinds without an adapter cannot be named in webhook
    rules; the chart sends them by the pattern (charts/tools/sync_kinds.py)."""
    machine = (
        "(Machine|Machines|MachineTemplate|MachinePool|MachinePoolTemplate|MachineSet"
        "|MachineDeployment)"
    )
    patterns = guarded_kind_patterns()
    assert patterns["infrastructure.cluster.x-k8s.io"] == [f".*{machine}"]
    assert patterns["vmware.infrastructure.cluster.x-k8s.io"] == [f".*{machine}"]
    table = {(k.group, k.kind) for k in guarded_kinds()}
    assert ("infrastructure.cluster.x-k8s.io", "AWSMachine") in table
    assert not any(kind.startswith(".*") for _, kind in table)
