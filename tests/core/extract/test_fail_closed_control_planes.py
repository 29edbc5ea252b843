"""Control planes and managed clusters that create worker capacity (red team 13, F3).

1. CAPA ROSAControlPlane: spec.defaultMachinePoolSpec.instanceType is the new cluster's default
   worker machine type; p5.48xlarge (8x H100) was admitted while a ROSAMachinePool with the same
   type was denied.
2. Features that create nodes for the new cluster's own pods, which this exportgate does not
   admit: GKE Autopilot (CAPG GCPManagedControlPlane, Config Connector ContainerCluster), AKS
   node auto-provisioning / AKS Automatic / the AI toolchain operator (ASO ManagedCluster, CAPZ
   ASO control planes and merge patches), EKS Auto Mode (ACK Cluster). Each is a node pool of
   unknown hardware whose denial says which feature and why.
3. GKE node auto-provisioning limits for GPU types and a cluster's default node pool: read as
   the accelerators they name.

Beside each, what must stay admitted for a tenant headquartered in China: control planes that
create no capacity (KubeadmControlPlane, AWSManagedControlPlane, OCIManagedControlPlane), a CPU
default pool, a T4 limit, a patch that touches no hardware.
"""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from exportgate.core.extract import extract_workload
from exportgate.core.types import Action
from tests.core.builders import NOW, make_tenant
from tests.core.extract.fail_closed import ENGINE, RESTRICTED, decide

US = make_tenant("us-corp", incorporation="US", headquarters="US")
INFRA = "infrastructure.cluster.x-k8s.io"
INSTANCE_TYPE = "node.kubernetes.io/instance-type"


def _load(text: str) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(text)
    return loaded


def _obj(api_version: str, kind: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": api_version,
        "kind": kind,
        "metadata": {"name": "c", "namespace": "team"},
        "spec": spec,
    }


def _admitted_with_nothing(obj: dict[str, Any]) -> bool:
    workload = extract_workload(obj)
    decision = ENGINE.evaluate(workload, RESTRICTED, NOW)
    return decision.action is Action.ALLOW and decision.accelerators == ()


def _denied_as_unknown_feature(obj: dict[str, Any], feature: str, source: str) -> None:
    """Denied for the restricted tenant as a pool of unknown hardware, with a message naming
    `feature` and why; admitted for a US tenant."""
    workload, action = decide(obj)
    assert action is Action.DENY
    (request,) = [a for a in workload.accelerators if a.source == source]
    assert request.resource == "nodepool"
    decision = ENGINE.evaluate(workload, RESTRICTED, NOW)
    (resolved,) = [a for a in decision.accelerators if a.source == source]
    assert not resolved.pinned and "unknown-accelerator" in resolved.candidates
    message = decision.violations[0].message
    assert f"it turns on {feature}, which creates nodes, accelerators included" in message
    assert "not admitted by this exportgate" in message
    assert "turn it off and give the cluster node pools that name their instance types" in message
    assert ENGINE.evaluate(workload, US, NOW).action is Action.ALLOW


# --- 1. ROSA HCP default machine pools ----------------------------------------------------------

# The red team's manifest (f3-rosa-controlplane.yaml).
ROSA_CONTROL_PLANE = _load("""\
apiVersion: controlplane.cluster.x-k8s.io/v1beta2
kind: ROSAControlPlane
metadata: {name: rosa-cp, namespace: team}
spec:
  rosaClusterName: x
  region: us-west-2
  version: "4.20.0"
  defaultMachinePoolSpec:
    instanceType: p5.48xlarge
    autoscaling: {minReplicas: 2, maxReplicas: 8}
""")


def test_red_team_rosa_control_plane_is_denied_as_its_default_pools_h100s() -> None:
    workload, action = decide(ROSA_CONTROL_PLANE)
    assert action is Action.DENY
    (request,) = workload.accelerators
    assert request.source == "spec.defaultMachinePoolSpec.instanceType"
    assert {h.key: h.values for h in request.hints} == {INSTANCE_TYPE: ("p5.48xlarge",)}
    decision = ENGINE.evaluate(workload, RESTRICTED, NOW)
    assert decision.accelerators[0].candidates == ("nvidia-h100-sxm",)
    assert decision.accelerators[0].pinned
    assert ENGINE.evaluate(workload, US, NOW).action is Action.ALLOW


