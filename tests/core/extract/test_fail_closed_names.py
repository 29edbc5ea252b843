"""Fail closed on the unknown, class 3 of issue 10: accelerator resources, node-pool labels and
instance types outside the vocabulary are unknown accelerators; what is identified stays so.
"""

from __future__ import annotations

from typing import Any

import pytest

from exportgate.core.extract import extract_workload
from exportgate.core.types import Action
from tests.core.builders import NOW
from tests.core.extract.fail_closed import (
    ENGINE,
    GPU,
    RESTRICTED,
    T4_GFD,
    container,
    decide,
    pod_of,
    site_registry,
)

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

# Red-team finding F3: real device plugins whose names match no suspect glob were "nothing
# guarded". Every extended resource outside Kubernetes' own and the ignored list is unknown.
UNLISTED_DEVICE_PLUGINS = [
    "qualcomm.com/qaic",  # Qualcomm Cloud AI 100 (also qaic-std, qaic-pro, qaic-ultra)
    "tenstorrent.com/blackhole",
    "tenstorrent.com/n150",
    "kunlunxin.com/xpu",  # Baidu Kunlun
    "furiosa.ai/rngd",  # FuriosaAI RNGD
    "rebellions.ai/ATOM",
    "sophgo.com/tpu",
    "example.com/foo",  # an unknown vendor's anything: unknown, not harmless
    "devices.kubevirt.io/nvidia-h100",
    "smarter-devices/nvidia0",  # a generic plugin can expose /dev/nvidia0 under any name
    "squat.ai/gpu",
]


@pytest.mark.parametrize("resource", SUSPECT_RESOURCES)
def test_accelerator_like_resources_are_unknown_accelerators(resource: str) -> None:
    pod = pod_of([container(resources={"limits": {resource: 1}})])
    workload, action = decide(pod)
    assert [a.resource for a in workload.accelerators] == [resource]
    assert action is Action.DENY


@pytest.mark.parametrize("resource", UNLISTED_DEVICE_PLUGINS)
def test_unlisted_extended_resources_are_unknown_accelerators(resource: str) -> None:
    pod = pod_of([container(resources={"limits": {resource: 8}})])
    workload, action = decide(pod)
    assert [(a.resource, a.count) for a in workload.accelerators] == [(resource, 8)]
    assert action is Action.DENY
    message = ENGINE.evaluate(workload, RESTRICTED, NOW).message
    assert f"The resource {resource!r}" in message
    assert "which exportgate does not recognise" in message
    assert "ignoredResources" in message  # and how to say it is no accelerator


def test_an_unlisted_resource_pinned_to_an_allowed_product_is_admitted() -> None:
    pod = pod_of(
        [container(resources={"limits": {"qualcomm.com/qaic": 1, **GPU}})],
        nodeSelector={"nvidia.com/gpu.product": T4_GFD},
    )
    assert decide(pod)[1] is Action.ALLOW


def test_an_operator_lists_a_device_as_no_accelerator() -> None:
    registry = site_registry('{ignoredResources: ["acme.example/license-*"]}')
    pod = pod_of([container(resources={"limits": {"acme.example/license-matlab": 1}})])
    assert extract_workload(pod, registry=registry).accelerators == ()
    assert extract_workload(pod).accelerators != ()


@pytest.mark.parametrize(
    "resource", ["google.com/tpu", "huawei.com/Ascend910", "huawei.com/Ascend310P"]
)
def test_tpu_and_ascend_resources_are_accelerators(resource: str) -> None:
    pod = pod_of([container(resources={"limits": {resource: 4}})])
    workload, action = decide(pod)
    assert [(a.resource, a.count) for a in workload.accelerators] == [(resource, 4)]
    assert action is Action.DENY


@pytest.mark.parametrize(
    "resource",
    [
        "cpu",
        "memory",
        "ephemeral-storage",
        "hugepages-2Mi",
        "hugepages-1Gi",
        "storage",
        "example.kubernetes.io/native",
        "rdma/hca_shared_devices_a",
        "rdma/rdma_shared_device_a",
        "intel.com/intel_sriov_netdevice",
        "intel.com/sriov_net_a",
        "openshift.io/intelnics",
        "vpc.amazonaws.com/efa",
        "vpc.amazonaws.com/pod-eni",
        "devices.kubevirt.io/kvm",
        "devices.kubevirt.io/tun",
        "devices.kubevirt.io/vhost-net",
        "github.com/fuse",
        "smarter-devices/fuse",
        "squat.ai/fuse",
        "sgx.intel.com/epc",
        "qat.intel.com/generic",
        "gpu.intel.com/millicores",
    ],
)
def test_ordinary_resources_are_not_accelerators(resource: str) -> None:
    assert (
        extract_workload(pod_of([container(resources={"limits": {resource: 1}})])).accelerators
        == ()
    )


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
    workload, action = decide(_nodepool(requirement))
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
    workload, action = decide(_nodepool(requirement))
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
    workload, _ = decide(_nodepool(requirement))
    assert ENGINE.catalogue.resolve(workload.accelerators[0]).candidates == (product,)


@pytest.mark.parametrize("instance_type", ["m7i.large", "c7g.xlarge", "n2-standard-8", "e2-medium"])
def test_cpu_families_stay_without_accelerators(instance_type: str) -> None:
    requirement = {
        "key": "node.kubernetes.io/instance-type",
        "operator": "In",
        "values": [instance_type],
    }
    _, action = decide(_nodepool(requirement))
    assert action is Action.ALLOW
