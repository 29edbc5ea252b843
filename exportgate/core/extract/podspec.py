"""A pod spec -> the accelerators its containers request, and where they may land.

For every container and init container, each extended resource the vocabulary calls an
accelerator (``nvidia.com/gpu``, ``nvidia.com/mig-1g.10gb``, ``amd.com/gpu`` ...), and every
other extended resource it does not list as no accelerator (``qualcomm.com/qaic``: then an
unknown one), becomes one `AcceleratorRequest`. The count is the container's limit, or its
request when no limit is set (Kubernetes requires the two to be equal for extended resources
when both are given). A count of zero asks for nothing.

Requests are merged per distinct resource (counts summed over containers) before they are
combined with the placements, so the result is the union of distinct (resource, placement)
pairs; containers, placements and claims are capped (`exportgate.core.limits`).

Where the pod may land comes from ``nodeSelector`` (ANDed) and the *required* node-affinity
terms (ORed). Because the terms are alternatives, a pod with several terms gets one request per
term, each with that term's hints plus the nodeSelector's: the engine keeps the most restrictive
outcome over all requests, which is exactly "the pod could land on any of these".

A pod that asks for no accelerator resource and has no other way to devices is not guarded,
even when its nodeSelector pins a GPU product: the scheduler places it on such a node, but the
device plugin gives it no device. Other ways to devices (runtime variables, privileged or
ephemeral containers, host ``/dev``, root or runtime-socket mounts, a GPU runtime class; see
`access`) count as a request for ``exportgate.dev/device-access``, narrowed by the placement, and
so do the pod's annotations that hand it a device (a GPU-sharing scheduler's ``gpu-fraction``;
a CDI request ``cdi.k8s.io/...: nvidia.com/gpu=all`` is that vendor's resource; see
`device_annotations`). A pod that runs in a cloud VM of its own (a Kata Containers peer pod)
is also judged by that VM, as a machine of the instance type its annotation names (`pod_vm`).
Extended resources the vocabulary does not know are requested as written and so decided as
unknown accelerators. Pods
that claim devices through DRA (``spec.resourceClaims``) are judged by the claims and claim
templates they name (see `dra_refs`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from exportgate.core.extract.access import DEVICE_ACCESS, container_access, pod_access
from exportgate.core.extract.aggregate import check_cap
from exportgate.core.extract.count_keys import short_counts
from exportgate.core.extract.device_annotations import annotation_requests
from exportgate.core.extract.models import ModelFiles, scan_container
from exportgate.core.extract.paths import (
    expect_list,
    expect_mapping,
    expect_string,
    join_index,
    join_key,
)
from exportgate.core.extract.pod_vm import pod_vm_requests
from exportgate.core.extract.quantity import parse_count
from exportgate.core.extract.selectors import (
    hints_from_labels,
    label_map,
    required_affinity_terms,
)
from exportgate.core.extract.vocabulary import Vocabulary
from exportgate.core.ignored_selectors import ignored_selector_hint
from exportgate.core.limits import MAX_CLAIMS, MAX_CONTAINERS, MAX_PLACEMENTS
from exportgate.core.types import AcceleratorRequest, ModelRequest, ProductHint

_CONTAINER_LISTS = ("containers", "initContainers", "ephemeralContainers")


ClaimReader = Callable[[Mapping[str, Any], str], list[AcceleratorRequest]]
"""(pod spec, its field) -> the accelerator requests of the DRA claims the pod names."""


@dataclass(frozen=True, slots=True)
class PodSpecFindings:
    accelerators: tuple[AcceleratorRequest, ...]
    models: tuple[ModelRequest, ...]


def extract_pod_spec(
    spec: object,
    field: str,
    vocabulary: Vocabulary,
    *,
    extra_containers: Sequence[tuple[str, Any]] = (),
    extra_resources: Sequence[tuple[str, Any]] = (),
    scheduling: Sequence[tuple[str, Any]] = (),
    pins: Mapping[str, str] | None = None,
    claims: ClaimReader | None = None,
    annotations: Sequence[tuple[str, Any]] = (),
    requests: Sequence[tuple[str, str, int]] = (),
    selectors: Sequence[tuple[str, Any]] = (),
    ignorable_selectors: Sequence[tuple[str, Any, str]] = (),
) -> PodSpecFindings:
    """Accelerators and models of the pod spec at `field`.

    `extra_containers` are container-shaped objects that belong to this pod but live outside
    ``containers`` (KServe's ``predictor.model``); `extra_resources` are bare resource
    requirements (NIM's ``spec.resources``, TrainJob's ``resourcesPerNode``); `scheduling` are
    further objects carrying ``nodeSelector``/``affinity`` that a controller merges into the pod
    (later ones win), such as TrainJob pod-template overrides; `pins` are node labels a
    controller adds from elsewhere (KServe's ``serving.kserve.io/gke-accelerator`` annotation);
    `claims` reads the DRA claims the pod names (`dra_refs`); `annotations` are the pod's
    annotation maps (a Pod's ``metadata.annotations``, a template's), as (field, map).
    `requests` are accelerators a controller adds to the pod from elsewhere, as (field,
    resource, count) (Spark's ``spark.executor.resource.gpu.amount``), and `selectors` node
    selectors it adds (field, label map): ANDed with the pod's own as further hints, not merged
    into them, so that a label the two set differently pins nothing (which one the pod gets
    depends on the controller's order and version; see `properties`). `ignorable_selectors`
    are node selectors the controller may not apply, as (field, label map, why): each placement
    is read both with and without them, so they never pin a product alone
    (`ignored_selectors`).
    """
    pod = expect_mapping(spec, field)
    containers = list(_containers(pod, field))
    for where, container in extra_containers:
        containers.append((where, expect_mapping(container, where)))
    check_cap(len(containers), MAX_CONTAINERS, "MAX_CONTAINERS", "containers", field)
    claim_refs = pod.get("resourceClaims")
    if isinstance(claim_refs, list):
        where = join_key(field, "resourceClaims")
        check_cap(len(claim_refs), MAX_CLAIMS, "MAX_CLAIMS", "resource claims", where)

    # resource -> (field of the first quantity, summed count): the aggregation step, so that
    # requests are per distinct resource and placement, never containers x placements.
    wanted: dict[str, tuple[str, int]] = {}
    models: list[ModelRequest] = []
    access = vocabulary.device_access
    files = ModelFiles()  # model file names looked up for this pod (MAX_MODEL_FILES)
    for where, container in containers:
        resources = container.get("resources")
        if resources is not None:
            _add(wanted, _accelerators(resources, join_key(where, "resources"), vocabulary))
        _add(
            wanted,
            ((found, DEVICE_ACCESS, 1) for found in container_access(container, where, access)),
        )
        models.extend(scan_container(container, where, files))
    for where, resources in extra_resources:
        _add(wanted, _accelerators(resources, where, vocabulary))
    _add(wanted, ((found, DEVICE_ACCESS, 1) for found in pod_access(pod, field, access)))
    _add(wanted, requests)
    maps = [(where, expect_mapping(mapping, where)) for where, mapping in annotations]
    for where, mapping in maps:
        _add(wanted, annotation_requests(mapping, where, vocabulary))
    claimed = claims(pod, field) if claims is not None else []
    # The VM a peer pod runs in: its own machine, which the pod's node placement does not narrow.
    machine = pod_vm_requests(pod, field, containers, maps, access)

    if not wanted and not claimed and not machine:
        return PodSpecFindings((), tuple(models))
    placements = _placements(pod, field, scheduling, vocabulary, pins or {})
    if selectors:
        added = tuple(
            hint
            for where, selector in selectors
            for hint in hints_from_labels(label_map(selector, where), vocabulary.hint_keys)
        )
        placements = [hints + added for hints in placements]
    placements = _with_and_without(placements, ignorable_selectors, vocabulary)
    accelerators = (
        tuple(
            AcceleratorRequest(resource, count, hints, source)
            for resource, (source, count) in wanted.items()
            for hints in placements
        )
        + tuple(
            AcceleratorRequest(
                request.resource, request.count, request.hints + hints, request.source
            )
            for request in claimed
            for hints in placements
        )
        + tuple(machine)
    )
    return PodSpecFindings(accelerators, tuple(models))


def _with_and_without(
    placements: list[tuple[ProductHint, ...]],
    ignorable: Sequence[tuple[str, Any, str]],
    vocabulary: Vocabulary,
) -> list[tuple[ProductHint, ...]]:
    """`placements` with the `ignorable` selectors, and without them (marked with why)."""
    added: tuple[ProductHint, ...] = ()
    notes: list[str] = []
    for where, selector, why in ignorable:
        found = hints_from_labels(label_map(selector, where), vocabulary.hint_keys)
        if found:
            added += found
            notes.append(why)
    if not added:
        return placements
    marked = tuple(ignored_selector_hint(why) for why in dict.fromkeys(notes))
    return [hints + added for hints in placements] + [hints + marked for hints in placements]


def _add(wanted: dict[str, tuple[str, int]], found: Iterable[tuple[str, str, int]]) -> None:
    for source, resource, count in found:
        first = wanted.get(resource)
        wanted[resource] = (source, count) if first is None else (first[0], first[1] + count)


def accelerator_counts(
    resources: object, field: str, vocabulary: Vocabulary
) -> list[tuple[str, int, str]]:
    """(resource, count, field of the quantity) for each accelerator in a ResourceRequirements.

    Limits win over requests for the same resource; only accelerator quantities are parsed, so a
    malformed CPU request is the API server's business, not ours. A custom kind's list may nest
    further names under a key the vocabulary lists (``nestedResourceMaps``: Dynamo's
    ``custom``); they are read as names of the list itself. It may also hold a count under a
    short key naming its resource in another (``resourceCountKeys``: ``gpu`` of ``gpuType``).
    """
    requirements = expect_mapping(resources, field)
    limits = _quantities(requirements, field, "limits", vocabulary)
    requests = _quantities(requirements, field, "requests", vocabulary)
    counts = []
    for name in [*limits, *(name for name in requests if name not in limits)]:
        if not vocabulary.requested_accelerator(name):
            continue
        base, key, quantity = limits[name] if name in limits else requests[name]
        where = join_key(base, key)
        count = parse_count(quantity, where)
        if count > 0:
            counts.append((name, count, where))
    return counts


def _accelerators(
    resources: object, field: str, vocabulary: Vocabulary
) -> Iterable[tuple[str, str, int]]:
    for name, count, where in accelerator_counts(resources, field, vocabulary):
        yield where, name, count


def _quantities(
    requirements: Mapping[str, Any], base: str, list_name: str, vocabulary: Vocabulary
) -> dict[str, tuple[str, str, Any]]:
    """name -> (field of the map holding it, its key there, quantity), of the list `list_name`
    of `requirements` (at `base`). A map under a nested key (``nestedResourceMaps``) adds its
    names (one level), after the list's own, as Dynamo's operator copies them in; a count key
    (`count_keys`) adds the resource it names, unless the list names it itself."""
    value = requirements.get(list_name)
    if value is None:
        return {}
    field = join_key(base, list_name)
    nested = vocabulary.nested_resource_maps
    mapping = expect_mapping(value, field)
    short: list[tuple[str, str, Any]] = []
    used: frozenset[str] = frozenset()
    if vocabulary.resource_count_keys:
        short, used = short_counts(mapping, vocabulary.resource_count_keys, list_name)
    quantities: dict[str, tuple[str, str, Any]] = {}
    inner: list[tuple[str, Mapping[Any, Any]]] = []
    for key, quantity in mapping.items():
        if not isinstance(key, str):  # name the field only for the error: this runs a lot
            expect_string(key, join_key(field, str(key)))
        if nested and key in nested and isinstance(quantity, Mapping):
            inner.append((join_key(field, key), quantity))
            continue
        if key in used:
            continue
        quantities[key] = (field, key, quantity)
    for name, key, quantity in short:
        quantities.setdefault(name, (field, key, quantity))
    for inner_field, inner_map in inner:
        for key, quantity in inner_map.items():
            if not isinstance(key, str):
                expect_string(key, join_key(inner_field, str(key)))
            # Dynamo writes `custom` last: its names win over the count key's.
            quantities[key] = (inner_field, key, quantity)
    return quantities


def _containers(pod: Mapping[str, Any], field: str) -> Iterable[tuple[str, Mapping[str, Any]]]:
    for key in _CONTAINER_LISTS:
        listed = pod.get(key)
        if listed is None:
            continue
        list_field = join_key(field, key)
        for index, container in enumerate(expect_list(listed, list_field)):
            where = join_index(list_field, index)
            yield where, expect_mapping(container, where)


def _placements(
    pod: Mapping[str, Any],
    field: str,
    scheduling: Sequence[tuple[str, Any]],
    vocabulary: Vocabulary,
    pins: Mapping[str, str],
) -> list[tuple[ProductHint, ...]]:
    """The alternative hint sets this pod may be placed under (one per affinity term)."""
    labels = dict(pins)
    labels.update(label_map(pod.get("nodeSelector"), join_key(field, "nodeSelector")))
    affinity_field = join_key(field, "affinity")
    affinity = pod.get("affinity")
    for where, override in scheduling:
        mapping = expect_mapping(override, where)
        labels.update(label_map(mapping.get("nodeSelector"), join_key(where, "nodeSelector")))
        if mapping.get("affinity") is not None:
            affinity_field, affinity = join_key(where, "affinity"), mapping["affinity"]
    keys = vocabulary.hint_keys
    selector_hints = hints_from_labels(labels, keys)
    terms = required_affinity_terms(affinity, affinity_field, keys)
    if not terms:
        return [selector_hints]
    # A dict de-duplicates in one pass (a list membership test made this quadratic).
    placements = list(dict.fromkeys(selector_hints + term for term in terms))
    check_cap(
        len(placements),
        MAX_PLACEMENTS,
        "MAX_PLACEMENTS",
        "distinct node-affinity placements",
        affinity_field,
    )
    return placements
