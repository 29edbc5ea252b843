"""Kind adapters: data that says where in an object its accelerators and models are.

An adapter is compiled from one entry of an adapter file (see `loader` and docs/policies.md)
and knows three kinds of places:

* ``podSpecs``: pod specs (with optional extra containers, bare resource requirements and
  scheduling overrides), read by `podspec.extract_pod_spec`;
* ``accelerators``: node pools and other custom resources that name accelerators directly, as a
  resource with a count and product hints taken from fields, node-pool requirements or label
  maps; or as elements handed to a named parser (``dra-device-request``, ``pod-spec-patch``,
  ``kserve-managed-dra`` ...);
* ``models``: fields holding model references, read with a named shape (``uri``, ``plain``,
  ``image``, ``args``, ``env``) and an optional provider.

Everything that is not a parser is data, so a platform engineer adds a kind without code.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from exportgate.core.catalogue import PROVISIONED_BY_KEY
from exportgate.core.errors import InputError
from exportgate.core.extract.access import DEVICE_ACCESS, volume_access
from exportgate.core.extract.dra import device_request, pod_claims
from exportgate.core.extract.dra_refs import NO_DRA_OBJECTS, DraObjects
from exportgate.core.extract.generic import generic_findings
from exportgate.core.extract.managed_dra import kserve_managed_dra
from exportgate.core.extract.models import MODEL_PARSERS, dedupe
from exportgate.core.extract.patches import pod_spec_patch
from exportgate.core.extract.paths import (
    FieldPath,
    compile_path,
    describe_type,
    expect_mapping,
    expect_string,
    join_key,
)
from exportgate.core.extract.podspec import extract_pod_spec
from exportgate.core.extract.properties import NO_PROPERTIES, PrefixedMap, PropertyRule
from exportgate.core.extract.quantity import parse_count
from exportgate.core.extract.resource_profile import kubeai_resource_profile
from exportgate.core.extract.selectors import (
    hints_from_labels,
    hints_from_node_selector,
    hints_from_requirements,
    label_map,
)
from exportgate.core.extract.vocabulary import DeviceAccess, Vocabulary
from exportgate.core.ignored_selectors import ignored_selector_hint
from exportgate.core.operator_names import operator_defined_hint
from exportgate.core.tenancy import tenant_label
from exportgate.core.types import AcceleratorRequest, ModelRequest, Operator, ProductHint

AcceleratorParser = Callable[[object, str, Vocabulary, DraObjects], list[AcceleratorRequest]]

APPLIED_LABEL = "exportgate.dev/applied-label"
"""Pseudo-key of a hint that a node pool puts a product label on its nodes (the value names the
label). The catalogue narrows nothing with it; it only makes the pool an accelerator pool."""

ACCELERATOR_PARSERS: Mapping[str, AcceleratorParser] = {
    "dra-device-request": device_request,
    "pod-spec-patch": pod_spec_patch,
    "kubeai-resource-profile": kubeai_resource_profile,
    "kserve-managed-dra": kserve_managed_dra,
}
"""The named parsers an ``accelerators[].parser`` may refer to: the parts that need code."""

EMBEDDED_ACCELERATOR_PARSERS = frozenset({"pod-spec-patch"})
EMBEDDED_MODEL_PARSERS = frozenset({"ray-serve-config"})
"""The parsers that read a YAML document out of a string field (see
`Adapter.reads_embedded_documents`)."""


@dataclass(frozen=True, slots=True)
class HintRule:
    """``key In (values at source)``; the source may hold one string or a list of strings.

    With `matching`, only values the pattern finds (``re.search``) become the hint: a field
    whose few values signal accelerators (an EKS ``amiType`` ending in ``_NVIDIA``) among many
    that signal nothing. A pattern with a group named ``value`` makes the hint that group's text
    instead of the whole value: the name at the end of a resource URL (a Compute Engine
    accelerator type given as ``projects/p/zones/z/acceleratorTypes/nvidia-tesla-t4``).

    With `joined` (``from`` written as a list, `source` its first path), the values of all the
    fields, strings or integers, are joined with ``:`` into one value: a VM device's PCI
    ``vendorId:deviceId`` (CAPV writes them as integers). An absent field leaves its part
    empty, and when none is present there is no hint."""

    key: str
    source: FieldPath
    matching: re.Pattern[str] | None = None
    joined: tuple[FieldPath, ...] = ()

    def read(self, element: object, base: str) -> list[tuple[str, tuple[str, ...]]]:
        """(field, hint values) for each place the rule finds under `element`."""
        if self.joined:
            found = _joined((self.source, *self.joined), element, base)
        else:
            resolved = self.source.resolve(element, base)
            found = [(where, _strings(value, where)) for where, value in resolved]
        if self.matching is not None:
            found = [(where, _matched(self.matching, values)) for where, values in found]
        return [(where, values) for where, values in found if values]


@dataclass(frozen=True, slots=True)
class Condition:
    """``when`` of an accelerator rule: the field at `source` (under the rule's element) holds
    one of `values` (or, `negate`d, a value outside them). Values compare as text, trimmed and
    without case (``true``, ``Auto``): a switch such as GKE's ``enableAutopilot`` or AKS's
    ``nodeProvisioningProfile.mode`` turns a request on. An absent field holds nothing, so
    the condition fails: a feature not set is not turned on.

    With `absent` set (``absent: true``), the condition is instead that the field holds
    nothing (`_holds_nothing`), anywhere the path leads; ``absent: false``, that it holds
    something. A rule then stands for what a pool is when none of the fields that would say
    its hardware is set: an AKS "VirtualMachines" pool with no size exportgate can read."""

    source: FieldPath
    values: frozenset[str] = frozenset()
    negate: bool = False
    absent: bool | None = None

    def holds(self, element: object, base: str) -> tuple[bool, str, object]:
        """(whether it holds, the field that made it hold and its value; "" and None for a
        field found absent)."""
        if self.absent is not None:
            found = self.source.resolve(element, base)
            present = [(where, value) for where, value in found if not _holds_nothing(value)]
            if self.absent:
                return not present, "", None
            return (True, *present[0]) if present else (False, "", None)
        for where, value in self.source.resolve(element, base):
            if (scalar_text(value, where) in self.values) != self.negate:
                return True, where, value
        return False, "", None


def _holds_nothing(value: object) -> bool:
    """Whether a field's value says nothing: an empty (or blank) string, list or object. A
    missing field or null is never resolved at all."""
    if isinstance(value, str):
        return not value.strip()
    if isinstance(value, Mapping | list | tuple):
        return not value
    return False


def scalar_text(value: object, field: str) -> str:
    """How `Condition` compares a YAML scalar: ``true``/``false``, numbers as written, strings
    trimmed and lower-cased. A list or mapping where a switch belongs is named, not guessed."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float | str):
        return str(value).strip().lower()
    raise InputError(
        f"expected a string, boolean or number, found {describe_type(value)}",
        field=field,
        hint="fix the manifest so the field has the type its API defines",
    )


@dataclass(frozen=True, slots=True)
class SchedulingRule:
    """Scheduling overrides at `each`, optionally only those whose `when` field holds one of
    `values` (a TrainJob override counts for the trainer job only when its targetJobs name
    it), read at `select` under each element (the element itself when None)."""

    each: FieldPath
    select: FieldPath | None = None
    when: FieldPath | None = None
    values: tuple[str, ...] = ()

    def resolve(self, spec: object, base: str) -> list[tuple[str, Any]]:
        found: list[tuple[str, Any]] = []
        for where, element in self.each.resolve(spec, base):
            if self.when is not None:
                named = {v for _, v in self.when.resolve(element, where) if isinstance(v, str)}
                if not named & set(self.values):
                    continue
            found.extend(self.select.resolve(element, where) if self.select else [(where, element)])
        return found


@dataclass(frozen=True, slots=True)
class PodSpecRule:
    """Pod specs at `path`; with `template`, `path` names pod templates (``podTemplates``):
    the spec is each template's ``spec``, and its ``metadata.annotations`` are the pod's."""

    path: FieldPath
    containers: tuple[FieldPath, ...] = ()
    as_container: bool = False
    """``asContainer``: the element at `path` is also its pod's main container (a NIMService's
    ``spec`` holds the NIM container's env, command, args and image beside the pod's
    placement; a Spark driver's SparkPodSpec its env and securityContext)."""
    resources: tuple[FieldPath, ...] = ()
    scheduling_from: tuple[SchedulingRule, ...] = ()
    pins: tuple[HintRule, ...] = ()
    """Node labels a controller adds to the pod from fields of the object (read from its root),
    such as KServe's ``serving.kserve.io/gke-accelerator`` annotation."""
    annotations: tuple[FieldPath, ...] = ()
    """Annotation maps every pod of the rule gets, read from the object's root (a Pod's own
    ``metadata.annotations``, an Argo Workflow's ``spec.podMetadata.annotations``, a KServe
    component's ``annotations``): some hand the pod a device (`device_annotations`)."""
    own_annotations: tuple[FieldPath, ...] = ()
    """``ownAnnotations``: annotation maps of each pod alone, read under the element `path`
    names (an Argo template's ``metadata.annotations``, a Spark driver's ``annotations``), so
    that one template's annotations are not read as another's."""
    properties: PropertyRule | None = None
    """``properties``: a property map (read from the object's root) whose keys the controller
    turns into annotations, node selectors and resources of every pod of the rule (a
    SparkApplication's ``spec.sparkConf``; see `properties`)."""
    volumes: VolumeRule | None = None
    """``volumes``: volumes a controller adds to the rule's pods from elsewhere in the object
    (a SparkApplication's ``spec.volumes``, see `VolumeRule`)."""
    template: bool = False

    def pods(self, obj: Mapping[str, Any]) -> list[tuple[str, Any, list[tuple[str, Any]]]]:
        """(field, pod spec, the pod's own annotation maps) for every pod spec in `obj`."""
        if not self.template:
            return [
                (field, spec, _under(self.own_annotations, spec, field))
                for field, spec in self.path.resolve(obj)
            ]
        found = []
        for where, template in self.path.resolve(obj):
            # As strict as resolving "<path>.spec" was: a template that is no mapping is named.
            spec = expect_mapping(template, where).get("spec")
            if spec is not None:
                own = _POD_ANNOTATIONS.resolve(template, where)
                found.append((join_key(where, "spec"), spec, own))
        return found


@dataclass(frozen=True, slots=True)
class VolumeRule:
    """``volumes: {from, mountedBy}``: the volumes at `source` (read from the object's root),
    added to each pod of the rule; with `mounted_by` (read under the rule's element), only those
    whose names it holds. The Spark Operator gives the driver's pod the volumes of
    ``spec.volumes`` that ``spec.driver.volumeMounts`` name (sparkpod_defaulter.go addVolumes;
    spark-local-dir-* volumes through spark-submit), and the executors' likewise."""

    source: FieldPath
    mounted_by: FieldPath | None = None

    def access(
        self, obj: Mapping[str, Any], element: object, base: str, access: DeviceAccess
    ) -> list[tuple[str, str, int]]:
        """(field, `DEVICE_ACCESS`, 1) for each added volume whose host path reaches devices."""
        mounted: set[str] | None = None
        if self.mounted_by is not None:
            found = self.mounted_by.resolve(element, base)
            mounted = {name for _, name in found if isinstance(name, str)}
        requests: list[tuple[str, str, int]] = []
        for where, volume in self.source.resolve(obj):
            if mounted is not None and expect_mapping(volume, where).get("name") not in mounted:
                continue
            requests.extend(
                (found, DEVICE_ACCESS, 1) for found in volume_access(volume, where, access)
            )
        return requests


_POD_ANNOTATIONS = compile_path("metadata.annotations")
_SPEC_ONLY = PodSpecRule(compile_path("spec"), annotations=(_POD_ANNOTATIONS,))


@dataclass(frozen=True, slots=True)
class AcceleratorRule:
    each: FieldPath | None = None
    parser: str | None = None
    resource: str | None = None
    resource_from: FieldPath | None = None
    count: int = 1
    count_from: FieldPath | None = None
    hints: tuple[HintRule, ...] = ()
    requirements: tuple[FieldPath, ...] = ()
    node_selectors: tuple[FieldPath | PrefixedMap, ...] = ()
    """Label maps ANDed into the placement: fields, or ``{from, keyPrefix}`` property keys
    (`PrefixedMap`: Spark's ``spark.kubernetes.node.selector.<label>``)."""
    require_hints: bool = False
    instance_keys: frozenset[str] | None = None
    """For a provisioner's requirements (Karpenter): the keys it resolves from instance data.
    A requirement on any other key does not limit what it launches; it is a label the provisioner
    puts on its nodes (see `applied_labels`). None: every requirement limits placement."""
    applied_labels: tuple[FieldPath, ...] = ()
    """Label maps the provisioner puts on the nodes it launches (Karpenter's template labels)."""
    when: tuple[Condition, ...] = ()
    """Conditions that must all hold for the element to make a request (``when``)."""
    provisions: str = ""
    """``provisions``: the feature the rule's request stands for when it provisions nodes for
    workloads this exportgate does not see (GKE Autopilot); a hint under `PROVISIONED_BY_KEY`
    that narrows nothing and makes the denial say why the hardware cannot be known."""
    operator_defined: str = ""
    """``operatorDefined``: what the names the rule reads are when a cloud's operator defines
    them (``OpenStack flavor``, ``vSphere VM class``): a hint (`operator_names`) that narrows
    nothing and makes the denial say that only the platform team can list the name. The name
    shown is the value of the field the request comes from (the element at ``each``, else the
    first ``when`` field that held)."""


@dataclass(frozen=True, slots=True)
class ModelRule:
    path: FieldPath
    parse: str
    provider: str | None = None
    provider_from: FieldPath | None = None
    fallback: bool = False


@dataclass(frozen=True, slots=True)
class Adapter:
    """Where accelerators and models live in the objects of some kinds of one API group."""

    group: str
    kinds: tuple[str, ...]
    versions: tuple[str, ...] | None  # None: every version
    kind_pattern: re.Pattern[str] | None = None
    """``kindPattern``: the adapter describes every kind of its group whose whole name matches
    and that no adapter names (`kinds` is then empty). A new provider's machine kind is then
    read as a node pool of unknown hardware rather than searched for pod specs and passed."""
    pod_specs: tuple[PodSpecRule, ...] = ()
    accelerators: tuple[AcceleratorRule, ...] = ()
    models: tuple[ModelRule, ...] = ()
    cluster_scoped: bool = False
    """``scope: Cluster``: objects have no namespace and carry their tenant label themselves.
    Namespaced is the default because a wrong Namespaced only stops a manifest's own label from
    choosing its tenant, while a wrong Cluster would let any manifest name one."""
    generic: bool = False
    """``generic: true``: the object is also searched the way a kind without an adapter is
    (`generic`), for pod specs and container-shaped mappings anywhere. An adapter that only
    adds what the search cannot see (a model in a URL field, a GPU in a profile name) then
    keeps everything the search found, rather than losing it by describing the kind."""
    description: str = ""
    origin: str = ""  # "file:line" of the entry, for messages and `exportgate` diagnostics

    def matches_version(self, version: str) -> bool:
        return self.versions is None or version in self.versions

    def matches_kind(self, kind: str) -> bool:
        """Whether `kind` is one of `kinds` or, for a pattern adapter, matches its pattern."""
        if self.kind_pattern is not None:
            return self.kind_pattern.fullmatch(kind) is not None
        return kind in self.kinds

    @property
    def reads_spec_only(self) -> bool:
        """True when `apply` reads nothing of the object but its ``spec``, as a pod spec, and
        the pod's own annotations: the built-in Pod adapter (``podSpecs: [{path: spec,
        annotations: [metadata.annotations]}]``). Its findings are then a function of the spec
        and the annotations that hand out devices (`device_annotations`), unless the spec names
        DRA claims (`dra.CLAIM_LISTS`), which are looked up by namespace;
        `AdapterRegistry.extract` may remember them per spec and those annotations
        (`FindingsMemo`)."""
        return (
            not self.accelerators
            and not self.models
            and not self.generic
            and self.pod_specs == (_SPEC_ONLY,)
        )

    @property
    def reads_embedded_documents(self) -> bool:
        """True when a rule parses a YAML document held in a string field (a Ray Serve config,
        an Argo pod spec patch): slower per byte than anything else extraction does, so the
        webhook extracts such objects off its event loop (`limits.MAX_EMBEDDED_CHARS`)."""
        return any(rule.parse in EMBEDDED_MODEL_PARSERS for rule in self.models) or any(
            rule.parser in EMBEDDED_ACCELERATOR_PARSERS for rule in self.accelerators
        )

    def apply(
        self,
        obj: Mapping[str, Any],
        vocabulary: Vocabulary,
        dra: DraObjects = NO_DRA_OBJECTS,
        namespace: str | None = None,
    ) -> tuple[tuple[AcceleratorRequest, ...], tuple[ModelRequest, ...]]:
        accelerators: list[AcceleratorRequest] = []
        models: list[ModelRequest] = []

        def claims(pod: Mapping[str, Any], field: str) -> list[AcceleratorRequest]:
            return pod_claims(pod, field, namespace, vocabulary, dra)

        for rule in self.pod_specs:
            pins = _pins(rule.pins, obj)
            shared = _under(rule.annotations, obj, "")
            added = rule.properties.read(obj, vocabulary) if rule.properties else NO_PROPERTIES
            for field, spec, own in rule.pods(obj):
                volumes = (
                    rule.volumes.access(obj, spec, field, vocabulary.device_access)
                    if rule.volumes is not None
                    else []
                )
                findings = extract_pod_spec(
                    spec,
                    field,
                    vocabulary,
                    extra_containers=[
                        *([(field, spec)] if rule.as_container else []),
                        *_under(rule.containers, spec, field),
                    ],
                    extra_resources=_under(rule.resources, spec, field),
                    scheduling=[
                        found
                        for sched in rule.scheduling_from
                        for found in sched.resolve(spec, field)
                    ],
                    pins=pins,
                    claims=claims,
                    annotations=[*shared, *own, *added.annotations],
                    requests=[*added.requests, *volumes],
                    selectors=added.selectors,
                    ignorable_selectors=added.ignorable_selectors,
                )
                accelerators.extend(findings.accelerators)
                models.extend(findings.models)
        tenant_owned = self.cluster_scoped and tenant_label(obj) is not None
        for accelerator_rule in self.accelerators:
            accelerators.extend(
                _accelerators(accelerator_rule, obj, vocabulary, dra, tenant_owned=tenant_owned)
            )
        if self.generic:
            searched_accelerators, searched_models = generic_findings(
                obj, vocabulary, dra, namespace
            )
            accelerators.extend(searched_accelerators)
            models.extend(searched_models)
        primary, fallback = _models(self.models, obj)
        models.extend(primary)
        return tuple(accelerators), dedupe(models or fallback)


def _pins(rules: tuple[HintRule, ...], obj: Mapping[str, Any]) -> dict[str, str]:
    pins: dict[str, str] = {}
    for rule in rules:
        for where, value in rule.source.resolve(obj):
            text = expect_string(value, where).strip()
            if text:
                pins[rule.key] = text
    return pins


def _under(paths: tuple[FieldPath, ...], root: object, base: str) -> list[tuple[str, Any]]:
    found: list[tuple[str, Any]] = []
    for path in paths:
        found.extend(path.resolve(root, base))
    return found


def _accelerators(
    rule: AcceleratorRule,
    obj: Mapping[str, Any],
    vocabulary: Vocabulary,
    dra: DraObjects,
    *,
    tenant_owned: bool = False,
) -> list[AcceleratorRequest]:
    elements = rule.each.resolve(obj) if rule.each is not None else [("", obj)]
    found: list[AcceleratorRequest] = []
    for base, element in elements:
        if rule.parser is not None:
            found.extend(ACCELERATOR_PARSERS[rule.parser](element, base, vocabulary, dra))
            continue
        found.extend(_declared_requests(rule, element, base, vocabulary, tenant_owned=tenant_owned))
    return found


def _declared_requests(
    rule: AcceleratorRule,
    element: object,
    base: str,
    vocabulary: Vocabulary,
    *,
    tenant_owned: bool = False,
) -> list[AcceleratorRequest]:
    """The element's request; two readings of it when node selectors the controller may not
    apply narrow it (``mayBeIgnored``: with them, and without them)."""
    sources: list[str] = [base] if base else []
    named: object = element if base else None  # the value at sources[0], for operatorDefined
    for condition in rule.when:
        holds, where, value = condition.holds(element, base)
        if not holds:
            return []
        if where:
            named = value if not sources else named
            sources.append(where)
    resource = rule.resource
    if rule.resource_from is not None:
        named = rule.resource_from.first(element, base)
        if named is None:
            return []  # the field that names the resource is absent: nothing requested
        sources.append(named[0])
        resource = expect_string(named[1], named[0]).strip()
        if not resource:
            return []
    count = rule.count
    if rule.count_from is not None:
        counted = rule.count_from.first(element, base)
        if counted is not None:
            count = parse_count(counted[1], counted[0])
    hints: list[ProductHint] = []
    if rule.provisions:
        hints.append(ProductHint(PROVISIONED_BY_KEY, Operator.IN, (rule.provisions,)))
    if rule.operator_defined:
        hints.append(operator_defined_hint(rule.operator_defined, named))
    for hint_rule in rule.hints:
        for where, values in hint_rule.read(element, base):
            hints.append(ProductHint(hint_rule.key, Operator.IN, values))
            sources.append(where)
    ignorable: list[ProductHint] = []  # selectors the controller may not apply (mayBeIgnored)
    notes: list[str] = []
    for path in rule.node_selectors:
        for where, value in path.resolve(element, base):
            found = hints_from_node_selector(value, where, vocabulary.hint_keys)
            if found and isinstance(path, PrefixedMap) and path.ignored_note:
                ignorable.extend(found)
                notes.append(path.ignored_note)
                continue
            hints.extend(found)
            sources.extend([where] if found else [])
    for path in rule.requirements:
        for where, value in path.resolve(element, base):
            found = hints_from_requirements(value, where, vocabulary.hint_keys)
            if rule.instance_keys is not None:
                applied = [h for h in found if h.key not in rule.instance_keys]
                found = tuple(h for h in found if h.key in rule.instance_keys)
                found += _applied_labels(applied, where, vocabulary, tenant_owned=tenant_owned)
            hints.extend(found)
            sources.extend([where] if found else [])
    for path in rule.applied_labels:
        for where, value in path.resolve(element, base):
            labels = hints_from_labels(label_map(value, where), vocabulary.hint_keys)
            found = _applied_labels(labels, where, vocabulary, tenant_owned=tenant_owned)
            hints.extend(found)
            sources.extend([where] if found else [])
    if count == 0 or (rule.require_hints and not hints) or resource is None:
        return []
    source = sources[0] if sources else ""
    if not ignorable:
        return [AcceleratorRequest(resource, count, tuple(hints), source)]
    # Read with and without the selectors the controller may not apply (ignored_selectors).
    marked = tuple(ignored_selector_hint(why) for why in dict.fromkeys(notes))
    return [
        AcceleratorRequest(resource, count, (*hints, *ignorable), source),
        AcceleratorRequest(resource, count, (*hints, *marked), source),
    ]


def _applied_labels(
    hints: Iterable[ProductHint], field: str, vocabulary: Vocabulary, *, tenant_owned: bool
) -> tuple[ProductHint, ...]:
    """Product-hint labels a provisioner puts on the nodes it launches, as hints that narrow
    nothing (they say what the pool's author wants the nodes called, not what they carry).

    A tenant's pool may not set a label exportgate reads as evidence of a product: pods pinned
    to that label would be admitted for whatever hardware the pool launches. It is refused.
    """
    found: list[ProductHint] = []
    for hint in hints:
        sets_label = hint.operator not in (Operator.NOT_IN, Operator.DOES_NOT_EXIST)
        if tenant_owned and sets_label and hint.key in vocabulary.hint_keys.meanings:
            raise InputError(
                f"a tenant's node pool may not put the label {hint.key} on its nodes: it is a "
                "label exportgate and pods read as proof of the accelerator a node carries, and "
                "the provisioner applies it to whatever instance type it launches",
                field=field,
                hint="remove it; constrain the hardware with the provisioner's instance labels "
                "(node.kubernetes.io/instance-type, karpenter.k8s.aws/instance-family or "
                "instance-gpu-name) and let the platform's node labelling set product labels",
            )
        found.append(ProductHint(APPLIED_LABEL, Operator.IN, (hint.key,)))
    return tuple(dict.fromkeys(found))


def _matched(pattern: re.Pattern[str], values: tuple[str, ...]) -> tuple[str, ...]:
    """The values `pattern` finds, or its ``value`` group's text when it has one (see
    `HintRule`). A value it does not find is left out."""
    found: list[str] = []
    for value in values:
        match = pattern.search(value)
        if match is None:
            continue
        text = match.group("value") if "value" in pattern.groupindex else value
        if text:
            found.append(text)
    return tuple(dict.fromkeys(found))


def _joined(
    paths: tuple[FieldPath, ...], element: object, base: str
) -> list[tuple[str, tuple[str, ...]]]:
    """The values at `paths`, one each, joined with ``:`` (see `HintRule.joined`): [(the first
    field found, (joined value,))], or [] when none of the fields is set."""
    parts: list[str] = []
    first = ""
    for path in paths:
        found = path.resolve(element, base)
        if len(found) > 1:
            raise InputError(
                f"expected one value to join, found {len(found)}",
                field=found[1][0],
                hint="a joined hint reads one field per part; name it without wildcards",
            )
        if not found:
            parts.append("")  # an absent part: the value names nothing the catalogue holds
            continue
        where, value = found[0]
        first = first or where
        parts.append(_part_text(value, where))
    return [(first, (":".join(parts),))] if first else []


def _part_text(value: object, field: str) -> str:
    """A joined part as text: a string trimmed, an integer in decimal. Integers are as long as
    the document reader let them be (Python refuses integer text past 4300 digits), and the
    catalogue reads no value longer than `limits.MAX_HINT_VALUE_CHARS`."""
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, str):
        return value.strip()
    raise InputError(
        f"expected a string or an integer, found {describe_type(value)}",
        field=field,
        hint="fix the manifest so the field has the type its API defines",
    )


def _strings(value: object, field: str) -> tuple[str, ...]:
    if isinstance(value, list | tuple):
        items = [expect_string(item, f"{field}[{i}]").strip() for i, item in enumerate(value)]
    else:
        items = [expect_string(value, field).strip()]
    return tuple(dict.fromkeys(item for item in items if item))


def _models(
    rules: tuple[ModelRule, ...], obj: Mapping[str, Any]
) -> tuple[list[ModelRequest], list[ModelRequest]]:
    primary: list[ModelRequest] = []
    fallback: list[ModelRequest] = []
    for rule in rules:
        provider = rule.provider
        if rule.provider_from is not None:
            named = rule.provider_from.first(obj)
            if named is not None:
                provider = expect_string(named[1], named[0]).strip() or provider
        parse = MODEL_PARSERS[rule.parse]
        for where, value in rule.path.resolve(obj):
            (fallback if rule.fallback else primary).extend(parse(value, where, provider))
    return primary, fallback
