"""Fail closed on the unknown: every way to an accelerator exportgate cannot identify is denied
to a restricted tenant, and what it can identify as uncontrolled is still admitted.

Table-driven, one table per class of issue 10: negative placement (1), device access without a
resource request (2), names outside the vocabulary (3), DRA through any DeviceClass and claim
templates (4), kinds without an adapter (5), and over-blocking (7). Each case is decided by the
real engine for a tenant headquartered in China (sanctioned: D:5 / arms-embargoed) and must be
denied, or, for the over-blocking tables, admitted.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from exportgate.core.data import load_data
from exportgate.core.engine import PolicyEngine
from exportgate.core.extract import extract_workload
from exportgate.core.extract.access import DEVICE_ACCESS
from exportgate.core.extract.dra_refs import DraObjects
from exportgate.core.types import Action, Workload
from tests.core.builders import NOW, make_tenant

ENGINE = PolicyEngine.build()
ENGINE_RULES = [
    rule
    for name in ("us-ear-advanced-computing", "kyc-verification", "vendor-model-terms")
    for rule in load_data(f"policies/{name}.yaml")["spec"].get("rules", [])
]
RESTRICTED = make_tenant("cn-corp", incorporation="CN", headquarters="CN")
GPU = {"nvidia.com/gpu": 1}
T4_GFD = "Tesla-T4"


def _pod(containers: list[dict[str, Any]], **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "p", "namespace": "team"},
        "spec": {"containers": containers, **spec},
    }


def _c(**fields: Any) -> dict[str, Any]:
    return {"name": "c", "image": "registry.example/app:1", **fields}


def _cr(api_version: str, kind: str, spec: dict[str, Any], name: str = "x") -> dict[str, Any]:
    """A namespaced custom resource of `kind` with `spec` as given."""
    return {
        "apiVersion": api_version,
        "kind": kind,
        "metadata": {"name": name, "namespace": "t"},
        "spec": spec,
    }


def _decide(obj: dict[str, Any], dra: DraObjects | None = None) -> tuple[Workload, Action]:
    workload = extract_workload(obj, dra=dra)
    return workload, ENGINE.evaluate(workload, RESTRICTED, NOW).action


def _required(*expressions: dict[str, Any]) -> dict[str, Any]:
    term = {"matchExpressions": list(expressions)}
    return {
        "nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [term]}
        }
    }


# --- class 1: negative placement ---------------------------------------------------------

CONTROLLED_MARKETING = ["H100", "H200", "B200", "A100", "H800", "H20", "B100", "A800"]
NEGATIVE = [
    (
        "notin-marketing-names",
        {"key": "nvidia.com/gpu.product", "operator": "NotIn", "values": CONTROLLED_MARKETING},
    ),
    (
        "notin-lowercase",
        {
            "key": "nvidia.com/gpu.product",
            "operator": "NotIn",
            "values": [v.lower() for v in CONTROLLED_MARKETING],
        },
    ),
    (
        "notin-gke-marketing",
        {
            "key": "cloud.google.com/gke-accelerator",
            "operator": "NotIn",
            "values": ["H100", "A100", "nvidia-h100"],
        },
    ),
    (
        "notin-karpenter-wrong-case",
        {
            "key": "karpenter.k8s.aws/instance-gpu-name",
            "operator": "NotIn",
            "values": ["H100", "A100"],
        },
    ),
    ("doesnotexist-product", {"key": "nvidia.com/gpu.product", "operator": "DoesNotExist"}),
    (
        "notin-instance-family-names",
        {
            "key": "node.kubernetes.io/instance-type",
            "operator": "NotIn",
            "values": ["p5", "p4d", "a3"],
        },
    ),
    (
        "notin-architecture-caps",
        {
            "key": "nvidia.com/gpu.family",
            "operator": "NotIn",
            "values": ["Hopper", "Ampere", "Blackwell"],
        },
    ),
]


@pytest.mark.parametrize("expression", [c[1] for c in NEGATIVE], ids=[c[0] for c in NEGATIVE])
def test_negative_placement_with_names_nodes_do_not_carry_pins_nothing(
    expression: dict[str, Any],
) -> None:
    pod = _pod([_c(resources={"limits": GPU})], affinity=_required(expression))
    workload, action = _decide(pod)
    assert action is Action.DENY
    resolved = ENGINE.catalogue.resolve(workload.accelerators[0])
    assert not resolved.pinned and "nvidia-h100-sxm" in resolved.candidates


def test_notin_with_exact_gfd_values_does_narrow() -> None:
    from exportgate.core.catalogue import builtin_catalogue

    catalogue = builtin_catalogue()
    exact = [a for p in catalogue.products.values() for a in p.exact_aliases.get("gfd", ())]
    pod = _pod(
        [_c(resources={"limits": GPU})],
        affinity=_required(
            {
                "key": "nvidia.com/gpu.product",
                "operator": "NotIn",
                "values": ["NVIDIA-H100-80GB-HBM3"],
            }
        ),
    )
    workload = extract_workload(pod)
    resolved = catalogue.resolve(workload.accelerators[0])
    assert "nvidia-h100-sxm" not in resolved.candidates
    assert "nvidia-h200-sxm" in resolved.candidates  # still reachable: still denied
    assert exact  # the data holds exact spellings to compare against


NEGATED_CEL = [
    '!(device.attributes["gpu.nvidia.com"].productName == "H100")',
    'device.attributes["gpu.nvidia.com"].productName != "H100"',
    'device.attributes["gpu.nvidia.com"].productName != "h100-80gb"',
    '!(device.attributes["gpu.nvidia.com"].productName in ["H100", "H200", "B200"])',
]


@pytest.mark.parametrize("expression", NEGATED_CEL)
def test_negated_dra_selectors_with_marketing_names_pin_nothing(expression: str) -> None:
    claim = {
        "apiVersion": "resource.k8s.io/v1",
        "kind": "ResourceClaim",
        "metadata": {"name": "c", "namespace": "team"},
        "spec": {
            "devices": {
                "requests": [
                    {
                        "name": "g",
                        "exactly": {
                            "deviceClassName": "gpu.nvidia.com",
                            "selectors": [{"cel": {"expression": expression}}],
                        },
                    }
                ]
            }
        },
    }
    workload, action = _decide(claim)
    assert action is Action.DENY
    assert not ENGINE.catalogue.resolve(workload.accelerators[0]).pinned


# --- class 2: device access without a resource request -----------------------------------

ACCESS = [
    ("nvidia-visible-all", _pod([_c(env=[{"name": "NVIDIA_VISIBLE_DEVICES", "value": "all"}])])),
    ("nvidia-visible-index", _pod([_c(env=[{"name": "NVIDIA_VISIBLE_DEVICES", "value": "0,1"}])])),
    (
        "nvidia-visible-from-configmap",
        _pod(
            [
                _c(
                    env=[
                        {
                            "name": "NVIDIA_VISIBLE_DEVICES",
                            "valueFrom": {"configMapKeyRef": {"name": "x", "key": "y"}},
                        }
                    ]
                )
            ]
        ),
    ),
    (
        "nvidia-capabilities",
        _pod([_c(env=[{"name": "NVIDIA_DRIVER_CAPABILITIES", "value": "compute,utility"}])]),
    ),
    ("amd-visible", _pod([_c(env=[{"name": "AMD_VISIBLE_DEVICES", "value": "all"}])])),
    ("rocr-visible", _pod([_c(env=[{"name": "ROCR_VISIBLE_DEVICES", "value": "0"}])])),
    ("habana-visible", _pod([_c(env=[{"name": "HABANA_VISIBLE_DEVICES", "value": "all"}])])),
    ("ascend-visible", _pod([_c(env=[{"name": "ASCEND_VISIBLE_DEVICES", "value": "0-7"}])])),
    ("neuron-visible", _pod([_c(env=[{"name": "AWS_NEURON_VISIBLE_DEVICES", "value": "ALL"}])])),
    ("privileged", _pod([_c(securityContext={"privileged": True})])),
    ("privileged-init", _pod([_c()], initContainers=[_c(securityContext={"privileged": True})])),
    ("host-dev", _pod([_c()], volumes=[{"name": "d", "hostPath": {"path": "/dev"}}])),
    (
        "host-dev-trailing-slash",
        _pod([_c()], volumes=[{"name": "d", "hostPath": {"path": "/dev/"}}]),
    ),
    (
        "host-dev-nvidia0",
        _pod([_c()], volumes=[{"name": "d", "hostPath": {"path": "/dev/nvidia0"}}]),
    ),
    ("host-dev-kfd", _pod([_c()], volumes=[{"name": "d", "hostPath": {"path": "/dev/kfd"}}])),
    ("host-dev-accel", _pod([_c()], volumes=[{"name": "d", "hostPath": {"path": "/dev/accel"}}])),
    ("host-root", _pod([_c()], volumes=[{"name": "r", "hostPath": {"path": "/"}}])),
    (
        "ephemeral-container",
        _pod([_c()], ephemeralContainers=[{"name": "debug", "image": "busybox"}]),
    ),
    (
        "deployment-env",
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "d", "namespace": "t"},
            "spec": {
                "template": {
                    "spec": {
                        "containers": [_c(env=[{"name": "NVIDIA_VISIBLE_DEVICES", "value": "all"}])]
                    }
                }
            },
        },
    ),
]


@pytest.mark.parametrize("obj", [c[1] for c in ACCESS], ids=[c[0] for c in ACCESS])
def test_device_access_without_a_resource_request_is_an_unknown_accelerator(
    obj: dict[str, Any],
) -> None:
    workload, action = _decide(obj)
    assert DEVICE_ACCESS in {a.resource for a in workload.accelerators}
    assert action is Action.DENY


NO_ACCESS = [
    ("visible-void", _pod([_c(env=[{"name": "NVIDIA_VISIBLE_DEVICES", "value": "void"}])])),
    ("visible-none", _pod([_c(env=[{"name": "NVIDIA_VISIBLE_DEVICES", "value": "none"}])])),
    ("visible-empty", _pod([_c(env=[{"name": "NVIDIA_VISIBLE_DEVICES", "value": ""}])])),
    ("cuda-visible-only-filters", _pod([_c(env=[{"name": "CUDA_VISIBLE_DEVICES", "value": "0"}])])),
    ("unprivileged", _pod([_c(securityContext={"privileged": False})])),
    ("host-logs", _pod([_c()], volumes=[{"name": "l", "hostPath": {"path": "/var/log"}}])),
    (
        "host-devices-lookalike",
        _pod([_c()], volumes=[{"name": "l", "hostPath": {"path": "/devices"}}]),
    ),
]


@pytest.mark.parametrize("obj", [c[1] for c in NO_ACCESS], ids=[c[0] for c in NO_ACCESS])
def test_no_device_access(obj: dict[str, Any]) -> None:
    workload, action = _decide(obj)
    assert workload.accelerators == ()
    assert action is Action.ALLOW


def test_device_access_on_a_pinned_small_gpu_node_is_admitted() -> None:
    pod = _pod(
        [_c(env=[{"name": "NVIDIA_VISIBLE_DEVICES", "value": "all"}])],
        nodeSelector={"nvidia.com/gpu.product": T4_GFD},
    )
    _, action = _decide(pod)
    assert action is Action.ALLOW


# --- class 3: names outside the vocabulary -----------------------------------------------

SUSPECT_RESOURCES = [
    "nvidia.com/gpu-h100",  # renamed by the device plugin's config
    "nvidia.com/H100_SXM5_80GB",  # KubeVirt passthrough resource name
    "nvidia.com/GA102GL_A10",
    "nvidia.com/NVIDIA_A100-80GB",
    "devices.kubevirt.io/nvidia-h100",
    "amd.com/mi300x_cpx",  # AMD partition resources
    "amd.com/xgmi",
    "example.com/gpu",
    "acme.io/vgpu-80gb",
    "cluster.local/accelerator",
    "vendor.io/npu",
    "habana.ai/gaudi3",
    "hygon.com/dcunum",
    "cambricon.com/mlu",
]


@pytest.mark.parametrize("resource", SUSPECT_RESOURCES)
def test_accelerator_like_resources_are_unknown_accelerators(resource: str) -> None:
    pod = _pod([_c(resources={"limits": {resource: 1}})])
    workload, action = _decide(pod)
    assert [a.resource for a in workload.accelerators] == [resource]
    assert action is Action.DENY


@pytest.mark.parametrize(
    "resource", ["google.com/tpu", "huawei.com/Ascend910", "huawei.com/Ascend310P"]
)
def test_tpu_and_ascend_resources_are_accelerators(resource: str) -> None:
    pod = _pod([_c(resources={"limits": {resource: 4}})])
    workload, action = _decide(pod)
    assert [(a.resource, a.count) for a in workload.accelerators] == [(resource, 4)]
    assert action is Action.DENY


@pytest.mark.parametrize(
    "resource",
    [
        "cpu",
        "memory",
        "ephemeral-storage",
        "hugepages-2Mi",
        "example.com/foo",
        "rdma/hca_shared_devices_a",
        "gpu.intel.com/millicores",
    ],
)
def test_ordinary_resources_are_not_accelerators(resource: str) -> None:
    assert extract_workload(_pod([_c(resources={"limits": {resource: 1}})])).accelerators == ()


def _nodepool(*requirements: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "karpenter.sh/v1",
        "kind": "NodePool",
        "metadata": {"name": "gpu", "labels": {"exportgate.dev/tenant": "cn-corp"}},
        "spec": {"template": {"spec": {"requirements": list(requirements)}}},
    }


SUSPECT_KEYS = [
    {"key": "eks.amazonaws.com/instance-gpu-name", "operator": "In", "values": ["h100"]},
    {"key": "eks.amazonaws.com/instance-gpu-manufacturer", "operator": "In", "values": ["nvidia"]},
    {"key": "karpenter.azure.com/sku-gpu-name", "operator": "In", "values": ["H100"]},
    {"key": "karpenter.azure.com/sku-gpu-count", "operator": "Gt", "values": ["0"]},
    {"key": "cloud.google.com/gke-tpu-topology", "operator": "In", "values": ["2x2x1"]},
    {
        "key": "karpenter.k8s.aws/instance-accelerator-name",
        "operator": "In",
        "values": ["inferentia"],
    },
    {"key": "example.com/gpu-type", "operator": "Exists"},
]


@pytest.mark.parametrize("requirement", SUSPECT_KEYS, ids=[r["key"] for r in SUSPECT_KEYS])
def test_node_pools_requiring_unknown_accelerator_labels_are_unpinned_pools(
    requirement: dict[str, Any],
) -> None:
    workload, action = _decide(_nodepool(requirement))
    assert [a.resource for a in workload.accelerators] == ["nodepool"]
    assert action is Action.DENY


UNKNOWN_FAMILIES = [
    "p6e-gb300.72xlarge",
    "g5g.xlarge",
    "g4ad.xlarge",
    "p7.48xlarge",
    "g4-standard-48",
    "a5-highgpu-8g",
    "ct7-standard-4t",
]


@pytest.mark.parametrize("instance_type", UNKNOWN_FAMILIES)
def test_instance_types_named_like_gpu_families_are_unknown(instance_type: str) -> None:
    requirement = {
        "key": "node.kubernetes.io/instance-type",
        "operator": "In",
        "values": [instance_type],
    }
    workload, action = _decide(_nodepool(requirement))
    resolved = ENGINE.catalogue.resolve(workload.accelerators[0])
    assert ENGINE.catalogue.unknown_id in resolved.candidates
    assert action is Action.DENY


@pytest.mark.parametrize(
    ("instance_type", "product"),
    [
        ("g6f.xlarge", "nvidia-l4"),
        ("gr6.4xlarge", "nvidia-l4"),
        ("p6-b300.48xlarge", "nvidia-b300"),
        ("p6e-gb200.36xlarge", "nvidia-gb200"),
        ("a4x-highgpu-4g", "nvidia-gb200"),
        ("ct5lp-hightpu-4t", "tpu-v5e"),
        ("ct5p-hightpu-4t", "tpu-v5p"),
        ("ct6e-standard-4t", "tpu-v6e"),
    ],
)
def test_new_families_are_identified(instance_type: str, product: str) -> None:
    requirement = {
        "key": "node.kubernetes.io/instance-type",
        "operator": "In",
        "values": [instance_type],
    }
    workload, _ = _decide(_nodepool(requirement))
    assert ENGINE.catalogue.resolve(workload.accelerators[0]).candidates == (product,)


@pytest.mark.parametrize("instance_type", ["m7i.large", "c7g.xlarge", "n2-standard-8", "e2-medium"])
def test_cpu_families_stay_without_accelerators(instance_type: str) -> None:
    requirement = {
        "key": "node.kubernetes.io/instance-type",
        "operator": "In",
        "values": [instance_type],
    }
    _, action = _decide(_nodepool(requirement))
    assert action is Action.ALLOW


# --- class 4: DRA through any DeviceClass and claim templates -------------------------------


def _class(name: str, *expressions: str) -> dict[str, Any]:
    spec = {"selectors": [{"cel": {"expression": e}} for e in expressions]} if expressions else {}
    return {
        "apiVersion": "resource.k8s.io/v1",
        "kind": "DeviceClass",
        "metadata": {"name": name},
        "spec": spec,
    }


def _template(name: str, device_class: str, namespace: str = "team") -> dict[str, Any]:
    return {
        "apiVersion": "resource.k8s.io/v1",
        "kind": "ResourceClaimTemplate",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "spec": {
                "devices": {
                    "requests": [{"name": "g", "exactly": {"deviceClassName": device_class}}]
                }
            }
        },
    }


def _claim_of(device_class: str) -> dict[str, Any]:
    return {
        "apiVersion": "resource.k8s.io/v1",
        "kind": "ResourceClaim",
        "metadata": {"name": "c", "namespace": "team"},
        "spec": {
            "devices": {"requests": [{"name": "g", "exactly": {"deviceClassName": device_class}}]}
        },
    }


PLATFORM_CLASSES = [
    ("driver-equals", _class("big-gpus", 'device.driver == "gpu.nvidia.com"')),
    ("driver-attribute", _class("big-gpus", 'device.attributes["gpu.nvidia.com"].type == "gpu"')),
    ("amd-driver", _class("big-gpus", "device.driver == 'gpu.amd.com'")),
    ("selects-every-device", _class("big-gpus")),
    ("suspect-driver", _class("big-gpus", 'device.driver == "tpu.google.com"')),
    # Drivers exportgate has no data on but whose names look like accelerators.
    ("other-vendor-gpu-driver", _class("big-gpus", 'device.driver == "gpu.deckhouse.io"')),
    ("npu-driver", _class("big-gpus", 'device.driver == "npu.example.com"')),
]


@pytest.mark.parametrize(
    "device_class", [c[1] for c in PLATFORM_CLASSES], ids=[c[0] for c in PLATFORM_CLASSES]
)
def test_claims_through_platform_device_classes_are_accelerators(
    device_class: dict[str, Any],
) -> None:
    dra = DraObjects.from_objects([device_class])
    workload, action = _decide(_claim_of("big-gpus"), dra)
    assert workload.accelerators and action is Action.DENY


def test_a_class_naming_only_other_drivers_is_not_an_accelerator() -> None:
    dra = DraObjects.from_objects([_class("nics", 'device.driver == "dra.net"')])
    workload, action = _decide(_claim_of("nics"), dra)
    assert workload.accelerators == () and action is Action.ALLOW


def test_an_unreadable_class_is_an_unknown_accelerator() -> None:
    workload, action = _decide(_claim_of("big-gpus"))
    assert [a.resource for a in workload.accelerators] == ["DeviceClass big-gpus"]
    assert action is Action.DENY


def test_a_class_product_selector_pins_what_it_allocates() -> None:
    dra = DraObjects.from_objects(
        [_class("t4s", 'device.attributes["gpu.nvidia.com"].productName == "Tesla T4"')]
    )
    workload, action = _decide(_claim_of("t4s"), dra)
    assert ENGINE.catalogue.resolve(workload.accelerators[0]).candidates == ("nvidia-t4",)
    assert action is Action.ALLOW


POD_CLAIMS = [
    ("template", {"name": "gpu", "resourceClaimTemplateName": "gpu-template"}),
    ("claim", {"name": "gpu", "resourceClaimName": "shared-gpu"}),
    ("v1alpha-source", {"name": "gpu", "source": {"resourceClaimTemplateName": "gpu-template"}}),
]


@pytest.mark.parametrize("entry", [c[1] for c in POD_CLAIMS], ids=[c[0] for c in POD_CLAIMS])
def test_pods_naming_unreadable_claims_reach_unknown_accelerators(entry: dict[str, Any]) -> None:
    pod = _pod([_c(resources={"claims": [{"name": "gpu"}]})], resourceClaims=[entry])
    workload, action = _decide(pod)
    assert len(workload.accelerators) == 1 and action is Action.DENY


def test_pods_and_templates_are_judged_by_the_claim_template_they_name() -> None:
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "d", "namespace": "team"},
        "spec": {
            "template": {
                "spec": {
                    "containers": [_c(resources={"claims": [{"name": "gpu"}]})],
                    "resourceClaims": [
                        {"name": "gpu", "resourceClaimTemplateName": "gpu-template"}
                    ],
                }
            }
        },
    }
    dra = DraObjects.from_objects([_template("gpu-template", "gpu.nvidia.com")])
    workload, action = _decide(deployment, dra)
    assert [a.resource for a in workload.accelerators] == ["gpu.nvidia.com"]
    assert action is Action.DENY
    nic = DraObjects.from_objects(
        [_template("gpu-template", "nics"), _class("nics", 'device.driver == "dra.net"')]
    )
    workload, action = _decide(deployment, nic)
    assert workload.accelerators == () and action is Action.ALLOW


def test_a_template_in_another_namespace_does_not_count() -> None:
    pod = _pod([_c()], resourceClaims=[{"name": "g", "resourceClaimTemplateName": "t"}])
    dra = DraObjects.from_objects(
        [
            _template("t", "nics", namespace="elsewhere"),
            _class("nics", 'device.driver == "dra.net"'),
        ]
    )
    workload, _ = _decide(pod, dra)
    assert [a.resource for a in workload.accelerators] == ["ResourceClaimTemplate t"]


# --- class 5: kinds without an adapter ----------------------------------------------------


def _gpu_container() -> dict[str, Any]:
    return _c(resources={"limits": {"nvidia.com/gpu": 8}})


def _gpu_template() -> dict[str, Any]:
    return {"spec": {"containers": [_gpu_container()]}}


UNADAPTED = [
    (
        "new-crd-template",
        _cr("acme.example.com/v1", "Trainer", {"template": _gpu_template()}),
    ),
    (
        "deep-list",
        _cr(
            "acme.example.com/v1",
            "Pipeline",
            {"stages": [{"steps": [{"podSpec": {"containers": [_gpu_container()]}}]}]},
        ),
    ),
    (
        "argo-style-container",
        _cr(
            "argoproj.io/v1alpha1",
            "WorkflowTemplate",
            {"templates": [{"name": "train", "container": _gpu_container()}]},
        ),
    ),
    ("inline-containers", _cr("acme.example.com/v1", "Server", {"containers": [_gpu_container()]})),
    (
        "device-access-in-crd",
        _cr(
            "acme.example.com/v1",
            "Server",
            {"template": {"spec": {"containers": [_c(securityContext={"privileged": True})]}}},
        ),
    ),
]


@pytest.mark.parametrize("obj", [c[1] for c in UNADAPTED], ids=[c[0] for c in UNADAPTED])
def test_kinds_without_an_adapter_are_read_generically(obj: dict[str, Any]) -> None:
    workload, action = _decide(obj)
    assert workload.accelerators and action is Action.DENY


def test_the_generic_search_is_bounded() -> None:
    deep: dict[str, Any] = {"containers": [_gpu_container()]}
    for _ in range(40):
        deep = {"x": deep}
    workload, action = _decide(_cr("acme.example.com/v1", "Deep", deep))
    assert [a.resource for a in workload.accelerators] == ["unsearchable object"]
    assert action is Action.DENY


def test_objects_without_pod_specs_stay_unguarded() -> None:
    obj = _cr("acme.example.com/v1", "Thing", {"replicas": 3, "x": [{"y": 1}]})
    assert extract_workload(obj).guarded is False


# --- class 7: over-blocking ----------------------------------------------------------------

SMALL_PINS = [
    (
        "gfd-t4",
        _pod([_c(resources={"limits": GPU})], nodeSelector={"nvidia.com/gpu.product": T4_GFD}),
    ),
    (
        "gke-t4",
        _pod(
            [_c(resources={"limits": GPU})],
            nodeSelector={"cloud.google.com/gke-accelerator": "nvidia-tesla-t4"},
        ),
    ),
    (
        "instance-type-g4dn",
        _pod(
            [_c(resources={"limits": GPU})],
            nodeSelector={"node.kubernetes.io/instance-type": "g4dn.xlarge"},
        ),
    ),
    (
        "affinity-in-t4",
        _pod(
            [_c(resources={"limits": GPU})],
            affinity=_required(
                {"key": "nvidia.com/gpu.product", "operator": "In", "values": [T4_GFD]}
            ),
        ),
    ),
    (
        "kserve-annotation-t4",
        {
            "apiVersion": "serving.kserve.io/v1beta1",
            "kind": "InferenceService",
            "metadata": {
                "name": "s",
                "namespace": "t",
                "annotations": {"serving.kserve.io/gke-accelerator": "nvidia-tesla-t4"},
            },
            "spec": {
                "predictor": {
                    "model": {"modelFormat": {"name": "sklearn"}, "resources": {"limits": GPU}}
                }
            },
        },
    ),
]


@pytest.mark.parametrize("obj", [c[1] for c in SMALL_PINS], ids=[c[0] for c in SMALL_PINS])
def test_pins_to_uncontrolled_gpus_are_admitted_for_a_restricted_tenant(
    obj: dict[str, Any],
) -> None:
    _, action = _decide(copy.deepcopy(obj))
    assert action is Action.ALLOW


# --- class 5: the new adapters ------------------------------------------------------------


def _capi(version: str, kind: str, **spec: Any) -> dict[str, Any]:
    return _cr(f"infrastructure.cluster.x-k8s.io/{version}", kind, spec, name="m")


NEW_ADAPTERS = [
    (
        "argo-workflow",
        _cr(
            "argoproj.io/v1alpha1",
            "Workflow",
            {
                "entrypoint": "train",
                "templates": [{"name": "train", "container": _gpu_container()}],
            },
            name="w",
        ),
        1,
    ),
    (
        "argo-containerset",
        _cr(
            "argoproj.io/v1alpha1",
            "WorkflowTemplate",
            {
                "templates": [
                    {
                        "name": "s",
                        "containerSet": {"containers": [_gpu_container(), _gpu_container()]},
                    }
                ]
            },
            name="w",
        ),
        1,  # both containers ask for the same (resource, placement): one request, counts summed
    ),
    (
        "argo-cron",
        _cr(
            "argoproj.io/v1alpha1",
            "CronWorkflow",
            {
                "schedule": "0 * * * *",
                "workflowSpec": {
                    "templates": [{"name": "s", "script": {**_gpu_container(), "source": "x"}}]
                },
            },
            name="w",
        ),
        1,
    ),
    (
        "volcano-job",
        _cr(
            "batch.volcano.sh/v1alpha1",
            "Job",
            {"tasks": [{"replicas": 2, "name": "w", "template": _gpu_template()}]},
            name="v",
        ),
        1,
    ),
    (
        "kueue-workload",
        _cr(
            "kueue.x-k8s.io/v1beta1",
            "Workload",
            {"podSets": [{"name": "main", "count": 1, "template": _gpu_template()}]},
            name="k",
        ),
        1,
    ),
    (
        "seldon-deployment",
        _cr(
            "machinelearning.seldon.io/v1",
            "SeldonDeployment",
            {
                "predictors": [
                    {"name": "p", "graph": {"name": "m"}, "componentSpecs": [_gpu_template()]}
                ]
            },
            name="s",
        ),
        1,
    ),
    (
        "kaito-inferenceset",
        _cr(
            "kaito.sh/v1beta1",
            "InferenceSet",
            {
                "replicas": 2,
                "labelSelector": {"matchLabels": {"a": "b"}},
                "template": {
                    "resource": {"instanceType": "Standard_ND96isr_H100_v5"},
                    "inference": {"preset": {"name": "phi-4"}},
                },
            },
            name="k",
        ),
        1,
    ),
    (
        "kaito-ragengine",
        _cr(
            "kaito.sh/v1alpha1",
            "RAGEngine",
            {
                "compute": {
                    "instanceType": "Standard_NC40ads_H100_v5",
                    "labelSelector": {"matchLabels": {"a": "b"}},
                },
                "embedding": {"local": {"modelID": "BAAI/bge-small-en-v1.5"}},
            },
            name="r",
        ),
        1,
    ),
    (
        "capi-aws-managed-pool",
        _capi("v1beta2", "AWSManagedMachinePool", instanceType="p5.48xlarge"),
        1,
    ),
    (
        "capi-azure-managed-pool",
        _capi("v1beta1", "AzureManagedMachinePool", sku="Standard_ND96isr_H100_v5", mode="User"),
        1,
    ),
    (
        "capi-gcp-managed-pool",
        _capi("v1beta1", "GCPManagedMachinePool", machineType="a3-highgpu-8g"),
        1,
    ),
    (
        "capi-aws-mixed-instances",
        _capi(
            "v1beta2",
            "AWSMachinePool",
            awsLaunchTemplate={"instanceType": "m5.large"},
            mixedInstancesPolicy={"overrides": [{"instanceType": "p5.48xlarge"}]},
        ),
        2,
    ),
]


@pytest.mark.parametrize(
    ("obj", "requests"), [c[1:] for c in NEW_ADAPTERS], ids=[c[0] for c in NEW_ADAPTERS]
)
def test_new_adapters(obj: dict[str, Any], requests: int) -> None:
    workload, action = _decide(obj)
    assert len(workload.accelerators) == requests
    assert action is Action.DENY


def _trainjob(target: str) -> dict[str, Any]:
    return {
        "apiVersion": "trainer.kubeflow.org/v1alpha1",
        "kind": "TrainJob",
        "metadata": {"name": "t", "namespace": "t"},
        "spec": {
            "trainer": {"resourcesPerNode": {"limits": {"nvidia.com/gpu": 8}}},
            "podTemplateOverrides": [
                {
                    "targetJobs": [{"name": target}],
                    "spec": {"nodeSelector": {"nvidia.com/gpu.product": T4_GFD}},
                }
            ],
        },
    }


def test_trainjob_overrides_pin_only_the_jobs_they_target() -> None:
    assert _decide(_trainjob("node"))[1] is Action.ALLOW  # the trainer is pinned to a T4
    assert _decide(_trainjob("dataset-initializer"))[1] is Action.DENY  # the trainer is not


# --- messages: what could not be identified, and how to fix it ----------------------------

MESSAGES = [
    (ACCESS[0][1], "Device access without a resource request at spec.containers[0].env[0]"),
    (_claim_of("big-gpus"), "through DeviceClass 'big-gpus', which exportgate could not read"),
    (_pod([_c(resources={"limits": {"example.com/gpu": 1}})]), "The resource 'example.com/gpu'"),
    (
        _pod([_c()], resourceClaims=[{"name": "g", "resourceClaimTemplateName": "t"}]),
        "The DRA ResourceClaimTemplate 't'",
    ),
]


@pytest.mark.parametrize(("obj", "words"), MESSAGES)
def test_denials_say_what_could_not_be_identified_and_how_to_fix_it(
    obj: dict[str, Any], words: str
) -> None:
    workload, _ = _decide(obj)
    message = ENGINE.evaluate(workload, RESTRICTED, NOW).message
    assert words in message
    assert "pin a known product" in message and "adapter or alias" in message
    assert len(message) < 1500


def _uncontrolled_pins() -> list[tuple[str, str]]:
    """Every NVIDIA product classified outside 3A090 that no pack names by id."""
    from exportgate.core.catalogue import builtin_catalogue

    catalogue = builtin_catalogue()
    named = {
        product
        for rule in ENGINE_RULES
        for product in ((rule.get("match") or {}).get("accelerators") or {}).get("products", ())
    }
    pins = []
    for product in sorted(catalogue.products.values(), key=lambda p: p.id):
        gfd = product.exact_aliases.get("gfd", ())
        if (
            product.vendor == "nvidia"
            and gfd
            and product.eccn.startswith("outside")
            and product.id not in named
        ):
            pins.append((product.id, gfd[0]))
    return pins


@pytest.mark.parametrize(("product", "label"), _uncontrolled_pins())
def test_every_uncontrolled_gpu_pinned_by_its_gfd_label_is_admitted(
    product: str, label: str
) -> None:
    """Old parts (K80, P4, P100, V100 ... as the catalogue lists them) are not over-blocked."""
    pod = _pod([_c(resources={"limits": GPU})], nodeSelector={"nvidia.com/gpu.product": label})
    workload, action = _decide(pod)
    assert ENGINE.catalogue.resolve(workload.accelerators[0]).candidates == (product,)
    assert action is Action.ALLOW


def _nimservice(dra_resource: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "apps.nvidia.com/v1alpha1",
        "kind": "NIMService",
        "metadata": {"name": "llm", "namespace": "team"},
        "spec": {
            "image": {"repository": "nvcr.io/nim/meta/llama-3.1-8b-instruct", "tag": "1.3"},
            "draResources": [dra_resource],
        },
    }


NIM_DRA = [
    ("unreadable-template", {"resourceClaimTemplateName": "gpu-template"}, None, 1),
    ("unreadable-claim", {"resourceClaimName": "shared-gpu"}, None, 1),
    ("template-through-gpu-class", {"resourceClaimTemplateName": "gpu-template"},
     [_template("gpu-template", "gpu.nvidia.com")], 1),
    ("template-through-nic-class", {"resourceClaimTemplateName": "gpu-template"},
     [_template("gpu-template", "nics"), _class("nics", 'device.driver == "dra.net"')], 0),
    ("inline-claim-spec", {"claimCreationSpec": {"devices": [
        {"name": "gpu", "deviceClassName": "gpu.nvidia.com", "count": 2}]}}, None, 1),
    ("inline-without-class", {"claimCreationSpec": {"devices": [
        {"name": "gpu", "driverName": "gpu.nvidia.com"}]}}, None, 1),
]  # fmt: skip


@pytest.mark.parametrize(
    ("entry", "objects", "requests"),
    [c[1:] for c in NIM_DRA],
    ids=[c[0] for c in NIM_DRA],
)
def test_nimservices_are_judged_by_their_dra_resources(
    entry: dict[str, Any], objects: list[dict[str, Any]] | None, requests: int
) -> None:
    dra = DraObjects.from_objects(objects) if objects else None
    workload, _ = _decide(_nimservice(entry), dra)
    assert len(workload.accelerators) == requests
