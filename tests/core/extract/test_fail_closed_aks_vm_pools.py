"""AKS "VirtualMachines" agent pools through Azure Service Operator, in every API version's shape
(exportgate/data/adapters/azure-service-operator.yaml, and CAPZ's ASO-based kinds in
cluster-api.yaml).

Red team 13b, H2: ASO's preview versions write a VirtualMachines pool's sizes as
``virtualMachinesProfile.scale.manual[].sizes[]`` and ``autoscale[].sizes[]``
(v1api20240402preview) or ``scale.autoscale.size``, one object (v20251002preview); exportgate
read only ``manual[*].size`` and admitted H100 pools as "nothing guarded". Every form is read
now, each scale entry as a pool of its own; an entry, or a VirtualMachines pool, with no size
exportgate can read is a pool of unknown hardware. Pools of CPU sizes stay admitted.
"""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from exportgate.core.types import Action
from tests.core.builders import NOW
from tests.core.extract.fail_closed import ENGINE, RESTRICTED, decide

H100 = "Standard_ND96isr_H100_v5"

# The red team's manifests, as written (cp/aso-autoscale.yaml, cp/aso-sizes-2024preview.yaml).
RED_TEAM = list(
    yaml.safe_load_all("""\
apiVersion: containerservice.azure.com/v20251002preview
kind: ManagedClustersAgentPool
metadata: {name: gpu, namespace: team}
spec:
  owner: {name: aks1}
  type: VirtualMachines
  mode: User
  virtualMachinesProfile:
    scale:
      autoscale: {size: Standard_ND96isr_H100_v5, minCount: 0, maxCount: 8}
---
apiVersion: containerservice.azure.com/v20251002preview
kind: ManagedCluster
metadata: {name: aks1, namespace: team}
spec:
  location: eastus
  agentPoolProfiles:
  - name: gpu
    type: VirtualMachines
    mode: User
    virtualMachinesProfile:
      scale:
        autoscale: {size: Standard_ND96isr_H100_v5, minCount: 1, maxCount: 8}
---
apiVersion: containerservice.azure.com/v20251002preview
kind: ManagedClustersAgentPool
metadata: {name: gpu-manual, namespace: team}
spec:
  owner: {name: aks1}
  type: VirtualMachines
  virtualMachinesProfile:
    scale:
      manual: [{size: Standard_ND96isr_H100_v5, count: 1}]
---
apiVersion: containerservice.azure.com/v1api20240402preview
kind: ManagedClustersAgentPool
metadata: {name: gpu-sizes, namespace: team}
spec:
  owner: {name: aks1}
  type: VirtualMachines
  virtualMachinesProfile:
    scale:
      manual: [{sizes: [Standard_ND96isr_H100_v5], count: 2}]
---
apiVersion: containerservice.azure.com/v1api20240402preview
kind: ManagedClustersAgentPool
metadata: {name: gpu-autoscale-sizes, namespace: team}
spec:
  owner: {name: aks1}
  type: VirtualMachines
  virtualMachinesProfile:
    scale:
      autoscale: [{sizes: [Standard_ND96isr_H100_v5], minCount: 0, maxCount: 8}]
""")
)


@pytest.mark.parametrize("obj", RED_TEAM, ids=[o["metadata"]["name"] for o in RED_TEAM])
def test_the_red_team_h100_pools_are_denied_as_h100(obj: dict[str, Any]) -> None:
    workload, action = decide(obj)
    assert action is Action.DENY
    decision = ENGINE.evaluate(workload, RESTRICTED, NOW)
    assert [(a.candidates, a.pinned) for a in decision.accelerators] == [
        (("nvidia-h100-sxm",), True)
    ]


def _pool(scale: Any, api: str = "v20251002preview", **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": f"containerservice.azure.com/{api}",
        "kind": "ManagedClustersAgentPool",
        "metadata": {"name": "p", "namespace": "team"},
        "spec": {
            "owner": {"name": "aks1"},
            "type": "VirtualMachines",
            "virtualMachinesProfile": {"scale": scale},
            **spec,
        },
    }


