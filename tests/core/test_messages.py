"""The remedy a denial gives fits what was denied (exportgate/core/messages.py, `{allowedHint}`).

Red team 14: the denial of a machine template or node pool of unknown hardware (a CAPV
supervisor VSphereMachineTemplate, a VM Service VirtualMachine) told the tenant to "pin an
allowed product with nodeSelector nvidia.com/gpu.product=...", which a machine has no place
for: its hardware is the machine type it names. Pods and workloads keep the nodeSelector; node
pools, machines and a pod's own VM are told to name a known machine type (one the platform team
lists, for names only the cloud's operator defines), and a kind without an adapter to ask for
one. Rule ids, JSON keys and the policies' remedy templates stay as they were.
"""

from __future__ import annotations

from typing import Any

import yaml

from exportgate.core.decision import Violation
from exportgate.core.extract import extract_workload
from exportgate.core.types import Action, EffectiveVerification
from tests.core.builders import NOW, make_tenant
from tests.core.extract.fail_closed import ENGINE, RESTRICTED

NODE_SELECTOR = "by pinning an allowed product with nodeSelector nvidia.com/gpu.product="
MACHINE_TYPE = (
    "by naming, in the object's own spec, a known machine type (a public cloud's instance "
    "type, or a flavor or VM class your platform team lists in an adapter file) that has an "
    "allowed accelerator ("
)

# The red team's manifests.
CAPV_SUPERVISOR_TEMPLATE = """\
apiVersion: vmware.infrastructure.cluster.x-k8s.io/v1beta1
kind: VSphereMachineTemplate
metadata: {name: tkg-gpu, namespace: dragon-infra}
spec:
  template:
    spec: {className: vgpu-a100-40c, imageName: ubuntu-2204, storageClass: wcp-storage}
"""
VM_SERVICE_VM = """\
apiVersion: vmoperator.vmware.com/v1alpha6
kind: VirtualMachine
metadata: {name: my-vm, namespace: dragon-vms}
spec: {className: my-vm-class, imageName: vmi-0a0044d7c690bcbea, storageClass: my-storage-class}
"""
GPU_POD = """\
apiVersion: v1
kind: Pod
metadata: {name: trainer, namespace: dragon}
spec:
  containers:
    - name: main
      image: nvcr.io/nvidia/pytorch:24.05-py3
      resources: {limits: {nvidia.com/gpu: 1}}
"""


def _violation(manifest: str | dict[str, Any], tenant: Any = RESTRICTED) -> Violation:
    obj = yaml.safe_load(manifest) if isinstance(manifest, str) else manifest
    decision = ENGINE.evaluate(extract_workload(obj), tenant, NOW)
    assert decision.action is Action.DENY
    return decision.violations[0]


def test_a_pod_is_still_told_to_pin_with_a_node_selector() -> None:
    violation = _violation(GPU_POD)
    assert violation.rule_id == "ear-3a090-d5-macau"
    assert NODE_SELECTOR in violation.remedy
    assert "machine type" not in violation.remedy


def test_machines_of_operator_defined_classes_are_told_to_name_a_known_machine_type() -> None:
    for manifest in (CAPV_SUPERVISOR_TEMPLATE, VM_SERVICE_VM):
        violation = _violation(manifest)
        assert violation.rule_id == "ear-3a090-d5-macau"
        assert MACHINE_TYPE in violation.remedy, violation.remedy
        assert "nodeSelector" not in violation.remedy
        # The rest of the policy's remedy is unchanged.
        assert "or ask your provider to record a valid BIS licence covering" in violation.remedy
        assert set(violation.to_dict()) == set(_violation(GPU_POD).to_dict())


def test_an_identified_controlled_instance_type_is_told_to_name_another() -> None:
    machine = {
        "apiVersion": "infrastructure.cluster.x-k8s.io/v1beta2",
        "kind": "AWSMachineTemplate",
        "metadata": {"name": "p5", "namespace": "dragon-infra"},
        "spec": {"template": {"spec": {"instanceType": "p5.48xlarge"}}},
    }
    remedy = _violation(machine).remedy
    # Pinned: the product is known, so no list of allowed ones is offered, and no adapter.
    assert "by naming, in the object's own spec, a known machine type that has no controlled" in (
        remedy
    )
    assert "adapter file" not in remedy and "nodeSelector" not in remedy


def test_a_machine_kind_without_an_adapter_is_told_to_ask_for_one() -> None:
    machine = {
        "apiVersion": "infrastructure.cluster.x-k8s.io/v1beta1",
        "kind": "NutanixMachineTemplate",
        "metadata": {"name": "gpu", "namespace": "dragon-infra"},
        "spec": {"template": {"spec": {"vcpusPerSocket": 4}}},
    }
    remedy = _violation(machine).remedy
    assert "by using a machine kind exportgate has an adapter for" in remedy
    assert "asking your platform team for an adapter file that reads this kind's" in remedy
    assert "nodeSelector" not in remedy


def test_a_peer_pods_vm_is_told_to_name_its_instance_type() -> None:
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": "peerpod-h100",
            "namespace": "team",
            "annotations": {"io.katacontainers.config.hypervisor.machine_type": "p5.48xlarge"},
        },
        "spec": {
            "runtimeClassName": "kata-remote",
            "containers": [{"name": "main", "image": "nvcr.io/nvidia/cuda:12.4.1-base"}],
        },
    }
    remedy = _violation(pod).remedy
    assert "by giving the pod's VM a known instance type that has no controlled accelerator" in (
        remedy
    )
    assert "nodeSelector" not in remedy


def test_an_unverified_tenants_remedy_fits_the_kind_too() -> None:
    pending = make_tenant("pending-corp", incorporation="US", headquarters="US", state="Pending")
    decision = ENGINE.evaluate(extract_workload(yaml.safe_load(VM_SERVICE_VM)), pending, NOW)
    assert decision.verification is EffectiveVerification.PENDING
    assert decision.action is Action.DENY
    remedy = decision.violations[0].remedy
    assert "Wait for your provider's KYC team to complete verification" in remedy
    assert "nodeSelector" not in remedy and "known machine type" in remedy
