"""vSphere VM Service virtual machines (exportgate/data/adapters/vsphere-vm-operator.yaml).

Red team 14 (after the operator-defined names fix): a tenant of a vSphere Supervisor namespace
creates a VM Operator VirtualMachine whose VM class carries a vGPU or DirectPath GPU; no pod is
ever created for it and no adapter read the kind, so exportgate admitted it. The VM class is now
an operator-defined name: denied for a restricted tenant with its own message unless a
platform's adapter file lists it (examples/adapters/vsphere-vm-classes.yaml), admitted for a
tenant in a permitted country.

The manifests are VM Operator's own samples (github.com/vmware-tanzu/vm-operator,
docs/concepts/workloads/vm-example.yaml, config/samples/vmoperator_v1alpha1_virtualmachine.yaml)
with the class and namespace the red team used.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from exportgate.core.decision import Decision
from exportgate.core.extract import AdapterRegistry, extract_workload, parse_adapter_text
from exportgate.core.extract.unknown import HOW_TO_IDENTIFY
from exportgate.core.kinds import guarded_kinds
from exportgate.core.types import Action, Tenant, Workload
from tests.core.builders import NOW, make_tenant
from tests.core.extract.fail_closed import ENGINE, RESTRICTED

ROOT = Path(__file__).resolve().parents[3]
EXAMPLE = ROOT / "examples" / "adapters" / "vsphere-vm-classes.yaml"
PERMITTED = make_tenant("us-corp", incorporation="US", headquarters="US")

# docs/concepts/workloads/vm-example.yaml, in a tenant's namespace.
VM_EXAMPLE = """\
apiVersion: vmoperator.vmware.com/v1alpha6
kind: VirtualMachine
metadata:
  name: my-vm
  namespace: dragon-vms
spec:
  className:    my-vm-class
  imageName:    vmi-0a0044d7c690bcbea
  storageClass: my-storage-class
  bootstrap:
    cloudInit:
      cloudConfig: {}
"""

# A VirtualMachineReplicaSet (v1alpha3 and later) of that VM.
REPLICA_SET = """\
apiVersion: vmoperator.vmware.com/v1alpha3
kind: VirtualMachineReplicaSet
metadata:
  name: my-vms
  namespace: dragon-vms
spec:
  replicas: 3
  selector:
    matchLabels: {app: my-vms}
  template:
    metadata:
      labels: {app: my-vms}
    spec:
      className:    my-vm-class
      imageName:    vmi-0a0044d7c690bcbea
      storageClass: my-storage-class