@pytest.mark.parametrize(
    ("scale", "sources"),
    [
        # GA v20250801 and v20260501: manual[].size; v20260501 autoscale[].size.
        (
            {"manual": [{"size": "Standard_D4s_v5", "count": 1}, {"size": H100, "count": 1}]},
            [
                "spec.virtualMachinesProfile.scale.manual[0]",
                "spec.virtualMachinesProfile.scale.manual[1]",
            ],
        ),
        (
            {"autoscale": [{"size": H100, "maxCount": 2}]},
            ["spec.virtualMachinesProfile.scale.autoscale[0]"],
        ),
        # A list of sizes beside CPU sizes: any H100 in it makes the pool an H100 pool.
        (
            {"manual": [{"sizes": ["Standard_D4s_v5", H100], "count": 1}]},
            ["spec.virtualMachinesProfile.scale.manual[0]"],
        ),
    ],
    ids=["manual-entries", "autoscale-list", "sizes-with-cpu"],
)
def test_each_scale_entry_is_a_pool_of_its_sizes(scale: Any, sources: list[str]) -> None:
    workload, action = decide(_pool(scale))
    assert [a.source for a in workload.accelerators] == sources
    assert action is Action.DENY


@pytest.mark.parametrize(
    "obj",
    [
        # Several CPU entries are not intersected into a contradiction: each is its own group.
        _pool(
            {
                "manual": [{"size": "Standard_D4s_v5", "count": 1}, {"size": "Standard_D8s_v5"}],
                "autoscale": {"size": "Standard_D16s_v5", "minCount": 0, "maxCount": 3},
            }
        ),
        _pool(
            {"manual": [{"sizes": ["Standard_D4s_v5", "Standard_D8s_v5"]}]}, "v1api20240402preview"
        ),
        _pool(
            {"autoscale": [{"sizes": ["Standard_NC4as_T4_v3"], "maxCount": 2}]},
            "v1api20240402preview",
        ),
        # A VirtualMachines pool that names its size in vmSize alone.
        _pool(None, "v20250801", vmSize="Standard_D4s_v5"),
        # A pool of another type without a size: AKS's general-purpose default.
        {
            "apiVersion": "containerservice.azure.com/v20250801",
            "kind": "ManagedClustersAgentPool",
            "metadata": {"name": "p", "namespace": "team"},
            "spec": {"owner": {"name": "aks1"}},
        },
    ],
    ids=["cpu-entries", "cpu-sizes", "t4-autoscale", "vmsize-only", "vmss-default"],
)
def test_plain_virtual_machines_pools_stay_admitted(obj: dict[str, Any]) -> None:
    assert decide(obj)[1] is Action.ALLOW


@pytest.mark.parametrize(
    ("obj", "source"),
    [
        # A form a later version may add: an entry whose size exportgate cannot read.
        (
            _pool({"autoscale": [{"vmSizes": [H100], "maxCount": 2}]}, "v20260501"),
            "spec.virtualMachinesProfile.scale.autoscale[0]",
        ),
        (_pool({"manual": [{"count": 3}]}), "spec.virtualMachinesProfile.scale.manual[0]"),
        (
            _pool({"manual": [{"sizes": [], "count": 3}]}),
            "spec.virtualMachinesProfile.scale.manual[0]",
        ),
        # A VirtualMachines pool with no size at all, nor any scale entry.
        (_pool(None), "spec"),
        (_pool({"manual": []}), "spec"),
        (_pool({}, "v20250801", vmSize=""), "spec"),
    ],
    ids=["unknown-field", "no-size", "empty-sizes", "no-profile", "no-entries", "blank-vmsize"],
)
def test_a_virtual_machines_pool_without_a_readable_size_is_unknown(
    obj: dict[str, Any], source: str
) -> None:
    workload, action = decide(obj)
    assert [(a.resource, a.source, a.hints) for a in workload.accelerators] == [
        ("nodepool", source, ())
    ]
    assert action is Action.DENY
    decision = ENGINE.evaluate(workload, RESTRICTED, NOW)
    assert not decision.accelerators[0].pinned
    assert "whose instance types exportgate could not identify" in decision.message


