"""Names a cloud's operator defines (exportgate/core/operator_names.py): the denial of an
OpenStack flavor or vSphere VM class says what could not be identified, why, and who can fix it.

Red team 14: the denial of a CAPO flavor told the tenant to "name known instance types in its
own spec", which no tenant can do: there is no public catalogue of OpenStack flavors. The
manifests below are the red team's (a CAPO OpenStackMachineTemplate with a flavor of the
cloud's own, a CAPV supervisor VSphereMachineTemplate with a VM class).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from exportgate.core.catalogue import builtin_catalogue
from exportgate.core.extract import extract_workload
from exportgate.core.extract.unknown import HOW_TO_IDENTIFY
from exportgate.core.limits import MAX_HINT_VALUE_CHARS
from exportgate.core.operator_names import (
    DOCS_SECTION,
    EXAMPLES,
    OPERATOR_DEFINED_KEY,
    operator_defined_hint,
    operator_defined_note,
)
from exportgate.core.types import AcceleratorRequest, Action, Operator, ProductHint
from tests.core.builders import NOW
from tests.core.extract.fail_closed import ENGINE, RESTRICTED

CAPO_TEMPLATE: dict[str, Any] = yaml.safe_load("""\
apiVersion: infrastructure.cluster.x-k8s.io/v1beta1
kind: OpenStackMachineTemplate
metadata: {name: workers, namespace: dragon-infra}
spec:
  template:
    spec:
      flavor: g1.h100x8
      image: {filter: {name: ubuntu-2204}}
      sshKeyName: default
""")

CAPV_SUPERVISOR_TEMPLATE: dict[str, Any] = yaml.safe_load("""\
apiVersion: vmware.infrastructure.cluster.x-k8s.io/v1beta1
kind: VSphereMachineTemplate
metadata: {name: tkg-workers, namespace: dragon-infra}
spec:
  template:
    spec: {className: best-effort-large, imageName: ubuntu-2204, storageClass: wcp-storage}
""")


def _message(obj: dict[str, Any]) -> str:
    decision = ENGINE.evaluate(extract_workload(obj), RESTRICTED, NOW)
    assert decision.action is Action.DENY
    return decision.violations[0].message


def test_the_hint_carries_what_the_names_are_and_the_name() -> None:
    assert operator_defined_hint("OpenStack flavor", " m1.large ") == ProductHint(
        OPERATOR_DEFINED_KEY, Operator.IN, ("OpenStack flavor", "m1.large")
    )
    # CAPO v1beta2 writes the flavor as an object: named by its field only. Blank, the same.
    for value in ({"filter": {"name": "m1.large"}}, "  ", None):
        assert operator_defined_hint("OpenStack flavor", value).values == ("OpenStack flavor",)


def test_the_note_says_what_why_and_who_fixes_it() -> None:
    hint = operator_defined_hint("OpenStack flavor", "g1.h100x8")
    note = operator_defined_note([hint], "spec.template.spec.flavor")
    # What could not be identified: the flavor, by name and field.
    assert note.startswith("the OpenStack flavor 'g1.h100x8' at spec.template.spec.flavor ")
    # Why: the cloud's operator chose the name; there is no public catalogue.
    assert "a name this cloud's operator chose, not one of a public catalogue" in note
    # What to do: the tenant asks the platform team or uses a listed one; the platform
    # engineer finds the docs section and the examples.
    assert "ask your platform team to list it in an exportgate adapter file" in note
    assert "or use one the file already lists" in note
    assert 'docs/policies.md, "Names a cloud\'s operator defines"' in note
    assert "examples/adapters/" in note and "--adapters" in note
    assert "instance type" not in note


def test_the_note_without_a_name_or_a_field() -> None:
    hint = operator_defined_hint("vSphere VM class", None)
    assert operator_defined_note([hint], "").startswith("the vSphere VM class is a name ")
    assert operator_defined_note([], "spec.flavor") == ""
    other = ProductHint("node.kubernetes.io/instance-type", Operator.IN, ("m5.large",))
    assert operator_defined_note([other], "spec.flavor") == ""


def test_a_long_name_is_cut_in_the_note() -> None:
    name = "x" * (MAX_HINT_VALUE_CHARS * 10)
    note = operator_defined_note([operator_defined_hint("OpenStack flavor", name)], "f")
    assert name not in note
    assert f"({len(name)} characters)" in note


def test_the_catalogue_makes_it_the_note_of_an_unpinned_request_only() -> None:
    catalogue = builtin_catalogue()
    hint = operator_defined_hint("OpenStack flavor", "g1.h100x8")
    unknown = catalogue.resolve(AcceleratorRequest("nodepool", 1, (hint,), "spec.flavor"))
    assert not unknown.pinned
    assert unknown.note == operator_defined_note([hint], "spec.flavor")
    # A platform's adapter that reads a GPU flavor as an instance type pins it: no note.
    pinned = AcceleratorRequest(
        "nodepool",
        1,
        (hint, ProductHint("node.kubernetes.io/instance-type", Operator.IN, ("p5.48xlarge",))),
        "spec.flavor",
    )
    assert catalogue.resolve(pinned).pinned
    assert catalogue.resolve(pinned).note == ""


@pytest.mark.parametrize(
    ("obj", "subject"),
    [
        (CAPO_TEMPLATE, "the OpenStack flavor 'g1.h100x8' at spec.template.spec.flavor"),
        (
            CAPV_SUPERVISOR_TEMPLATE,
            "the vSphere VM class 'best-effort-large' at spec.template.spec.className",
        ),
    ],
)
def test_the_denial_of_an_operator_defined_name_has_its_own_message(
    obj: dict[str, Any], subject: str
) -> None:
    message = _message(obj)
    assert subject + " is a name this cloud's operator chose" in message
    assert "ask your platform team to list it in an exportgate adapter file" in message
    assert HOW_TO_IDENTIFY not in message
    assert "name known instance types" not in message


def test_unknown_public_cloud_instance_types_keep_their_messages() -> None:
    # A public cloud's type exportgate cannot read (an EKS launch template): the tenant can
    # name known instance types, and the message still says so.
    node_group = {
        "apiVersion": "eks.services.k8s.aws/v1alpha1",
        "kind": "Nodegroup",
        "metadata": {"name": "ng", "namespace": "dragon-infra"},
        "spec": {"clusterName": "c", "name": "ng", "launchTemplate": {"name": "lt-p5"}},
    }
    message = _message(node_group)
    assert HOW_TO_IDENTIFY in message
    assert "operator chose" not in message
    # An instance type the catalogue does not list: the label value it could not identify.
    machine = {
        "apiVersion": "infrastructure.cluster.x-k8s.io/v1beta2",
        "kind": "AWSMachine",
        "metadata": {"name": "m", "namespace": "dragon-infra"},
        "spec": {"instanceType": "p9.48xlarge"},
    }
    message = _message(machine)
    assert "node.kubernetes.io/instance-type=p9.48xlarge is not one exportgate" in message
    assert "operator chose" not in message


def test_the_note_points_at_a_docs_section_and_examples_that_exist() -> None:
    root = Path(__file__).parents[2]
    path, _, section = DOCS_SECTION.partition(", ")
    headings = (root / path).read_text().splitlines()
    assert f"### {section.strip(chr(34))}" in headings
    examples = sorted(p.name for p in (root / EXAMPLES).glob("*.yaml"))
    assert {"openstack-flavors.yaml", "vsphere-vm-classes.yaml"} <= set(examples)
