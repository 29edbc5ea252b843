"""Ordinary objects from upstream samples that this session's fail-closed hardening first denied.

A false-denial sweep ran about 1,700 upstream manifests (Envoy Gateway, production-stack,
SR-IOV, cloud CNIs, Karpenter) through the tree before and after the hardening (session 12);
these are the objects it wrongly denied, reduced to what decided them.
"""

from __future__ import annotations

from typing import Any

import pytest

from exportgate.core.engine import PolicyEngine
from exportgate.core.extract import extract_workload
from exportgate.core.types import Action
from tests.core.builders import NOW, make_tenant

ENGINE = PolicyEngine.build()
RESTRICTED = make_tenant("nimbus", incorporation="SG", parent="CN")


def _pod(limits: dict[str, str]) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "p", "namespace": "team"},
        "spec": {"containers": [{"name": "c", "image": "app", "resources": {"limits": limits}}]},
    }


@pytest.mark.parametrize(
    "resource",
    [
        "intel.com/mlnx_sriov_rdma",  # sriov-network-device-plugin's own example name
        "intel.com/intel_sriov_netdevice",
        "tke.cloud.tencent.com/eni-ip",  # added to every pod by TKE's VPC-CNI webhook
        "tke.cloud.tencent.com/eip",
        "aliyun/eni",  # Alibaba Cloud Terway
        "aliyun/member-eni",
    ],
)
def test_cloud_and_sriov_network_interfaces_are_no_accelerator(resource: str) -> None:
    workload = extract_workload(_pod({resource: "1"}))
    assert workload.accelerators == ()
    assert ENGINE.evaluate(workload, RESTRICTED, NOW).action is Action.ALLOW


def test_tencent_qgpu_stays_an_unknown_accelerator() -> None:
    # Only TKE's network resources are listed: its qGPU sharing resources hand out GPUs.
    [request] = extract_workload(_pod({"tke.cloud.tencent.com/qgpu-core": "50"})).accelerators
    assert request.resource == "tke.cloud.tencent.com/qgpu-core"


@pytest.mark.parametrize("host", ["httpbin.org", "gateway.envoyproxy.io", "mcp.kiwi.com"])
def test_envoy_gateway_backends_to_ordinary_hosts_name_no_model(host: str) -> None:
    backend = {
        "apiVersion": "gateway.envoyproxy.io/v1alpha1",
        "kind": "Backend",
        "metadata": {"name": "b", "namespace": "team"},
        "spec": {"endpoints": [{"fqdn": {"hostname": host, "port": 443}}]},
    }
    workload = extract_workload(backend)
    assert workload.models == ()
    assert ENGINE.evaluate(workload, RESTRICTED, NOW).action is Action.ALLOW


def test_a_guessed_resources_map_leaves_out_settings_that_are_no_amounts() -> None:
    # production-stack's VLLMRuntime sample: a flat map mixing amounts with a gpuType setting
    # was refused as a malformed quantity, for every tenant.
    runtime = {
        "apiVersion": "production-stack.vllm.ai/v1alpha1",
        "kind": "VLLMRuntime",
        "metadata": {"name": "r", "namespace": "team"},
        "spec": {
            "deploymentConfig": {
                "image": {"registry": "docker.io", "name": "vllm/vllm-openai"},
                "resources": {"cpu": "4", "memory": "16Gi", "gpuType": "nvidia.com/gpu"},
            }
        },
    }
    workload = extract_workload(runtime)
    assert workload.accelerators == ()


def test_a_setting_beside_an_accelerator_amount_does_not_hide_it() -> None:
    crd = {
        "apiVersion": "example.com/v1",
        "kind": "Trainer",
        "metadata": {"name": "t", "namespace": "team"},
        "spec": {"worker": {"resources": {"nvidia.com/gpu": "8", "note": "fast please"}}},
    }
    [request] = extract_workload(crd).accelerators
    assert (request.resource, request.count) == ("nvidia.com/gpu", 8)


@pytest.mark.parametrize("instance_type", ["f1.2xlarge", "f2.12xlarge", "vt1.3xlarge"])
def test_aws_fpga_and_video_instances_carry_no_accelerator(instance_type: str) -> None:
    pool = {
        "apiVersion": "karpenter.sh/v1",
        "kind": "NodePool",
        "metadata": {"name": "fpga", "labels": {"exportgate.dev/tenant": "nimbus"}},
        "spec": {
            "template": {
                "spec": {
                    "requirements": [
                        {
                            "key": "node.kubernetes.io/instance-type",
                            "operator": "In",
                            "values": [instance_type],
                        }
                    ]
                }
            }
        },
    }
    assert ENGINE.evaluate(extract_workload(pool), RESTRICTED, NOW).action is Action.ALLOW
