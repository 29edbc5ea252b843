"""Fail closed on the unknown: every way to an accelerator exportgate cannot identify is denied
to a restricted tenant, and what it can identify as uncontrolled is still admitted.

Table-driven, one table per class of issue 10; here negative placement (1), device access
without a resource request (2) and the messages of denials. Names outside the vocabulary (3),
DRA (4), kinds without an adapter (5) and over-blocking (7) have their own modules beside this one.
Each case is decided by the real engine for a tenant headquartered in China (sanctioned: D:5 /
arms-embargoed) and must be denied.
"""

from __future__ import annotations

from typing import Any

import pytest

from exportgate.core.extract import extract_workload
from exportgate.core.extract.access import DEVICE_ACCESS
from exportgate.core.types import Action
from tests.core.builders import NOW
from tests.core.extract.fail_closed import (
    ENGINE,
    GPU,
    RESTRICTED,
    T4_GFD,
    claim_of,
    container,
    decide,
    pod_of,
    required,
    site_registry,
)

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
    pod = pod_of([container(resources={"limits": GPU})], affinity=required(expression))
    workload, action = decide(pod)
    assert action is Action.DENY
    resolved = ENGINE.catalogue.resolve(workload.accelerators[0])
    assert not resolved.pinned and "nvidia-h100-sxm" in resolved.candidates


def test_notin_with_exact_gfd_values_alone_pins_nothing() -> None:
    """NotIn matches every node without the label (no GPU Feature Discovery, not yet labelled)
    and every value the catalogue lacks, so even exact values leave the request unpinned."""
    from exportgate.core.catalogue import builtin_catalogue

    catalogue = builtin_catalogue()
    exact = [a for p in catalogue.products.values() for a in p.exact_aliases.get("gfd", ())]
    pod = pod_of(
        [container(resources={"limits": GPU})],
        affinity=required({"key": "nvidia.com/gpu.product", "operator": "NotIn", "values": exact}),
    )
    workload, action = decide(pod)
    resolved = catalogue.resolve(workload.accelerators[0])
    assert "nvidia-h100-sxm" in resolved.candidates
    assert not resolved.pinned
    assert action is Action.DENY


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
    workload, action = decide(claim)
    assert action is Action.DENY
    assert not ENGINE.catalogue.resolve(workload.accelerators[0]).pinned


# --- class 2: device access without a resource request -----------------------------------