"""


def _vm(**spec: Any) -> dict[str, Any]:
    obj: dict[str, Any] = yaml.safe_load(VM_EXAMPLE)
    obj["spec"] = {k: v for k, v in {**obj["spec"], **spec}.items() if v is not None}
    return obj


def _decide(
    obj: dict[str, Any], *, registry: AdapterRegistry | None = None, tenant: Tenant = RESTRICTED
) -> tuple[Workload, Decision]:
    workload = extract_workload(obj, registry=registry)
    return workload, ENGINE.evaluate(workload, tenant, NOW)


def _example_registry() -> AdapterRegistry:
    return AdapterRegistry.builtin().extended([parse_adapter_text(EXAMPLE.read_text())])


def _only_nodepool(workload: Workload) -> str:
    (request,) = workload.accelerators
    assert request.resource == "nodepool"
    return request.source


def test_the_kinds_are_guarded_and_routed() -> None:
    kinds = {(k.group, k.kind): k for k in guarded_kinds()}
    for kind, plural in (
        ("VirtualMachine", "virtualmachines"),
        ("VirtualMachineReplicaSet", "virtualmachinereplicasets"),
    ):
        entry = kinds[("vmoperator.vmware.com", kind)]
        assert entry.plural == plural and not entry.cluster_scoped
    # The administrator's class is no request (a VM that names it is).
    assert ("vmoperator.vmware.com", "VirtualMachineClass") not in kinds


def test_a_vm_with_an_unlisted_class_is_denied_with_the_operator_defined_message() -> None:
    workload, decision = _decide(_vm())
    assert _only_nodepool(workload) == "spec.className"
    assert decision.action is Action.DENY
    message = decision.violations[0].message
    assert "the vSphere VM class 'my-vm-class' at spec.className is a name this cloud's " in message
    assert "ask your platform team to list it in an exportgate adapter file" in message
    assert HOW_TO_IDENTIFY not in message


@pytest.mark.parametrize("version", ["v1alpha1", "v1alpha2", "v1alpha5", "v1alpha6", "v1alpha9"])
def test_every_version_is_read(version: str) -> None:
    obj = _vm()
    obj["apiVersion"] = f"vmoperator.vmware.com/{version}"
    assert _decide(obj)[1].action is Action.DENY


def test_the_example_adapter_admits_its_listed_classes_only() -> None:
    registry = _example_registry()
    listed = _vm(className="best-effort-small")
    workload, decision = _decide(listed, registry=registry)
    assert workload.accelerators == () and decision.action is Action.ALLOW
    # A class it does not list, a class instance named alone, a classless VM: still unknown.
    for obj, source in (
        (_vm(), "spec.className"),
        (_vm(className=None, **{"class": {"name": "best-effort-small-1"}}), "spec.class.name"),
        (_vm(className=None), "spec"),
    ):
        workload, decision = _decide(obj, registry=registry)
        assert _only_nodepool(workload) == source
        assert decision.action is Action.DENY


def test_a_permitted_tenant_is_admitted() -> None:
    workload, decision = _decide(_vm(), tenant=PERMITTED)
    assert _only_nodepool(workload) == "spec.className"
    assert decision.action is Action.ALLOW
    rs: dict[str, Any] = yaml.safe_load(REPLICA_SET)
    assert _decide(rs, tenant=PERMITTED)[1].action is Action.ALLOW


def test_a_class_instance_named_without_a_class_is_the_operators_too() -> None:
    # spec.class names a VirtualMachineClassInstance; VM Operator's mutating webhook fills
    # className in from it, but exportgate does not count on running after it.
    obj = _vm(className=None, **{"class": {"name": "my-vm-class-7f9c2"}})
    workload, decision = _decide(obj)
    assert _only_nodepool(workload) == "spec.class.name"
    message = decision.violations[0].message
    assert "the vSphere VM class instance 'my-vm-class-7f9c2' at spec.class.name" in message
    # Both set (after the mutation): one request, for the class.
    both = _vm(**{"class": {"name": "my-vm-class-7f9c2"}})
    assert _only_nodepool(extract_workload(both)) == "spec.className"


def test_a_classless_vm_is_unknown_hardware() -> None:
    # config/samples/vmoperator_v1alpha1_virtualmachine.yaml names no class: a VM imported
    # from vSphere (VM Operator allows it to privileged users only) whose hardware no class
    # states.
    sample = yaml.safe_load(
        "apiVersion: vmoperator.vmware.com/v1alpha1\nkind: VirtualMachine\n"
        "metadata:\n  name: virtualmachine-sample\n  namespace: dragon-vms\n"
        "spec:\n  # Add fields here\n  foo: bar\n"
    )
    workload, decision = _decide(sample)
    assert _only_nodepool(workload) == "spec"
    assert decision.action is Action.DENY


def test_a_replica_set_is_read_like_its_vms() -> None:
    obj: dict[str, Any] = yaml.safe_load(REPLICA_SET)
    workload, decision = _decide(obj)
    assert _only_nodepool(workload) == "spec.template.spec.className"
    assert decision.action is Action.DENY
    assert "the vSphere VM class 'my-vm-class' at spec.template.spec.className" in (
        decision.violations[0].message
    )
    obj["spec"]["template"]["spec"]["className"] = "best-effort-large"
    workload, decision = _decide(obj, registry=_example_registry())
    assert workload.accelerators == () and decision.action is Action.ALLOW
