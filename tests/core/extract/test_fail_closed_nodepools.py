"""Node-pool kinds of red-team finding F3: Cluster API for OCI, Azure Service Operator AKS
pools (and CAPZ's ASO-based pools), and ACK EKS node groups whose instance type comes from a
launch template or whose AMI is built for accelerators.

Each was admitted as "nothing guarded". The manifests are the red team's
(/tmp/rt2/pools/capi-aws-variants.yaml), with neighbours that must stay admitted: CPU shapes
and sizes, a T4 or A10 pool, a node group whose own instanceTypes say what it launches.
"""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from exportgate.core.extract import extract_workload
from exportgate.core.types import Action
from tests.core.builders import NOW, make_tenant
from tests.core.extract.fail_closed import ENGINE, RESTRICTED, decide

INSTANCE_TYPE = "node.kubernetes.io/instance-type"


def _load(text: str) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(text)
    return loaded


# --- the red team's manifests, as written ---------------------------------------------------

OCI_H100 = _load("""\
apiVersion: infrastructure.cluster.x-k8s.io/v1beta2
kind: OCIMachineTemplate
metadata: {name: oci-h100, namespace: dragon-infra}
spec: {template: {spec: {shape: BM.GPU.H100.8}}}
""")

ASO_POOL = _load("""\
apiVersion: containerservice.azure.com/v1api20231001
kind: ManagedClustersAgentPool
metadata: {name: aso-pool, namespace: dragon-infra}
spec: {owner: {name: aks}, vmSize: Standard_ND96isr_H100_v5, count: 1}
""")

NG_AMI = _load("""\
apiVersion: eks.services.k8s.aws/v1alpha1
kind: Nodegroup
metadata: {name: ng-ami, namespace: dragon-infra}
spec: {clusterName: c, name: ng-ami, amiType: AL2023_x86_64_NVIDIA, launchTemplate: {name: lt-p5}}
""")


@pytest.mark.parametrize(
    ("obj", "products"),
    [
        (OCI_H100, ("nvidia-h100-sxm",)),
        (ASO_POOL, ("nvidia-h100-sxm",)),
    ],
    ids=["oci-machine-template", "aso-agent-pool"],
)
def test_red_team_pools_are_denied_as_the_product_they_launch(
    obj: dict[str, Any], products: tuple[str, ...]
) -> None:
    workload, action = decide(obj)
    assert [a.resource for a in workload.accelerators] == ["nodepool"]
    assert action is Action.DENY
    decision = ENGINE.evaluate(workload, RESTRICTED, NOW)
    assert decision.accelerators[0].candidates == products
    assert decision.accelerators[0].pinned


def test_red_team_node_group_with_launch_template_and_gpu_ami_is_an_unknown_pool() -> None:
    workload, action = decide(NG_AMI)
    assert action is Action.DENY
    (request,) = workload.accelerators
    assert request.resource == "nodepool"
    assert request.source == "spec.launchTemplate.name"
    decision = ENGINE.evaluate(workload, RESTRICTED, NOW)
    assert not decision.accelerators[0].pinned
    # The message says what could not be identified, where, and how to fix it.
    message = decision.violations[0].message
    assert (
        "A node pool at spec.launchTemplate.name whose instance types exportgate could not"
        " identify" in message
    )
    assert "for a node pool, name known instance types in its own spec" in message


# --- Cluster API for OCI ----------------------------------------------------------------------


def _capoci(kind: str, spec: dict[str, Any], version: str = "v1beta2") -> dict[str, Any]:
    return {
        "apiVersion": f"infrastructure.cluster.x-k8s.io/{version}",
        "kind": kind,
        "metadata": {"name": "m", "namespace": "t"},
        "spec": spec,
    }


OCI_KINDS = [
    ("machine-template", "OCIMachineTemplate", {"template": {"spec": {"shape": "{}"}}}),
    ("machine-pool", "OCIMachinePool", {"instanceConfiguration": {"shape": "{}"}}),
    ("managed-pool", "OCIManagedMachinePool", {"nodeShape": "{}"}),
    (
        "managed-pool-template",
        "OCIManagedMachinePoolTemplate",
        {"template": {"spec": {"nodeShape": "{}"}}},
    ),
]


def _with_shape(spec: dict[str, Any], shape: str) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(yaml.safe_dump(spec).replace("'{}'", shape))
    return loaded


@pytest.mark.parametrize(
    ("kind", "spec"), [k[1:] for k in OCI_KINDS], ids=[k[0] for k in OCI_KINDS]
)
@pytest.mark.parametrize("version", ["v1beta1", "v1beta2"])
@pytest.mark.parametrize(
    ("shape", "expected"),
    [
        ("BM.GPU.H100.8", Action.DENY),
        ("BM.GPU.B300.8", Action.DENY),  # a GPU shape the table does not list: unknown
        ("VM.GPU.A10.1", Action.ALLOW),  # an A10 is outside 3A090: no false denial
        ("VM.Standard.E4.Flex", None),  # a CPU shape: nothing guarded
    ],
)
def test_oci_shapes(
    kind: str, spec: dict[str, Any], version: str, shape: str, expected: Action | None
) -> None:
    obj = _capoci(kind, _with_shape(spec, shape), version)
    workload, action = decide(obj)
    if expected is None:
        assert _asks_for_no_accelerator(obj)
        return
    assert [(a.resource, {h.key: h.values for h in a.hints}) for a in workload.accelerators] == [
        ("nodepool", {INSTANCE_TYPE: (shape,)})
    ]
    assert action is expected


