"""`exportgate check` on machines whose hardware is a name the cloud's operator defines.

Red team 14: a CAPO OpenStackMachineTemplate and a CAPV supervisor VSphereMachineTemplate of a
restricted tenant were denied with "name known instance types in its own spec", which no tenant
can do for an OpenStack flavor or a vSphere VM class. The denial now names the flavor or class,
why exportgate cannot identify it, and that the platform team lists it in an adapter file (the
examples in examples/adapters/ do); exit codes and the JSON shape stay the contract (the
accelerator gains the optional `note` it already had for other unidentified requests).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli.helpers import AT, EXAMPLES, TENANTS, by_object, check

# The red team's manifests, in the namespace of the tenant whose ultimate parent is
# headquartered in China (examples/tenants.yaml: nimbus).
MACHINES = """\
apiVersion: v1
kind: Namespace
metadata:
  name: nimbus-infra
  labels: {exportgate.dev/tenant: nimbus}
---
apiVersion: infrastructure.cluster.x-k8s.io/v1beta1
kind: OpenStackMachineTemplate
metadata: {name: workers, namespace: nimbus-infra}
spec:
  template:
    spec:
      flavor: g1.h100x8
      image: {filter: {name: ubuntu-2204}}
      sshKeyName: default
---
apiVersion: infrastructure.cluster.x-k8s.io/v1beta1
kind: OpenStackMachineTemplate
metadata: {name: cpu-workers, namespace: nimbus-infra}
spec:
  template:
    spec:
      flavor: m1.medium
      image: {filter: {name: ubuntu-2204}}
---
apiVersion: vmware.infrastructure.cluster.x-k8s.io/v1beta1
kind: VSphereMachineTemplate
metadata: {name: tkg-gpu, namespace: nimbus-infra}
spec:
  template:
    spec: {className: vgpu-a100-40c, imageName: ubuntu-2204, storageClass: wcp-storage}
---
apiVersion: vmware.infrastructure.cluster.x-k8s.io/v1beta1
kind: VSphereMachineTemplate
metadata: {name: tkg-cpu, namespace: nimbus-infra}
spec:
  template:
    spec: {className: best-effort-large, imageName: ubuntu-2204, storageClass: wcp-storage}
"""

GPU_FLAVOR = "OpenStackMachineTemplate/nimbus-infra/workers"
CPU_FLAVOR = "OpenStackMachineTemplate/nimbus-infra/cpu-workers"
GPU_CLASS = "VSphereMachineTemplate/nimbus-infra/tkg-gpu"
CPU_CLASS = "VSphereMachineTemplate/nimbus-infra/tkg-cpu"
SUBJECTS = {
    GPU_FLAVOR: "the OpenStack flavor 'g1.h100x8' at spec.template.spec.flavor",
    CPU_FLAVOR: "the OpenStack flavor 'm1.medium' at spec.template.spec.flavor",
    GPU_CLASS: "the vSphere VM class 'vgpu-a100-40c' at spec.template.spec.className",
    CPU_CLASS: "the vSphere VM class 'best-effort-large' at spec.template.spec.className",
}
EXAMPLE_ADAPTERS = (
    EXAMPLES / "adapters" / "openstack-flavors.yaml",
    EXAMPLES / "adapters" / "vsphere-vm-classes.yaml",
)


@pytest.fixture
def machines(tmp_path: Path) -> Path:
    path = tmp_path / "machines.yaml"
    path.write_text(MACHINES)
    return path


def _assert_operator_defined_denial(result: dict[str, object], subject: str) -> None:
    assert result["decision"] == "deny"
    message = str(result["message"])
    assert f"{subject} is a name this cloud's operator chose, not one of a public" in message
    assert "ask your platform team to list it in an exportgate adapter file" in message
    assert "name known instance types" not in message
    (accelerator,) = result["accelerators"]  # type: ignore[misc]
    assert accelerator["resource"] == "nodepool" and accelerator["pinned"] is False
    assert accelerator["note"].startswith(subject)


def test_builtin_denies_every_flavor_and_vm_class_naming_it(machines: Path) -> None:
    process = check("--tenant", TENANTS, "--at", AT, "-o", "json", machines)
    assert process.returncode == 3, process.stderr
    found = by_object(process)
    for obj, subject in SUBJECTS.items():
        _assert_operator_defined_denial(found[obj], subject)


def test_the_example_adapters_admit_listed_names_and_deny_the_rest(machines: Path) -> None:
    adapters = [arg for path in EXAMPLE_ADAPTERS for arg in ("--adapters", str(path))]
    process = check("--tenant", TENANTS, *adapters, "--at", AT, "-o", "json", machines)
    assert process.returncode == 3, process.stderr
    found = by_object(process)
    for listed in (CPU_FLAVOR, CPU_CLASS):
        assert found[listed]["decision"] == "allow"
        assert found[listed]["accelerators"] == []
    for unlisted in (GPU_FLAVOR, GPU_CLASS):
        _assert_operator_defined_denial(found[unlisted], SUBJECTS[unlisted])


def test_text_output_shows_the_new_message(machines: Path) -> None:
    process = check("--tenant", TENANTS, "--at", AT, machines)
    assert process.returncode == 3
    assert "the OpenStack flavor 'g1.h100x8' at spec.template.spec.flavor is a name" in (
        process.stdout
    )