ACCESS = [
    (
        "nvidia-visible-all",
        pod_of([container(env=[{"name": "NVIDIA_VISIBLE_DEVICES", "value": "all"}])]),
    ),
    (
        "nvidia-visible-index",
        pod_of([container(env=[{"name": "NVIDIA_VISIBLE_DEVICES", "value": "0,1"}])]),
    ),
    (
        "nvidia-visible-from-configmap",
        pod_of(
            [
                container(
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
        pod_of(
            [container(env=[{"name": "NVIDIA_DRIVER_CAPABILITIES", "value": "compute,utility"}])]
        ),
    ),
    ("amd-visible", pod_of([container(env=[{"name": "AMD_VISIBLE_DEVICES", "value": "all"}])])),
    ("rocr-visible", pod_of([container(env=[{"name": "ROCR_VISIBLE_DEVICES", "value": "0"}])])),
    (
        "habana-visible",
        pod_of([container(env=[{"name": "HABANA_VISIBLE_DEVICES", "value": "all"}])]),
    ),
    (
        "ascend-visible",
        pod_of([container(env=[{"name": "ASCEND_VISIBLE_DEVICES", "value": "0-7"}])]),
    ),
    (
        "neuron-visible",
        pod_of([container(env=[{"name": "AWS_NEURON_VISIBLE_DEVICES", "value": "ALL"}])]),
    ),
    ("privileged", pod_of([container(securityContext={"privileged": True})])),
    (
        "privileged-init",
        pod_of([container()], initContainers=[container(securityContext={"privileged": True})]),
    ),
    ("host-dev", pod_of([container()], volumes=[{"name": "d", "hostPath": {"path": "/dev"}}])),
    (
        "host-dev-trailing-slash",
        pod_of([container()], volumes=[{"name": "d", "hostPath": {"path": "/dev/"}}]),
    ),
    (
        "host-dev-nvidia0",
        pod_of([container()], volumes=[{"name": "d", "hostPath": {"path": "/dev/nvidia0"}}]),
    ),
    (
        "host-dev-kfd",
        pod_of([container()], volumes=[{"name": "d", "hostPath": {"path": "/dev/kfd"}}]),
    ),
    (
        "host-dev-accel",
        pod_of([container()], volumes=[{"name": "d", "hostPath": {"path": "/dev/accel"}}]),
    ),
    ("host-root", pod_of([container()], volumes=[{"name": "r", "hostPath": {"path": "/"}}])),
    # Red-team finding F4: the host's root through procfs, and container runtime sockets.
    *(
        (f"host-{path}", pod_of([container()], volumes=[{"name": "h", "hostPath": {"path": path}}]))
        for path in [
            "/proc/1/root",
            "/proc/self/root/dev",
            "/proc/1/cwd",
            "/proc",
            "/run/containerd/containerd.sock",
            "/run/containerd",
            "/var/run/docker.sock",
            "/run/docker.sock",
            "/var/run/crio/crio.sock",
            "/run/k3s/containerd/containerd.sock",
            "/var/run/cri-dockerd.sock",
            "/run",
            "/var/run/",
            "/run/./containerd/containerd.sock",
        ]
    ),
    # Red-team finding F5: a GPU runtime class hands the node's devices to every container.
    *(
        (f"runtime-class-{name}", pod_of([container()], runtimeClassName=name))
        for name in ["nvidia", "nvidia-cdi", "nvidia-legacy", "kata-qemu-nvidia-gpu", "amd"]
    ),
    (
        "ephemeral-container",
        pod_of([container()], ephemeralContainers=[{"name": "debug", "image": "busybox"}]),
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
                        "containers": [
                            container(env=[{"name": "NVIDIA_VISIBLE_DEVICES", "value": "all"}])
                        ]
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
    workload, action = decide(obj)
    assert DEVICE_ACCESS in {a.resource for a in workload.accelerators}
    assert action is Action.DENY


NO_ACCESS = [
    (
        "visible-void",
        pod_of([container(env=[{"name": "NVIDIA_VISIBLE_DEVICES", "value": "void"}])]),
    ),
    (
        "visible-none",
        pod_of([container(env=[{"name": "NVIDIA_VISIBLE_DEVICES", "value": "none"}])]),
    ),
    ("visible-empty", pod_of([container(env=[{"name": "NVIDIA_VISIBLE_DEVICES", "value": ""}])])),
    (
        "cuda-visible-only-filters",
        pod_of([container(env=[{"name": "CUDA_VISIBLE_DEVICES", "value": "0"}])]),
    ),
    ("unprivileged", pod_of([container(securityContext={"privileged": False})])),
    ("host-logs", pod_of([container()], volumes=[{"name": "l", "hostPath": {"path": "/var/log"}}])),
    (
        "host-devices-lookalike",
        pod_of([container()], volumes=[{"name": "l", "hostPath": {"path": "/devices"}}]),
    ),
    (
        "host-run-lookalike",
        pod_of([container()], volumes=[{"name": "l", "hostPath": {"path": "/var/runtime"}}]),
    ),
    *(
        (f"runtime-class-{name}", pod_of([container()], runtimeClassName=name))
        for name in ["gvisor", "runsc", "kata-qemu", "crun", "wasmtime-spin"]
    ),
]


@pytest.mark.parametrize("obj", [c[1] for c in NO_ACCESS], ids=[c[0] for c in NO_ACCESS])
def test_no_device_access(obj: dict[str, Any]) -> None:
    workload, action = decide(obj)
    assert workload.accelerators == ()
    assert action is Action.ALLOW


def test_device_access_on_a_pinned_small_gpu_node_is_admitted() -> None:
    pod = pod_of(
        [container(env=[{"name": "NVIDIA_VISIBLE_DEVICES", "value": "all"}])],
        nodeSelector={"nvidia.com/gpu.product": T4_GFD},
    )
    _, action = decide(pod)
    assert action is Action.ALLOW


# Red-team manifest p-runtimeclass.yaml: runtime class nvidia, pinned to an H100, no request.
def _runtime_class_pod(**spec: Any) -> dict[str, Any]:
    return pod_of(
        [container(image="nvcr.io/nvidia/cuda:12.4.1-base-ubuntu22.04")],
        runtimeClassName="nvidia",
        tolerations=[{"key": "nvidia.com/gpu", "operator": "Exists"}],
        **spec,
    )


def test_a_gpu_runtime_class_is_judged_by_its_placement() -> None:
    h100 = _runtime_class_pod(nodeSelector={"nvidia.com/gpu.product": "NVIDIA-H100-80GB-HBM3"})
    workload, action = decide(h100)
    assert [(a.resource, a.source) for a in workload.accelerators] == [
        (DEVICE_ACCESS, "spec.runtimeClassName")
    ]
    assert action is Action.DENY
    assert decide(_runtime_class_pod())[1] is Action.DENY  # unpinned
    t4 = _runtime_class_pod(nodeSelector={"nvidia.com/gpu.product": T4_GFD})
    assert decide(t4)[1] is Action.ALLOW


def test_an_operator_adds_a_runtime_class() -> None:
    registry = site_registry("{deviceAccess: {runtimeClasses: [acme-accel]}}")
    pod = pod_of([container()], runtimeClassName="acme-accel")
    assert extract_workload(pod, registry=registry).accelerators != ()
    assert extract_workload(pod).accelerators == ()


# --- messages: what could not be identified, and how to fix it ----------------------------

MESSAGES = [
    (ACCESS[0][1], "Device access without a resource request at spec.containers[0].env[0]"),
    (claim_of("big-gpus"), "through DeviceClass 'big-gpus', which exportgate could not read"),
    (
        pod_of([container(resources={"limits": {"example.com/gpu": 1}})]),
        "The resource 'example.com/gpu'",
    ),
    (
        pod_of([container()], resourceClaims=[{"name": "g", "resourceClaimTemplateName": "t"}]),
        "The DRA ResourceClaimTemplate 't'",
    ),
]


@pytest.mark.parametrize(("obj", "words"), MESSAGES)
def test_denials_say_what_could_not_be_identified_and_how_to_fix_it(
    obj: dict[str, Any], words: str
) -> None:
    workload, _ = decide(obj)
    message = ENGINE.evaluate(workload, RESTRICTED, NOW).message
    assert words in message
    assert "pin a known product" in message and "adapter or alias" in message
    assert len(message) < 1500
