"""Words for what exportgate could not identify, and how to make it identifiable.

Every request extraction makes for something it cannot identify (device access without a
resource request, a DRA object it could not read, a resource name outside the vocabulary, an
object too large to search) is decided as the most restrictive product it could be. The message
must then say *what* could not be identified and *how* to fix it; `describe_unidentified` gives
the first half for each kind of unknown request, `HOW_TO_IDENTIFY` the second. A name the cloud's
operator defines (an OpenStack flavor, a vSphere VM class: adapter ``operatorDefined``) has its
own words instead, in `exportgate.core.operator_names`: no tenant can "name known instance
types" for it, only the platform team can list it.
"""

from __future__ import annotations

from exportgate.core.extract.access import DEVICE_ACCESS
from exportgate.core.extract.device_annotations import is_annotation_source
from exportgate.core.extract.dra_refs import CLAIM, CLAIM_TEMPLATE, DEVICE_CLASS
from exportgate.core.extract.generic import UNSEARCHABLE
from exportgate.core.extract.patches import POD_SPEC_PATCH
from exportgate.core.extract.pod_vm import is_pod_vm_source

HOW_TO_IDENTIFY = (
    "not identifiable: pin a known product with a node selector or, for a node pool, name "
    "known instance types in its own spec; or ask your platform team for an adapter or alias"
)


def describe_unidentified(resource: str, source: str, *, unknown_resource: bool) -> str | None:
    """A sentence subject naming the unidentified request, or None for an identified one.

    `unknown_resource` is True when the catalogue holds no product for `resource`.
    """
    where = f" at {source}" if source else ""
    if resource == DEVICE_ACCESS and is_annotation_source(source):
        return (
            f"A device handed to the pod by its annotation {source} (a GPU-sharing scheduler's "
            "share of a GPU, or a CDI device exportgate does not know), reaching any accelerator "
            "on its node"
        )
    if resource == DEVICE_ACCESS:
        return (
            f"Device access without a resource request{where}, reaching any accelerator on its node"
        )
    kind, _, name = resource.partition(" ")
    if kind == DEVICE_CLASS and name:
        return f"A DRA request{where} through DeviceClass {name!r}, which exportgate could not read"
    if kind in (CLAIM, CLAIM_TEMPLATE) and name:
        return f"The DRA {kind} {name!r} named{where}, which exportgate could not read"
    if resource == UNSEARCHABLE:
        return "An object too large or too deeply nested to search for pod specs"
    if resource == "nodepool" and source and is_pod_vm_source(source):
        # A peer pod's own cloud VM (`pod_vm`): its type unnamed, unreadable or not in
        # instance-types.yaml.
        return (
            f"The cloud VM the pod runs in (a Kata Containers peer pod, from {source}), whose "
            "instance type exportgate could not identify (name a known one with the pod "
            "annotation io.katacontainers.config.hypervisor.machine_type; a GPU count in "
            "io.katacontainers.config.hypervisor.default_gpus still lets cloud-api-adaptor "
            "before v0.16.0 choose a GPU type from its list instead)"
        )
    if resource == "nodepool" and not source:
        # The object as a whole: a kind read by a kindPattern adapter (a Cluster API provider's
        # machine kind exportgate has no adapter for), whose hardware fields it does not know.
        return (
            "A machine or node pool of a kind exportgate has no adapter for, whose hardware it "
            "cannot read"
        )
    if resource == "nodepool":
        # An instance type outside instance-types.yaml, or one set where exportgate cannot read
        # it (an EKS launch template): `where` names the field the pool's types come from.
        return f"A node pool{where} whose instance types exportgate could not identify"
    if resource == POD_SPEC_PATCH:
        return (
            f"A pod spec patch{where}, which exportgate does not read (it may set resources, "
            "environment, volumes or placement)"
        )
    if unknown_resource:
        return (
            f"The resource {resource!r}{where}, which exportgate does not recognise (if it is no "
            "accelerator, your platform team adds it to ignoredResources in an adapter file's "
            "vocabulary)"
        )
    return None


def through_annotation(source: str) -> str:
    """ " through the annotation <source>" for a request an annotation made (a CDI device of a
    known vendor), else "": the denial names what to change. Not "pod annotation": the
    annotation may sit on the object that makes the pods (an LLMInferenceService's Managed DRA
    annotations, a NIMService's spec.annotations, a sparkConf property), and its path says
    where."""
    return f" through the annotation {source}" if is_annotation_source(source) else ""