def test_rosa_control_plane_with_a_cpu_or_the_default_type_stays_admitted() -> None:
    cpu = _load(yaml.safe_dump(ROSA_CONTROL_PLANE))
    cpu["spec"]["defaultMachinePoolSpec"]["instanceType"] = "m5.xlarge"
    assert decide(cpu)[1] is Action.ALLOW
    default = _load(yaml.safe_dump(ROSA_CONTROL_PLANE))
    del default["spec"]["defaultMachinePoolSpec"]
    assert _admitted_with_nothing(default)


@pytest.mark.parametrize(
    ("api_version", "kind", "spec"),
    [
        (
            "controlplane.cluster.x-k8s.io/v1beta1",
            "KubeadmControlPlane",
            {
                "replicas": 3,
                "version": "v1.33.0",
                "machineTemplate": {
                    "infrastructureRef": {"kind": "AWSMachineTemplate", "name": "cp"}
                },
            },
        ),
        (
            "controlplane.cluster.x-k8s.io/v1beta2",
            "AWSManagedControlPlane",
            {"region": "us-west-2", "version": "v1.33", "eksClusterName": "x"},
        ),
        (f"{INFRA}/v1beta2", "OCIManagedControlPlane", {"version": "v1.33.1"}),
        (f"{INFRA}/v1beta1", "GCPManagedControlPlane", {"project": "p", "location": "l"}),
        (
            f"{INFRA}/v1beta1",
            "GCPManagedControlPlane",
            {"project": "p", "location": "l", "enableAutopilot": False},
        ),
        (
            f"{INFRA}/v1beta1",
            "AzureManagedControlPlane",
            {"location": "westeurope", "version": "v1.33.0"},
        ),
    ],
    ids=["kubeadm", "eks", "oke", "gke-standard", "gke-autopilot-false", "aks"],
)
def test_control_planes_that_create_no_capacity_stay_admitted(
    api_version: str, kind: str, spec: dict[str, Any]
) -> None:
    assert _admitted_with_nothing(_obj(api_version, kind, spec))


# --- 2. features that provision nodes for pods exportgate does not see -------------------------

# The red team's manifest: GKE Autopilot through CAPG.
GKE_AUTOPILOT = _load("""\
apiVersion: infrastructure.cluster.x-k8s.io/v1beta1
kind: GCPManagedControlPlane
metadata: {name: gke-ap, namespace: team}
spec: {project: p, location: us-central1, enableAutopilot: true}
""")


def test_red_team_gke_autopilot_control_plane_is_a_pool_of_unknown_hardware() -> None:
    _denied_as_unknown_feature(GKE_AUTOPILOT, "GKE Autopilot", "spec.enableAutopilot")


def test_gke_autopilot_control_plane_template_too() -> None:
    template = _obj(
        f"{INFRA}/v1beta1",
        "GCPManagedControlPlaneTemplate",
        {"template": {"spec": {"project": "p", "location": "l", "enableAutopilot": True}}},
    )
    _denied_as_unknown_feature(template, "GKE Autopilot", "spec.template.spec.enableAutopilot")


ASO_MANAGED_CLUSTER = _load("""\
apiVersion: containerservice.azure.com/v1api20250801
kind: ManagedCluster
metadata: {name: aks, namespace: team}
spec:
  location: westeurope
  owner: {name: rg}
  dnsPrefix: aks
  agentPoolProfiles:
  - {name: system, mode: System, count: 1, vmSize: Standard_D4s_v5}
""")


