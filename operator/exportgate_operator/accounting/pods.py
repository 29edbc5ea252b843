"""What one Pod contributes to compute accounting: its accelerators, node and time span.

The accelerators a Pod asks for come from the core's extraction (the same adapter data that
admission uses, so extended resources, MIG profiles and DRA claims are recognised alike); its
product from the node's labels through `nodes.accelerator_class` (the labels the operator
already reads). A Pod whose node says nothing usable is counted as unidentified, at the most
restrictive product its request could get; it is never dropped.

Times are what the kubelet reports: the Pod holds its devices from `status.startTime` (the kubelet
admitted it and allocated devices) until its last container terminated (`finishedAt`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from exportgate.core.catalogue import Catalogue
from exportgate.core.compute import Usage, assumed_product, peak_ops_per_second
from exportgate.core.errors import InputError
from exportgate.core.extract import AdapterRegistry
from exportgate_operator.collect import FINISHED_PHASES as FINISHED
from exportgate_operator.nodes import accelerator_class


@dataclass(frozen=True, slots=True)
class Request:
    """The accelerators a Pod spec asks for (immutable for the Pod's life, so cached by uid)."""

    count: int
    candidates: tuple[str, ...]  # products the request could land on, from its own clues


@dataclass(frozen=True, slots=True)
class PodFacts:
    uid: str
    namespace: str
    name: str
    node: str
    request: Request
    start: datetime
    end: datetime | None
    owners: tuple[Mapping[str, Any], ...]  # the Pod's controller ownerReference, if any


def parse_time(value: Any) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None


def request_of(pod: Mapping[str, Any], registry: AdapterRegistry, catalogue: Catalogue) -> Request:
    """The accelerators of a Pod: count summed over distinct containers/claims (the
    extraction repeats a request once per alternative placement), candidates unioned."""
    try:
        workload = registry.extract(pod)
    except InputError:
        return Request(0, ())
    counts: dict[str, int] = {}
    candidates: set[str] = set()
    for accelerator in workload.accelerators:
        counts[accelerator.source] = max(counts.get(accelerator.source, 0), accelerator.count)
        candidates |= set(catalogue.resolve(accelerator).candidates)
    return Request(sum(counts.values()), tuple(sorted(candidates)))


def span_of(pod: Mapping[str, Any]) -> tuple[datetime | None, datetime | None]:
    """(start, end) of the time a bound Pod holds its devices; start None if it never started."""
    status = pod.get("status") or {}
    containers = [
        *(status.get("initContainerStatuses") or ()),
        *(status.get("containerStatuses") or ()),
    ]
    started = [
        parse_time(state.get("startedAt"))
        for c in containers
        for state in ((c.get("state") or {}).get("running") or {},
                      (c.get("state") or {}).get("terminated") or {})
        if state
    ]
    start = parse_time(status.get("startTime")) or min(
        (s for s in started if s is not None), default=None
    )
    if status.get("phase") not in FINISHED:
        return start, None
    finished = [
        parse_time(((c.get("state") or {}).get("terminated") or {}).get("finishedAt"))
        for c in containers
    ]
    end = max((f for f in finished if f is not None), default=None)
    if end is None:
        # A finished Pod without container times: its Ready condition turned False then.
        for condition in status.get("conditions") or ():
            if condition.get("type") == "Ready":
                end = parse_time(condition.get("lastTransitionTime"))
    if start is not None and end is None:
        end = start  # finished, and no time the kubelet vouches for: nothing to count
    return start, end


def pod_facts(pod: Mapping[str, Any], request: Request) -> PodFacts | None:
    """Facts of a Pod that holds accelerators on a node and has started, else None."""
    spec = pod.get("spec") or {}
    node = spec.get("nodeName")
    if not node or request.count <= 0:
        return None
    start, end = span_of(pod)
    if start is None:
        return None
    meta = pod.get("metadata") or {}
    owners = tuple(r for r in meta.get("ownerReferences") or () if r.get("controller"))
    return PodFacts(
        uid=str(meta.get("uid")),
        namespace=str(meta.get("namespace") or ""),
        name=str(meta.get("name")),
        node=str(node),
        request=request,
        start=start,
        end=end,
        owners=owners[:1],
    )


def usage_of(
    facts: PodFacts, node_labels: Mapping[str, str] | None, catalogue: Catalogue
) -> Usage:
    """The product a Pod uses: its node's, else the most restrictive it could get."""
    found = accelerator_class(node_labels, catalogue) if node_labels is not None else None
    if found is not None and found[1] in catalogue.products:
        product, identified = found[1], True
    else:
        product, identified = assumed_product(catalogue, facts.request.candidates), False
    return Usage(
        product,
        catalogue.products[product].eccn,
        facts.request.count,
        peak_ops_per_second(catalogue, product),
        identified=identified,
    )
