"""The generic fallback: pod specs found anywhere in an object no adapter describes.

Kinds without an adapter (a new CRD, Argo Workflow templates, a Volcano Job, an operator's
own kind) are not harmless just because exportgate has no data on them: whatever carries a pod
template or a container list will run containers. `find_pod_specs` walks the object and yields
every mapping that holds a ``containers`` list of container-shaped mappings (a pod spec, or a
container list inlined beside scheduling fields), so that the registry reads it like any pod.

The walk is bounded (`MAX_DEPTH`, `MAX_NODES`) so that no input can stall admission; an object
too large or too deep to walk is reported as an unknown accelerator rather than passed.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from exportgate.core.extract.dra import pod_claims
from exportgate.core.extract.dra_refs import DraObjects
from exportgate.core.extract.models import dedupe
from exportgate.core.extract.paths import join_index, join_key
from exportgate.core.extract.podspec import extract_pod_spec
from exportgate.core.extract.vocabulary import Vocabulary
from exportgate.core.types import AcceleratorRequest, ModelRequest

MAX_DEPTH = 12
"""Deepest nesting searched: pod specs sit at depth 2-8 in every kind we know (CronJob: 5,
Argo Workflow templates: 4, Volcano tasks: 5, Seldon: 6)."""
MAX_NODES = 20_000
"""Most values visited in one object; beyond this the object is too large to read."""

TOO_LARGE = "object too large to search for pod specs"


class SearchLimit(Exception):
    """The object is larger or deeper than the bounded search reads."""


def find_pod_specs(
    obj: Mapping[str, Any], root: str = "spec"
) -> Iterator[tuple[str, Mapping[str, Any]]]:
    """(field, pod-spec-like mapping) for each pod spec under ``obj[root]``, outermost first.

    A pod spec inside a found pod spec is not searched again (its containers are its own).
    Raises `SearchLimit` when the bounds are reached.
    """
    start = obj.get(root)
    if start is None:
        return
    budget = [MAX_NODES]
    yield from _walk(start, root, 0, budget)


_SINGLE_CONTAINER_KEYS = ("container", "script")


def _is_container(value: object) -> bool:
    return isinstance(value, Mapping) and isinstance(value.get("image"), str)


def _looks_like_containers(value: object) -> bool:
    return (
        isinstance(value, list)
        and bool(value)
        and all(isinstance(item, Mapping) for item in value)
        and any("image" in item or "resources" in item or "name" in item for item in value)
    )


def _walk(
    value: object, field: str, depth: int, budget: list[int]
) -> Iterator[tuple[str, Mapping[str, Any]]]:
    budget[0] -= 1
    if budget[0] < 0 or depth > MAX_DEPTH:
        raise SearchLimit(TOO_LARGE)
    if isinstance(value, Mapping):
        if _looks_like_containers(value.get("containers")) or _looks_like_containers(
            value.get("initContainers")
        ):
            yield field, value
            return
        single = [key for key in _SINGLE_CONTAINER_KEYS if _is_container(value.get(key))]
        if single:
            # Argo-style templates: one container (or script) beside the pod's scheduling.
            spec = {key: item for key, item in value.items() if key not in single}
            spec["containers"] = [value[key] for key in single]
            yield field, spec
            return
        for key, item in value.items():
            if isinstance(item, Mapping | list):
                yield from _walk(item, join_key(field, str(key)), depth + 1, budget)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            if isinstance(item, Mapping | list):
                yield from _walk(item, join_index(field, index), depth + 1, budget)


UNSEARCHABLE = "unsearchable object"
"""Resource of the request made for an object the bounded search could not finish."""


def generic_findings(
    obj: Mapping[str, Any], vocabulary: Vocabulary, dra: DraObjects, namespace: str | None
) -> tuple[tuple[AcceleratorRequest, ...], tuple[ModelRequest, ...]]:
    """Accelerators and models of the pod specs anywhere in `obj`'s spec (see module doc)."""
    accelerators: list[AcceleratorRequest] = []
    models: list[ModelRequest] = []

    def claims(pod: Mapping[str, Any], field: str) -> list[AcceleratorRequest]:
        return pod_claims(pod, field, namespace, vocabulary, dra)

    try:
        for field, spec in find_pod_specs(obj):
            findings = extract_pod_spec(spec, field, vocabulary, claims=claims)
            accelerators.extend(findings.accelerators)
            models.extend(findings.models)
    except SearchLimit:
        return (AcceleratorRequest(UNSEARCHABLE, 1, (), "spec"),), ()
    return tuple(accelerators), dedupe(models)