def _asks_for_no_accelerator(obj: dict[str, Any]) -> bool:
    """Admitted with no accelerator: nothing extracted, or a pool of CPU instances only."""
    workload = extract_workload(obj)
    decision = ENGINE.evaluate(workload, RESTRICTED, NOW)
    return decision.action is Action.ALLOW and decision.accelerators == ()


def test_oci_machine_template_without_a_shape_asks_for_nothing() -> None:
    assert not extract_workload(_capoci("OCIMachineTemplate", {"template": {"spec": {}}})).guarded


# --- Azure Service Operator and CAPZ's ASO-based pools ----------------------------------------

ASO = "containerservice.azure.com/v1api20240901"


def _aso(kind: str, spec: dict[str, Any], api: str = ASO) -> dict[str, Any]:
    return {
        "apiVersion": api,
        "kind": kind,
        "metadata": {"name": "a", "namespace": "t"},
        "spec": spec,
    }


@pytest.mark.parametrize(
    ("obj", "expected"),
    [
        (_aso("ManagedClustersAgentPool", {"vmSize": "Standard_ND96isr_H100_v5"}), Action.DENY),
        (_aso("ManagedClustersAgentPool", {"vmSize": "Standard_NC4as_T4_v3"}), Action.ALLOW),
        # An N-series size the table does not list is unknown, decided as the most restricted.
        (_aso("ManagedClustersAgentPool", {"vmSize": "Standard_ND96is_H200_v5"}), Action.DENY),
        # A "VirtualMachines" pool lists its sizes in virtualMachinesProfile.
        (
            _aso(
                "ManagedClustersAgentPool",
                {
                    "virtualMachinesProfile": {
                        "scale": {"manual": [{"size": "Standard_ND96isr_H100_v5", "count": 2}]}
                    }
                },
                "containerservice.azure.com/v1api20250801",
            ),
            Action.DENY,
        ),
        (
            _aso(
                "ManagedCluster",
                {
                    "agentPoolProfiles": [
                        {"name": "system", "mode": "System", "vmSize": "Standard_D4s_v5"},
                        {"name": "gpu", "mode": "User", "vmSize": "Standard_ND96isr_H100_v5"},
                    ]
                },
            ),
            Action.DENY,
        ),
        (
            _aso(
                "ManagedCluster",
                {"agentPoolProfiles": [{"name": "t4", "vmSize": "Standard_NC4as_T4_v3"}]},
            ),
            Action.ALLOW,
        ),
    ],
    ids=[
        "pool-h100",
        "pool-t4",
        "pool-unknown-n-series",
        "pool-vm-profile",
        "cluster-h100",
        "cluster-t4",
    ],
)
def test_aso_pools(obj: dict[str, Any], expected: Action) -> None:
    workload, action = decide(obj)
    assert workload.accelerators and all(a.resource == "nodepool" for a in workload.accelerators)
    assert action is expected


@pytest.mark.parametrize(
    "obj",
    [
        _aso("ManagedClustersAgentPool", {"vmSize": "Standard_D4s_v5"}),
        _aso("ManagedClustersAgentPool", {"owner": {"name": "aks"}}),  # AKS's default size
        _aso("ManagedCluster", {"agentPoolProfiles": [{"name": "s", "vmSize": "Standard_D4s_v5"}]}),
    ],
    ids=["cpu-size", "no-size", "cluster-cpu"],
)
def test_aso_cpu_pools_ask_for_no_accelerator(obj: dict[str, Any]) -> None:
    assert _asks_for_no_accelerator(obj)


def test_managed_cluster_judges_every_agent_pool_profile() -> None:
    obj = _aso(
        "ManagedCluster",
        {
            "agentPoolProfiles": [
                {"name": "a", "vmSize": "Standard_D4s_v5"},
                {"name": "b", "vmSize": "Standard_ND96isr_H100_v5"},
            ]
        },
    )
    assert [a.source for a in extract_workload(obj).accelerators] == [
        "spec.agentPoolProfiles[0]",
        "spec.agentPoolProfiles[1]",
    ]


def _capz_aso(kind: str, resource: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "infrastructure.cluster.x-k8s.io/v1beta1",
        "kind": kind,
        "metadata": {"name": "c", "namespace": "t"},
        "spec": {
            "resources": [
                {
                    "apiVersion": ASO,
                    "kind": "ResourceGroup",
                    "metadata": {"name": "rg"},
                    "spec": {"location": "westeurope"},
                },
                resource,
            ]
        },
    }