@pytest.mark.parametrize(
    ("field", "value", "feature", "source"),
    [
        (
            "nodeProvisioningProfile",
            {"mode": "Auto"},
            "AKS node auto-provisioning",
            "spec.nodeProvisioningProfile.mode",
        ),
        (
            "sku",
            {"name": "Automatic", "tier": "Standard"},
            "AKS Automatic (node auto-provisioning)",
            "spec.sku.name",
        ),
        (
            "aiToolchainOperatorProfile",
            {"enabled": True},
            "the AKS AI toolchain operator (KAITO GPU node provisioning)",
            "spec.aiToolchainOperatorProfile.enabled",
        ),
    ],
    ids=["nap", "automatic", "kaito"],
)
def test_aso_managed_cluster_features_that_provision_nodes(
    field: str, value: dict[str, Any], feature: str, source: str
) -> None:
    cluster = _load(yaml.safe_dump(ASO_MANAGED_CLUSTER))
    cluster["spec"][field] = value
    _denied_as_unknown_feature(cluster, feature, source)


def test_aso_managed_cluster_without_those_features_stays_admitted() -> None:
    cluster = _load(yaml.safe_dump(ASO_MANAGED_CLUSTER))
    cluster["spec"]["nodeProvisioningProfile"] = {"mode": "Manual", "defaultNodePools": "Auto"}
    cluster["spec"]["sku"] = {"name": "Base", "tier": "Free"}
    cluster["spec"]["aiToolchainOperatorProfile"] = {"enabled": False}
    assert decide(cluster)[1] is Action.ALLOW
    sources = [a.source for a in extract_workload(cluster).accelerators]
    assert sources == ["spec.agentPoolProfiles[0]"]  # the D4s_v5 pool, a CPU size


def test_capz_aso_control_plane_reads_its_managed_cluster_the_same_way() -> None:
    managed = _load(yaml.safe_dump(ASO_MANAGED_CLUSTER))
    managed["spec"]["nodeProvisioningProfile"] = {"mode": "Auto"}
    plane = _obj(f"{INFRA}/v1alpha1", "AzureASOManagedControlPlane", {"resources": [managed]})
    # The request is the embedded ManagedCluster's (each: spec.resources[*]).
    _denied_as_unknown_feature(plane, "AKS node auto-provisioning", "spec.resources[0]")
    template = _obj(
        f"{INFRA}/v1alpha1",
        "AzureASOManagedControlPlaneTemplate",
        {"template": {"spec": {"resources": [managed]}}},
    )
    assert decide(template)[1] is Action.DENY
    managed["spec"]["nodeProvisioningProfile"] = {"mode": "Manual"}
    assert decide(plane)[1] is Action.ALLOW


# CAPZ's merge patches of the generated ASO objects (docs/book/src/managed/managedcluster.md).
@pytest.mark.parametrize(
    "patch",
    [
        '{"spec": {"nodeProvisioningProfile": {"mode": "Auto"}}}',
        "spec: {sku: {name: Automatic}}",  # patches are YAML too (yaml.ToJSON)
        '{"spec": {"agentPoolProfiles": [{"name": "gpu", "vmSize": "Standard_ND96isr_H100_v5"}]}}',
        '{"spec": {"nodeProvisioning\\u0050rofile": {"mode": "Auto"}}}',  # a name behind \\u
    ],
    ids=["nap", "automatic-yaml", "pool", "escaped"],
)
def test_aks_control_plane_patches_that_touch_hardware_are_unknown_pools(patch: str) -> None:
    plane = _obj(
        f"{INFRA}/v1beta1",
        "AzureManagedControlPlane",
        {"location": "westeurope", "asoManagedClusterPatches": [patch]},
    )
    workload, action = decide(plane)
    assert action is Action.DENY
    assert [a.source for a in workload.accelerators] == ["spec.asoManagedClusterPatches[0]"]
    message = ENGINE.evaluate(workload, RESTRICTED, NOW).violations[0].message
    assert "A node pool at spec.asoManagedClusterPatches[0]" in message


def test_aks_patches_that_touch_no_hardware_stay_admitted() -> None:
    # The CAPZ book's example patches.
    plane = _obj(
        f"{INFRA}/v1beta1",
        "AzureManagedControlPlane",
        {"asoManagedClusterPatches": ['{"spec": {"enableNamespaceResources": true}}']},
    )
    assert _admitted_with_nothing(plane)
    pool = _obj(
        f"{INFRA}/v1beta1",
        "AzureManagedMachinePool",
        {
            "mode": "User",
            "sku": "Standard_D4s_v5",
            "asoManagedClustersAgentPoolPatches": [
                '{"spec": {"nodeInitializationTaints": ["capz.io/preview=true:NoSchedule"]}}'
            ],
        },
    )
    assert decide(pool)[1] is Action.ALLOW


