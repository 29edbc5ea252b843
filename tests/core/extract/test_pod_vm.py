"""Kata Containers peer pods: a pod in a cloud VM of its own (exportgate/core/extract/pod_vm.py).

Red team 13, F5: ``io.katacontainers.config.hypervisor.machine_type: p5.48xlarge`` on a pod of
the ``kata-remote`` RuntimeClass gives it a p5.48xlarge VM (eight H100s) of its own, and
exportgate admitted it as "nothing guarded". The VM is now judged as a machine of that
instance type; a plain type is admitted, an unknown one is not, and a peer pod whose type the
adaptor chooses is an unknown VM.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from exportgate.core.extract import extract_workload
from exportgate.core.extract.pod_vm import INSTANCE_TYPE_KEY, is_pod_vm_source
from exportgate.core.limits import MAX_HINT_VALUE_CHARS
from exportgate.core.types import Action, Operator, ProductHint
from tests.core.builders import NOW, make_tenant
from tests.core.extract.fail_closed import ENGINE, RESTRICTED, T4_GFD, decide, site_registry

PERMITTED = make_tenant("acme", incorporation="SG", headquarters="SG")
MACHINE_TYPE = "io.katacontainers.config.hypervisor.machine_type"
DEFAULT_GPUS = "io.katacontainers.config.hypervisor.default_gpus"

# The red team's manifest (f5-kata-peerpod.yaml).
PEER_POD_H100: dict[str, Any] = {
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {
        "name": "peerpod-h100",
        "namespace": "team",
        "annotations": {MACHINE_TYPE: "p5.48xlarge"},
    },
    "spec": {
        "runtimeClassName": "kata-remote",
        "containers": [{"name": "main", "image": "nvcr.io/nvidia/cuda:12.4.1-base-ubuntu22.04"}],
    },
}


def peer_pod(annotations: dict[str, Any] | None = None, **spec: Any) -> dict[str, Any]:
    pod = copy.deepcopy(PEER_POD_H100)
    pod["metadata"]["annotations"] = annotations or {}
    pod["spec"].update(spec)
    return pod


def vm_requests(obj: dict[str, Any]) -> list[tuple[str, tuple[Any, ...], str]]:
    return [
        (a.resource, a.hints, a.source)
        for a in extract_workload(obj).accelerators
        if a.resource == "nodepool"
    ]


def test_the_red_team_h100_peer_pod_is_denied_as_an_h100_machine() -> None:
    workload, action = decide(PEER_POD_H100)
    [request] = workload.accelerators
    assert request.resource == "nodepool"
    assert [h.values for h in request.hints if h.key == INSTANCE_TYPE_KEY] == [("p5.48xlarge",)]
    assert request.source == f'metadata.annotations["{MACHINE_TYPE}"]'
    assert action is Action.DENY
    decision = ENGINE.evaluate(workload, RESTRICTED, NOW)
    assert "H100" in decision.message
    assert ENGINE.evaluate(workload, PERMITTED, NOW).action is Action.ALLOW


def test_the_pods_node_placement_does_not_narrow_its_vm() -> None:
    # The pod is scheduled to a T4 node, but runs in the p5 VM.
    pinned = peer_pod(
        {MACHINE_TYPE: "p5.48xlarge"}, nodeSelector={"nvidia.com/gpu.product": T4_GFD}
    )
    assert decide(pinned)[1] is Action.DENY


# Annotations that make a pod without a RuntimeClass a VM request (the chart's pre-filter must
# send them: tests/charts/test_install.py).
POD_VM_ANNOTATIONS = [
    ("machine-type-h100", {MACHINE_TYPE: "p5.48xlarge"}),
    ("machine-type-plain", {MACHINE_TYPE: "m5.large"}),
    ("default-gpus", {DEFAULT_GPUS: "2"}),
]


@pytest.mark.parametrize(
    "annotations", [c[1] for c in POD_VM_ANNOTATIONS], ids=[c[0] for c in POD_VM_ANNOTATIONS]
)
def test_the_annotations_alone_make_a_vm_request(annotations: dict[str, Any]) -> None:
    pod = peer_pod(annotations)
    del pod["spec"]["runtimeClassName"]
    assert [a.resource for a in extract_workload(pod).accelerators] == ["nodepool"]


TYPES = [
    # (case, machine type, decision for a restricted tenant)
    ("aws-plain", "m5.large", Action.ALLOW),
    ("azure-plain", "Standard_D4s_v5", Action.ALLOW),
    ("azure-a100", "Standard_NC24ads_A100_v4", Action.DENY),
    ("gcp-a3", "a3-highgpu-8g", Action.DENY),
    ("aws-t4", "g4dn.xlarge", Action.ALLOW),
    ("unknown", "zz9.mega", Action.DENY),
]


@pytest.mark.parametrize(("value", "action"), [c[1:] for c in TYPES], ids=[c[0] for c in TYPES])
def test_the_instance_type_decides(value: str, action: Action) -> None:
    assert decide(peer_pod({MACHINE_TYPE: value}))[1] is action
    # After the adaptor's webhook: the VM token on the first container, the rest unchanged.
    mutated = peer_pod({MACHINE_TYPE: value})
    mutated["spec"]["containers"][0]["resources"] = {"limits": {"kata.peerpods.io/vm": "1"}}
    assert decide(mutated)[1] is action


def test_the_annotation_is_read_whatever_the_runtime_class() -> None:
    # kata-deploy can make the remote shim the default "kata" class, and the adaptor's webhook
    # watches a configurable class name: the type is read on any pod.
    for runtime_class in ("kata", "confidential", None):
        pod = peer_pod({MACHINE_TYPE: "p5.48xlarge"}, runtimeClassName=runtime_class)
        if runtime_class is None:
            del pod["spec"]["runtimeClassName"]
        assert decide(pod)[1] is Action.DENY


def test_a_peer_pod_whose_vm_the_adaptor_chooses_is_an_unknown_vm() -> None:
    bare = peer_pod()
    assert vm_requests(bare) == [("nodepool", (), "spec.runtimeClassName")]
    workload, action = decide(bare)
    assert action is Action.DENY
    message = ENGINE.evaluate(workload, RESTRICTED, NOW).message
    assert "Kata Containers peer pod" in message
    assert MACHINE_TYPE in message  # how to fix it
    assert ENGINE.evaluate(workload, PERMITTED, NOW).action is Action.ALLOW
    # The adaptor's webhook replaced the GPU request by default_gpus; the class is renamed.
    gpus = peer_pod({DEFAULT_GPUS: "1"}, runtimeClassName="confidential")
    assert vm_requests(gpus) == [("nodepool", (), f'metadata.annotations["{DEFAULT_GPUS}"]')]
    assert decide(gpus)[1] is Action.DENY
    token = peer_pod(runtimeClassName="confidential")
    token["spec"]["containers"][0]["resources"] = {"requests": {"kata.peerpods.io/vm": "1"}}
    assert vm_requests(token) == [
        (
            "nodepool",
            (),
            'spec.containers[0].resources.requests["kata.peerpods.io/vm"]',
        )
    ]
    # Named plain with no GPUs asked for, the VM is plain.
    assert decide(peer_pod({MACHINE_TYPE: "m5.large", DEFAULT_GPUS: "0"}))[1] is Action.ALLOW


# Red team 13b, H3 (kata/k1-type-plus-gpus.yaml): a plain type beside a GPU count. Up to
# cloud-api-adaptor v0.15.0 SelectInstanceTypeToUse chose by the GPU count first (reversed in
# dd4f8c0f, released in v0.16.0), so the pod may get a GPU VM of the administrator's list.
K1_TYPE_PLUS_GPUS: dict[str, Any] = {
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {
        "name": "k1",
        "namespace": "team",
        "annotations": {MACHINE_TYPE: "t3.large", DEFAULT_GPUS: "8"},
    },
    "spec": {
        "runtimeClassName": "kata-remote",
        "containers": [
            {"name": "c", "image": "ubuntu", "resources": {"limits": {"kata.peerpods.io/vm": "1"}}}
        ],
    },
}


def test_a_plain_type_beside_a_gpu_count_is_also_the_unknown_vm() -> None:
    assert vm_requests(K1_TYPE_PLUS_GPUS) == [
        ("nodepool", _type_hint("t3.large"), f'metadata.annotations["{MACHINE_TYPE}"]'),
        ("nodepool", (), f'metadata.annotations["{DEFAULT_GPUS}"]'),
    ]
    workload, action = decide(K1_TYPE_PLUS_GPUS)
    assert action is Action.DENY
    decision = ENGINE.evaluate(workload, RESTRICTED, NOW)
    assert "v0.16.0" in decision.message  # why a named type is not enough
    assert ENGINE.evaluate(workload, PERMITTED, NOW).action is Action.ALLOW
    # A typed H100 VM with GPUs is still judged as the H100 it names, beside the unknown one.
    h100 = peer_pod({MACHINE_TYPE: "p5.48xlarge", DEFAULT_GPUS: "8"})
    assert [hints for _, hints, _ in vm_requests(h100)] == [_type_hint("p5.48xlarge"), ()]
    # No GPUs asked for ("0", blank): the type alone decides.
    for none in ("0", " "):
        plain = peer_pod({MACHINE_TYPE: "t3.large", DEFAULT_GPUS: none})
        assert [hints for _, hints, _ in vm_requests(plain)] == [_type_hint("t3.large")]
        assert decide(plain)[1] is Action.ALLOW


def _type_hint(name: str) -> tuple[Any, ...]:
    return (ProductHint(INSTANCE_TYPE_KEY, Operator.IN, (name,)),)


def test_no_gpus_and_local_machine_models_name_no_vm() -> None:
    qemu = peer_pod({MACHINE_TYPE: "q35"}, runtimeClassName="kata-qemu")
    assert extract_workload(qemu).accelerators == ()
    assert decide(peer_pod({DEFAULT_GPUS: "0"}, runtimeClassName="kata-qemu"))[1] is Action.ALLOW
    # On a peer pod a local model names no type: the adaptor chooses, so it is unknown.
    assert decide(peer_pod({MACHINE_TYPE: "q35"}))[1] is Action.DENY


def test_unreadable_types_are_unknown_and_bounded() -> None:
    for value in (7, "p5." + "x" * MAX_HINT_VALUE_CHARS):
        [(resource, hints, source)] = vm_requests(peer_pod({MACHINE_TYPE: value}))
        assert (resource, hints) == ("nodepool", ())
        assert source == f'metadata.annotations["{MACHINE_TYPE}"]'
        assert decide(peer_pod({MACHINE_TYPE: value}))[1] is Action.DENY


def test_a_pod_template_carries_the_annotation_to_its_pods() -> None:
    deployment: dict[str, Any] = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "d", "namespace": "team"},
        "spec": {
            "template": {
                "metadata": {"annotations": {MACHINE_TYPE: "p5.48xlarge"}},
                "spec": {"runtimeClassName": "kata-remote", "containers": [{"image": "x"}]},
            }
        },
    }
    assert decide(deployment)[1] is Action.DENY
    deployment["spec"]["template"]["metadata"]["annotations"][MACHINE_TYPE] = "m5.large"
    assert decide(deployment)[1] is Action.ALLOW


def test_ordinary_pods_are_untouched() -> None:
    cpu = peer_pod({"prometheus.io/scrape": "true"}, runtimeClassName="gvisor")
    assert extract_workload(cpu).accelerators == ()
    assert decide(cpu)[1] is Action.ALLOW


def test_sources_are_told_apart() -> None:
    assert is_pod_vm_source(f'metadata.annotations["{MACHINE_TYPE}"]')
    assert is_pod_vm_source("spec.template.spec.runtimeClassName")
    assert is_pod_vm_source('spec.containers[0].resources.limits["kata.peerpods.io/vm"]')
    assert not is_pod_vm_source("spec.instanceType")


def test_a_platform_names_its_own_peer_pod_class() -> None:
    registry = site_registry("{deviceAccess: {podVmRuntimeClasses: [confidential-*]}}")
    pod = peer_pod(runtimeClassName="confidential-gpu")
    assert extract_workload(pod).accelerators == ()
    assert [a.resource for a in extract_workload(pod, registry=registry).accelerators] == [
        "nodepool"
    ]