@pytest.mark.parametrize(
    ("obj", "expected"),
    [
        (
            _capz_aso(
                "AzureASOManagedMachinePool",
                {
                    "apiVersion": ASO,
                    "kind": "ManagedClustersAgentPool",
                    "metadata": {"name": "p"},
                    "spec": {"azureName": "pool0", "vmSize": "Standard_ND96isr_H100_v5"},
                },
            ),
            Action.DENY,
        ),
        (
            _capz_aso(
                "AzureASOManagedControlPlane",
                {
                    "apiVersion": ASO,
                    "kind": "ManagedCluster",
                    "metadata": {"name": "aks"},
                    "spec": {
                        "agentPoolProfiles": [{"name": "p", "vmSize": "Standard_ND96isr_H100_v5"}]
                    },
                },
            ),
            Action.DENY,
        ),
        (
            _capz_aso(
                "AzureASOManagedMachinePool",
                {
                    "apiVersion": ASO,
                    "kind": "ManagedClustersAgentPool",
                    "metadata": {"name": "p"},
                    "spec": {"azureName": "pool0", "vmSize": "Standard_NC4as_T4_v3"},
                },
            ),
            Action.ALLOW,
        ),
    ],
    ids=["capz-aso-pool-h100", "capz-aso-control-plane-h100", "capz-aso-pool-t4"],
)
def test_capz_aso_pools(obj: dict[str, Any], expected: Action) -> None:
    assert decide(obj)[1] is expected


# --- ACK EKS node groups ---------------------------------------------------------------------


def _nodegroup(**spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "eks.services.k8s.aws/v1alpha1",
        "kind": "Nodegroup",
        "metadata": {"name": "ng", "namespace": "t"},
        "spec": {"clusterName": "c", "name": "ng", **spec},
    }


@pytest.mark.parametrize(
    ("spec", "source"),
    [
        ({"launchTemplate": {"name": "lt-p5"}}, "spec.launchTemplate.name"),
        ({"launchTemplate": {"id": "lt-0abc", "version": "3"}}, "spec.launchTemplate.id"),
        ({"amiType": "AL2_x86_64_GPU"}, "spec.amiType"),
        ({"amiType": "AL2023_x86_64_NVIDIA"}, "spec.amiType"),
        ({"amiType": "AL2023_x86_64_NEURON"}, "spec.amiType"),
        ({"amiType": "BOTTLEROCKET_x86_64_NVIDIA_FIPS"}, "spec.amiType"),
        ({"instanceTypes": [], "launchTemplate": {"name": "lt"}}, "spec.launchTemplate.name"),
    ],
    ids=[
        "template-name",
        "template-id",
        "al2-gpu",
        "al2023-nvidia",
        "neuron",
        "bottlerocket-nvidia-fips",
        "empty-instance-types",
    ],
)
def test_node_group_without_readable_instance_types_is_an_unknown_pool(
    spec: dict[str, Any], source: str
) -> None:
    workload, action = decide(_nodegroup(**spec))
    (request,) = workload.accelerators
    assert (request.resource, request.source) == ("nodepool", source)
    assert action is Action.DENY
    assert not ENGINE.evaluate(workload, RESTRICTED, NOW).accelerators[0].pinned


@pytest.mark.parametrize(
    "spec",
    [
        {},  # EKS's default general-purpose type
        {"amiType": "AL2023_x86_64_STANDARD"},
        {"amiType": "BOTTLEROCKET_ARM_64"},
        {"amiType": "AL2_x86_64", "instanceTypes": ["m5.large"]},
    ],
    ids=["default", "al2023-standard", "bottlerocket-arm", "cpu-types"],
)
def test_node_group_of_cpu_instances_asks_for_no_accelerator(spec: dict[str, Any]) -> None:
    assert _asks_for_no_accelerator(_nodegroup(**spec))


def test_node_group_instance_types_decide_whatever_the_template_or_ami() -> None:
    """EKS takes the types from spec.instanceTypes when the template names none: a T4 group
    with a launch template and a GPU AMI is a T4 group, admitted for a restricted tenant."""
    obj = _nodegroup(
        instanceTypes=["g4dn.xlarge"], amiType="AL2_x86_64_GPU", launchTemplate={"name": "lt"}
    )
    workload, action = decide(obj)
    assert action is Action.ALLOW
    decision = ENGINE.evaluate(workload, RESTRICTED, NOW)
    assert decision.accelerators[0].candidates == ("nvidia-t4",)
    assert decision.accelerators[0].source == "spec.instanceTypes"


@pytest.mark.parametrize("obj", [OCI_H100, ASO_POOL], ids=["oci", "aso"])
def test_a_permitted_tenant_is_admitted_to_the_same_pools(obj: dict[str, Any]) -> None:
    workload = extract_workload(obj)
    assert ENGINE.evaluate(workload, make_tenant(incorporation="SG"), NOW).action is Action.ALLOW