def test_managed_cluster_profiles_are_read_the_same_way() -> None:
    obj = {
        "apiVersion": "containerservice.azure.com/v20260501",
        "kind": "ManagedCluster",
        "metadata": {"name": "c", "namespace": "team"},
        "spec": {
            "agentPoolProfiles": [
                {"name": "sys", "mode": "System", "vmSize": "Standard_D4s_v5"},
                {
                    "name": "cpu",
                    "type": "VirtualMachines",
                    "virtualMachinesProfile": {"scale": {"manual": [{"size": "Standard_D8s_v5"}]}},
                },
                {"name": "bare", "type": "VirtualMachines"},
            ]
        },
    }
    workload, action = decide(obj)
    assert [a.source for a in workload.accelerators] == [
        "spec.agentPoolProfiles[0]",
        "spec.agentPoolProfiles[1].virtualMachinesProfile.scale.manual[0]",
        "spec.agentPoolProfiles[2]",
    ]
    assert action is Action.DENY  # the bare VirtualMachines pool
    del obj["spec"]["agentPoolProfiles"][2]
    assert decide(obj)[1] is Action.ALLOW


# --- CAPZ's ASO-based kinds carry the same objects in spec.resources --------------------------

_RED_POOL, _RED_CLUSTER = RED_TEAM[0], RED_TEAM[1]


def _capz(kind: str, resource: dict[str, Any], template: bool = False) -> dict[str, Any]:
    resources = {"resources": [resource]}
    return {
        "apiVersion": "infrastructure.cluster.x-k8s.io/v1beta1",
        "kind": kind,
        "metadata": {"name": "c", "namespace": "team"},
        "spec": {"template": {"spec": resources}} if template else resources,
    }


CAPZ = [
    _capz("AzureASOManagedMachinePool", _RED_POOL),
    _capz("AzureASOManagedMachinePoolTemplate", _RED_POOL, template=True),
    _capz("AzureASOManagedControlPlane", _RED_CLUSTER),
    _capz("AzureASOManagedControlPlaneTemplate", _RED_CLUSTER, template=True),
    _capz("AzureASOManagedMachinePool", RED_TEAM[3]),  # sizes[], v1api20240402preview
]


@pytest.mark.parametrize(
    "obj",
    CAPZ,
    ids=["pool", "pool-template", "control-plane", "control-plane-template", "pool-sizes"],
)
def test_capz_aso_embeds_read_every_form(obj: dict[str, Any]) -> None:
    workload, action = decide(obj)
    assert action is Action.DENY
    decision = ENGINE.evaluate(workload, RESTRICTED, NOW)
    assert [a.candidates for a in decision.accelerators] == [("nvidia-h100-sxm",)]


@pytest.mark.parametrize(
    ("kind", "template"),
    [
        ("AzureASOManagedMachinePool", False),
        ("AzureASOManagedMachinePoolTemplate", True),
    ],
)
def test_capz_aso_virtual_machines_pool_without_a_size_is_unknown(
    kind: str, template: bool
) -> None:
    bare = {
        "apiVersion": "containerservice.azure.com/v20251002preview",
        "kind": "ManagedClustersAgentPool",
        "metadata": {"name": "p"},
        "spec": {"type": "VirtualMachines"},
    }
    workload, action = decide(_capz(kind, bare, template))
    assert [(a.resource, a.hints) for a in workload.accelerators] == [("nodepool", ())]
    assert action is Action.DENY
    cpu = {
        **bare,
        "spec": {
            **bare["spec"],
            "virtualMachinesProfile": {"scale": {"autoscale": {"size": "Standard_D4s_v5"}}},
        },
    }
    assert decide(_capz(kind, cpu, template))[1] is Action.ALLOW
