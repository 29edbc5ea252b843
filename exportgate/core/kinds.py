"""The kind table: every kind exportgate guards, derived from the adapter data.

One table, read by everyone who needs to know which kinds matter: the webhook (what to
extract), ``exportgate check``, the operator's re-audit (what to list), and the Helm chart,
whose webhook rules (``guardedResources``) and CEL pre-filter patterns are generated from it by
``charts/tools/sync_kinds.py`` (checked by ``make lint``). A kind is added by adding an adapter;
nothing else needs editing.
"""

from __future__ import annotations

from dataclasses import dataclass

from exportgate.core.extract.registry import AdapterRegistry
from exportgate.core.tenancy import API_GROUP, PLATFORM_KINDS

BUILTIN_WORKLOAD_GROUPS = frozenset({"", "apps", "batch"})
"""Groups of the built-in workloads, which the chart sends through the CEL pre-filter."""


@dataclass(frozen=True, slots=True, order=True)
class GuardedKind:
    """One guarded kind: where it lives in the API and whether its objects are namespaced."""

    group: str
    kind: str
    plural: str
    cluster_scoped: bool = False
    versions: tuple[str, ...] | None = None  # None: every version the API serves
    platform: bool = False  # Tenant, ExportPolicy: guarded for tenancy, not extracted

    @property
    def builtin_workload(self) -> bool:
        return self.group in BUILTIN_WORKLOAD_GROUPS


def plural_of(kind: str) -> str:
    """The resource name Kubernetes derives for a kind (lower case, English plural)."""
    lower = kind.lower()
    if lower.endswith("y") and lower[-2:-1] not in "aeiou":
        return lower[:-1] + "ies"
    if lower.endswith(("s", "x", "ch", "sh")):
        return lower + "es"
    return lower + "s"


def guarded_kinds(registry: AdapterRegistry | None = None) -> tuple[GuardedKind, ...]:
    """Every kind an adapter describes, plus exportgate's platform kinds, sorted."""
    registry = registry or AdapterRegistry.builtin()
    found: dict[tuple[str, str], GuardedKind] = {}
    for adapter_set in registry.sets:
        for adapter in adapter_set.adapters:
            for kind in adapter.kinds:
                key = (adapter.group, kind)
                previous = found.get(key)
                versions = adapter.versions
                if previous is not None and (previous.versions is None or versions is None):
                    versions = None
                elif previous is not None and previous.versions and versions:
                    versions = tuple(sorted({*previous.versions, *versions}))
                found[key] = GuardedKind(
                    adapter.group, kind, plural_of(kind), adapter.cluster_scoped, versions
                )
    for kind in sorted(PLATFORM_KINDS):
        found[(API_GROUP, kind)] = GuardedKind(
            API_GROUP, kind, plural_of(kind), cluster_scoped=True, platform=True
        )
    return tuple(sorted(found.values()))


def resources_by_group(kinds: tuple[GuardedKind, ...]) -> dict[str, list[str]]:
    """group -> sorted plurals, for webhook rules (the built-in workload groups left out)."""
    grouped: dict[str, set[str]] = {}
    for entry in kinds:
        if not entry.builtin_workload:
            grouped.setdefault(entry.group, set()).add(entry.plural)
    return {group: sorted(plurals) for group, plurals in sorted(grouped.items())}


def guarded_kind_patterns(registry: AdapterRegistry | None = None) -> dict[str, list[str]]:
    """group -> the kindPatterns of its pattern adapters: kinds guarded without being named
    (every Cluster API infrastructure machine kind), which webhook rules cannot list one by one."""
    registry = registry or AdapterRegistry.builtin()
    grouped: dict[str, list[str]] = {}
    for group, pattern in registry.kind_patterns():
        grouped.setdefault(group, []).append(pattern)
    return grouped
