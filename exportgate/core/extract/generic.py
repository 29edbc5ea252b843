"""The generic fallback: pod specs and containers found anywhere in an object no adapter describes.

Kinds without an adapter (a new CRD, a Tekton TaskRun, a Volcano Job, an operator's own kind)
are not harmless just because exportgate has no data on them: whatever carries a pod template,
a container or resource requirements will run something that may use an accelerator.
`find_pod_specs` walks the whole object (every top-level field but ``apiVersion``, ``kind``,
``metadata`` and ``status``: a pod template may sit at the top, like core PodTemplate's
``template``) and yields, as pod specs the registry reads like any pod,

* every mapping with a ``containers`` or ``initContainers`` list of container-shaped mappings
  (a pod spec, or a container list inlined beside scheduling fields); its containers are its
  own, so it is not searched further;
* every Argo-style mapping with one ``container`` or ``script`` beside the pod's scheduling
  (or Dynamo's ``mainContainer`` in its ``extraPodSpec``), also beside container lists;
* every other *container-shaped* mapping: one with an ``image`` string (``spec.worker``,
  Tekton ``steps[]``, ``containers`` written as a map), or with ``resources`` or
  ``computeResources`` shaped like resource requirements (``spec.resources.limits``, the shape
  NIM, TrainJob and many operators use), or a flat map of amounts read as limits and named by
  its own fields (``spec.deploymentConfig.resources.gpu``). It is read as a pod of one
  container placed by its own ``nodeSelector``/``affinity`` only, and the search goes on
  below it. The vocabulary names further fields of such a pod (`PodKeys`): the spec its
  container runs in, its annotations, its runtime class, another container of it; a mapping
  with annotations or a runtime class under those keys is such a pod even with no container
  fields (production-stack's ``deploymentConfig``, a Dynamo service).

A pod spec found under the ``spec`` key of a mapping that also has ``metadata`` (a pod template,
or the object itself), and an Argo-style ``container``/``script`` template beside ``metadata``,
is read with that metadata's annotations, as the pod's: some hand the pod a device
(`device_annotations`).

The walk is bounded (`MAX_DEPTH`, `MAX_NODES`) so that no input can stall admission; an object
too large or too deep to walk is reported as an unknown accelerator rather than passed.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from exportgate.core.extract.count_keys import short_counts
from exportgate.core.extract.dra import pod_claims
from exportgate.core.extract.dra_refs import DraObjects
from exportgate.core.extract.models import dedupe
from exportgate.core.extract.paths import join_index, join_key
from exportgate.core.extract.podspec import extract_pod_spec
from exportgate.core.extract.quantity import is_quantity, parse_count
from exportgate.core.extract.vocabulary import Vocabulary
from exportgate.core.types import AcceleratorRequest, ModelRequest

MAX_DEPTH = 12
"""Deepest nesting searched: pod specs sit at depth 2-8 in every kind we know (CronJob: 5,
Argo Workflow templates: 4, Volcano tasks: 5, Seldon: 6)."""
MAX_NODES = 20_000
"""Most values visited in one object; beyond this the object is too large to read."""

TOO_LARGE = "object too large to search for pod specs"

_NOT_SEARCHED = frozenset({"apiVersion", "kind", "metadata", "status"})
"""Top-level fields that hold no pod: identity, labels and annotations, and what controllers
report (status is not what runs)."""


class SearchLimit(Exception):
    """The object is larger or deeper than the bounded search reads."""


Found = tuple[
    str,
    Mapping[str, Any],
    tuple[tuple[str, Any], ...],
    tuple[tuple[str, Any], ...],
    tuple[tuple[str, Any], ...],
]
"""(field, pod-spec-like mapping, bare resource requirements beside its containers, the pod's
annotation maps as (field, map), containers of the pod outside its lists as (field, container):
an Argo template's ``container``, Dynamo's ``mainContainer``)."""


@dataclass(frozen=True, slots=True)
class PodKeys:
    """The vocabulary's keys of a container-shaped mapping's pod (see `_container_pod`)."""

    spec: frozenset[str] = frozenset()
    """``podSpecKeys``: the pod spec its container runs in (Dynamo's ``extraPodSpec``)."""
    annotations: frozenset[str] = frozenset()
    """``podAnnotationKeys``: dotted paths of the pod's annotation maps."""
    runtime_class: frozenset[str] = frozenset()
    """``runtimeClassKeys``: the pod's runtime class."""
    containers: frozenset[str] = frozenset()
    """``podContainerKeys``: another container of the same pod."""

    @classmethod
    def of(cls, vocabulary: Vocabulary) -> PodKeys:
        return cls(
            vocabulary.pod_spec_keys,
            vocabulary.pod_annotation_keys,
            vocabulary.runtime_class_keys,
            vocabulary.pod_container_keys,
        )


def find_pod_specs(obj: Mapping[str, Any], keys: PodKeys | None = None) -> Iterator[Found]:
    """Every pod spec and container-shaped mapping in `obj` (see module doc), outermost first.
    `keys`: the vocabulary's keys of a container-shaped mapping's pod (see `_container_pod`).

    Raises `SearchLimit` when the bounds are reached.
    """
    budget = [MAX_NODES]
    for key, value in obj.items():
        if key in _NOT_SEARCHED or not isinstance(value, Mapping | list):
            continue
        annotations = _template_annotations(obj, key, "")
        yield from _walk(value, str(key), 0, budget, annotations, keys or PodKeys())


_NO_ANNOTATIONS: tuple[tuple[str, Any], ...] = ()


def _template_annotations(
    holder: Mapping[str, Any], key: object, field: str
) -> tuple[tuple[str, Any], ...]:
    """The annotations of the pod whose spec is `holder[key]`: when `key` is ``spec`` and
    `holder` (at `field`) has a ``metadata`` mapping with annotations."""
    if key != "spec":
        return _NO_ANNOTATIONS
    return _metadata_annotations(holder, field)


def _metadata_annotations(holder: Mapping[str, Any], field: str) -> tuple[tuple[str, Any], ...]:
    """``holder.metadata.annotations`` (at `field`) as the pod's, when it is a map."""
    metadata = holder.get("metadata")
    # Annotations that are no map are no pod's (the pod would not be created): not read.
    if not isinstance(metadata, Mapping) or not isinstance(metadata.get("annotations"), Mapping):
        return _NO_ANNOTATIONS
    where = join_key(join_key(field, "metadata"), "annotations")
    return ((where, metadata["annotations"]),)


_SINGLE_CONTAINER_KEYS = ("container", "script", "mainContainer")
"""Keys of one container beside a pod's own fields: Argo's template ``container`` and
``script``, NVIDIA Dynamo's ``extraPodSpec.mainContainer`` (an inline PodSpec and its main
container, whose volumes, runtime class and placement are the container's)."""
_RESOURCE_KEYS = ("resources", "computeResources")
_SCHEDULING_KEYS = ("nodeSelector", "affinity")
_REQUIRED = "requiredDuringSchedulingIgnoredDuringExecution"
_CONTAINER_FIELDS = ("name", "env", "command", "args", "securityContext", "lifecycle")
"""Fields of a container-shaped mapping that the pod-spec reader looks at (device variables,
privilege, models), kept when their shape is a container's."""


def _is_container(value: object) -> bool:
    return isinstance(value, Mapping) and isinstance(value.get("image"), str)


def _looks_like_containers(value: object) -> bool:
    return (
        isinstance(value, list)
        and bool(value)
        and all(isinstance(item, Mapping) for item in value)
        and any("image" in item or "resources" in item or "name" in item for item in value)
    )


def _requirements(value: object) -> Mapping[str, Any] | None:
    """`value` as resource requirements, or None when it is not shaped like them.

    ``{limits: {...}, requests: {...}}`` as in Kubernetes, or a flat map of resource names to
    quantities (``{cpu: 2, nvidia.com/gpu: 1}``), read as limits."""
    if not isinstance(value, Mapping) or not value:
        return None
    if "limits" in value or "requests" in value:
        parts = [value.get(key) for key in ("limits", "requests")]
        if all(part is None or isinstance(part, Mapping) for part in parts):
            return value
        return None
    if not all(isinstance(key, str) for key in value):
        return None
    # A guessed map may mix amounts with other settings (production-stack's VLLMRuntime:
    # {cpu: "4", gpu: "1", gpuType: nvidia.com/gpu}): only amounts can be resource requests, so
    # the rest is left out rather than refused as a malformed quantity. Every amount is kept,
    # so a setting beside an accelerator request cannot hide it.
    amounts = {key: quantity for key, quantity in value.items() if is_quantity(quantity)}
    if not amounts:
        return None
    # The settings are kept for a count key's resource name (gpuType: see `count_keys`).
    return FlatResources(amounts, {k: v for k, v in value.items() if isinstance(v, str)})


class FlatResources(dict[str, Any]):
    """A flat map of resource names to amounts, read as limits: its requests are named by the
    map's own fields (``spec.deploymentConfig.resources.gpu``), not by a ``limits`` key it
    does not have (`flat_requests`). `settings`: the map's string values, amounts or not."""

    def __init__(self, amounts: Mapping[str, Any], settings: Mapping[str, str]) -> None:
        super().__init__(amounts)
        self.settings = dict(settings)


def flat_requests(
    amounts: FlatResources, field: str, vocabulary: Vocabulary
) -> list[tuple[str, str, int]]:
    """(field, resource, count) of each accelerator in a `FlatResources` map at `field`; a
    count key (``gpu`` beside ``gpuType``: `count_keys`) counts the resource it names."""
    short, used = short_counts({**amounts.settings, **amounts}, vocabulary.resource_count_keys)
    named = {name: (key, quantity) for name, key, quantity in short if name not in amounts}
    entries = [(name, name, quantity) for name, quantity in amounts.items() if name not in used]
    entries += [(name, key, quantity) for name, (key, quantity) in named.items()]
    found: list[tuple[str, str, int]] = []
    for name, key, quantity in entries:
        if vocabulary.requested_accelerator(name):
            where = join_key(field, key)
            count = parse_count(quantity, where)
            if count > 0:
                found.append((where, name, count))
    return found


def _container_pod(
    value: Mapping[str, Any], field: str, keys: PodKeys, is_metadata: bool = False
) -> Found | None:
    """A container-shaped mapping as a pod of one container, or None when it is not one.

    It is placed by its own ``nodeSelector`` and ``affinity``, or else by a list of node
    selector terms beside it (``nodeSelectorTerms``, ORed as in a required node affinity:
    production-stack's ``deploymentConfig``), or else by those of the pod spec its container
    runs in, under a key the vocabulary lists (``podSpecKeys``: Dynamo's ``extraPodSpec``).
    Annotation maps and a runtime class under the vocabulary's keys (`PodKeys`) are the
    pod's, and make a mapping a pod without container fields; never in a ``metadata`` mapping
    (`is_metadata`: a template's metadata, whose annotations are its spec's pod's). A
    container under a ``podContainerKeys`` key is a second container of this pod."""
    shaped = {key: _requirements(value.get(key)) for key in _RESOURCE_KEYS}
    annotations = _NO_ANNOTATIONS if is_metadata else _keyed_annotations(value, field, keys)
    runtime_class = None if is_metadata else _runtime_class(value, keys)
    if (
        not _is_container(value)
        and not any(shaped.values())
        and not annotations
        and runtime_class is None
    ):
        return None
    container = _as_container(value)
    pod: dict[str, Any] = {
        key: value[key] for key in _SCHEDULING_KEYS if isinstance(value.get(key), Mapping)
    }
    terms = value.get("nodeSelectorTerms")
    if "affinity" not in pod and isinstance(terms, list):
        required = {"nodeSelectorTerms": terms}
        pod["affinity"] = {"nodeAffinity": {_REQUIRED: required}}
    for key in keys.spec:
        spec = value.get(key)
        if isinstance(spec, Mapping):
            for scheduling in _SCHEDULING_KEYS:
                if scheduling not in pod and isinstance(spec.get(scheduling), Mapping):
                    pod[scheduling] = spec[scheduling]
    if runtime_class is not None:
        pod["runtimeClassName"] = runtime_class
    pod["containers"] = [container]
    extra = tuple(
        (join_key(field, key), requirements)
        for key, requirements in shaped.items()
        if requirements is not None
    )
    others: list[tuple[str, Any]] = []
    for key in sorted(keys.containers):
        other = value.get(key)
        if isinstance(other, Mapping):
            # The sidecar shares the pod, so its resources are the pod's, placed like it.
            where = join_key(field, key)
            others.append((where, _as_container(other)))
            extra += tuple(
                (join_key(where, name), requirements)
                for name in _RESOURCE_KEYS
                if (requirements := _requirements(other.get(name))) is not None
            )
    return field, pod, extra, annotations, tuple(others)


def _as_container(value: Mapping[str, Any]) -> dict[str, Any]:
    """The fields of a container-shaped mapping the pod-spec reader looks at (not its
    resources: those are read beside it, shaped as `_requirements` finds them)."""
    container: dict[str, Any] = {"name": value.get("name") or "container"}
    if not isinstance(container["name"], str):
        container["name"] = "container"
    if isinstance(value.get("image"), str):
        container["image"] = value["image"]
    for key in _CONTAINER_FIELDS[1:]:
        if _container_field_ok(key, value.get(key)):
            container[key] = value[key]
    return container


def _keyed_annotations(
    value: Mapping[str, Any], field: str, keys: PodKeys
) -> tuple[tuple[str, Any], ...]:
    """The annotation maps of `value` under the vocabulary's ``podAnnotationKeys`` (dotted
    paths), as (field, map). Annotations that are no map are no pod's (the operator's schema
    refuses them): not read, as in `_metadata_annotations`."""
    found: list[tuple[str, Any]] = []
    for path in sorted(keys.annotations):
        node: object = value
        where = field
        for part in path.split("."):
            node = node.get(part) if isinstance(node, Mapping) else None
            where = join_key(where, part)
        if isinstance(node, Mapping):
            found.append((where, node))
    return tuple(found)


def _runtime_class(value: Mapping[str, Any], keys: PodKeys) -> str | None:
    """The runtime class `value` names under a ``runtimeClassKeys`` key, if a string."""
    for key in sorted(keys.runtime_class):
        named = value.get(key)
        if isinstance(named, str) and named:
            return named
    return None


def _read_keys(keys: PodKeys) -> frozenset[str]:
    """Keys a pod found by `_container_pod` has read as its own: not searched again (a
    sidecar would otherwise be a pod of its own, placed by nothing)."""
    return frozenset(
        {*_RESOURCE_KEYS, *keys.containers, *(path.split(".")[0] for path in keys.annotations)}
    )


def _container_field_ok(key: str, value: object) -> bool:
    """Whether `value` has the shape a container's `key` has (what is not, is not read)."""
    if value is None:
        return False
    if key == "env":
        return isinstance(value, list) and all(
            isinstance(item, Mapping) and isinstance(item.get("name"), str) for item in value
        )
    if key in ("command", "args"):
        return isinstance(value, list) and all(isinstance(item, str) for item in value)
    return isinstance(value, Mapping)


def _walk(
    value: object,
    field: str,
    depth: int,
    budget: list[int],
    annotations: tuple[tuple[str, Any], ...] = _NO_ANNOTATIONS,
    keys: PodKeys | None = None,
    is_metadata: bool = False,
) -> Iterator[Found]:
    """`annotations`: those of the pod whose spec `value` is, if it is one (see module doc);
    `is_metadata`: `value` is under a ``metadata`` key (see `_container_pod`)."""
    keys = keys or PodKeys()
    budget[0] -= 1
    if budget[0] < 0 or depth > MAX_DEPTH:
        raise SearchLimit(TOO_LARGE)
    if isinstance(value, Mapping):
        single = [key for key in _SINGLE_CONTAINER_KEYS if _is_container(value.get(key))]
        listed = _looks_like_containers(value.get("containers")) or _looks_like_containers(
            value.get("initContainers")
        )
        if listed and not single:
            yield field, value, (), annotations, ()
            return
        if single:
            # Argo-style templates: one container (or script) beside the pod's scheduling (and
            # its init containers), and beside the pod's metadata (an Argo template's metadata
            # is its pod's); Dynamo's extraPodSpec: a pod spec with its mainContainer.
            spec = {key: item for key, item in value.items() if key not in single}
            own = tuple((join_key(field, key), value[key]) for key in single)
            yield field, spec, (), annotations + _metadata_annotations(value, field), own
            return
        found = _container_pod(value, field, keys, is_metadata)
        read = _read_keys(keys) if found is not None else frozenset()
        if found is not None:
            yield found
        for key, item in value.items():
            if key in read:
                continue  # already read as this container's pod
            if isinstance(item, Mapping | list):
                own = _template_annotations(value, key, field)
                where = join_key(field, str(key))
                meta = key == "metadata"
                yield from _walk(item, where, depth + 1, budget, own, keys, meta)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            if isinstance(item, Mapping | list):
                where = join_index(field, index)
                yield from _walk(item, where, depth + 1, budget, _NO_ANNOTATIONS, keys)


UNSEARCHABLE = "unsearchable object"
"""Resource of the request made for an object the bounded search could not finish."""


def generic_findings(
    obj: Mapping[str, Any], vocabulary: Vocabulary, dra: DraObjects, namespace: str | None
) -> tuple[tuple[AcceleratorRequest, ...], tuple[ModelRequest, ...]]:
    """Accelerators and models of the pod specs anywhere in `obj` (see module doc)."""
    accelerators: list[AcceleratorRequest] = []
    models: list[ModelRequest] = []

    def claims(pod: Mapping[str, Any], field: str) -> list[AcceleratorRequest]:
        return pod_claims(pod, field, namespace, vocabulary, dra)

    try:
        found = find_pod_specs(obj, PodKeys.of(vocabulary))
        for field, spec, extra_resources, annotations, containers in found:
            flat = [
                request
                for where, requirements in extra_resources
                if isinstance(requirements, FlatResources)
                for request in flat_requests(requirements, where, vocabulary)
            ]
            findings = extract_pod_spec(
                spec,
                field,
                vocabulary,
                extra_resources=[
                    (where, requirements)
                    for where, requirements in extra_resources
                    if not isinstance(requirements, FlatResources)
                ],
                extra_containers=containers,
                claims=claims,
                annotations=annotations,
                requests=flat,
            )
            accelerators.extend(findings.accelerators)
            models.extend(findings.models)
    except SearchLimit:
        return (AcceleratorRequest(UNSEARCHABLE, 1, (), "spec"),), ()
    return tuple(accelerators), dedupe(models)