def test_an_agent_pool_patch_that_resizes_the_pool_is_an_unknown_pool() -> None:
    pool = _obj(
        f"{INFRA}/v1beta1",
        "AzureManagedMachinePool",
        {
            "mode": "User",
            "sku": "Standard_D4s_v5",
            "asoManagedClustersAgentPoolPatches": [
                '{"spec": {"vmSize": "Standard_ND96isr_H100_v5"}}'
            ],
        },
    )
    workload, action = decide(pool)
    assert action is Action.DENY
    assert "spec.asoManagedClustersAgentPoolPatches[0]" in [a.source for a in workload.accelerators]


KCC_CLUSTER = _load("""\
apiVersion: container.cnrm.cloud.google.com/v1beta1
kind: ContainerCluster
metadata: {name: gke, namespace: team}
spec:
  location: us-central1
  initialNodeCount: 1
""")


def test_config_connector_autopilot_cluster_is_a_pool_of_unknown_hardware() -> None:
    cluster = _load(yaml.safe_dump(KCC_CLUSTER))
    cluster["spec"]["enableAutopilot"] = True
    _denied_as_unknown_feature(cluster, "GKE Autopilot", "spec.enableAutopilot")
    cluster["spec"]["enableAutopilot"] = False
    assert _admitted_with_nothing(cluster)


def _nap(*limits: tuple[str, int]) -> dict[str, Any]:
    cluster = _load(yaml.safe_dump(KCC_CLUSTER))
    cluster["spec"]["clusterAutoscaling"] = {
        "enabled": True,
        "resourceLimits": [
            {"resourceType": "cpu", "minimum": 1, "maximum": 64},
            {"resourceType": "memory", "minimum": 1, "maximum": 256},
            *({"resourceType": kind, "maximum": most} for kind, most in limits),
        ],
    }
    return cluster


def test_node_auto_provisioning_gpu_limits_are_the_gpus_nap_may_create() -> None:
    workload, action = decide(_nap(("nvidia-h100-80gb", 16)))
    assert action is Action.DENY
    (request,) = workload.accelerators
    assert (request.count, request.source) == (16, "spec.clusterAutoscaling.resourceLimits[2]")
    decision = ENGINE.evaluate(workload, RESTRICTED, NOW)
    assert decision.accelerators[0].candidates == ("nvidia-h100-sxm",)
    # CPU and memory limits create no GPU pools; a T4 limit is a T4 for this tenant.
    assert _admitted_with_nothing(_nap())
    assert decide(_nap(("nvidia-tesla-t4", 4)))[1] is Action.ALLOW
    # A type exportgate cannot identify (a TPU type it has no product for) is not harmless.
    assert decide(_nap(("tpu-v9-unknown-podslice", 4)))[1] is Action.DENY


def test_config_connector_default_node_pool_is_read_like_a_node_pool() -> None:
    cluster = _load(yaml.safe_dump(KCC_CLUSTER))
    cluster["spec"]["nodeConfig"] = {"machineType": "a3-highgpu-8g"}
    assert decide(cluster)[1] is Action.DENY
    cluster["spec"]["nodeConfig"] = {
        "machineType": "n1-standard-8",
        "guestAccelerator": [{"type": "nvidia-tesla-t4", "count": 1}],
    }
    assert decide(cluster)[1] is Action.ALLOW


def test_ack_eks_auto_mode_is_a_pool_of_unknown_hardware() -> None:
    cluster = _obj(
        "eks.services.k8s.aws/v1alpha1",
        "Cluster",
        {"name": "x", "computeConfig": {"enabled": True, "nodePools": ["general-purpose"]}},
    )
    _denied_as_unknown_feature(cluster, "EKS Auto Mode", "spec.computeConfig.enabled")
    cluster["spec"]["computeConfig"]["enabled"] = False
    assert _admitted_with_nothing(cluster)
    del cluster["spec"]["computeConfig"]
    assert _admitted_with_nothing(cluster)
