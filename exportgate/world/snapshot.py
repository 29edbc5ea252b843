"""The snapshot decisions are made with, and the store that holds the current one.

A `Snapshot` bundles a built `PolicyEngine` (policies, packs, catalogue) with the tenants known
at that moment. It is immutable; the `SnapshotStore` holds a reference to the current one and
replaces it in a single assignment on the event loop thread. A caller reads that reference once
and uses it for a whole batch, which is why no answer ever mixes policy versions, however often
tenants or policies change under load.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from exportgate.core.engine import PolicyEngine
from exportgate.core.types import Tenant
from exportgate.world import clock


@dataclass(frozen=True, slots=True)
class TenantRecord:
    """A tenant as a source delivered it, with where it came from (for messages)."""

    tenant: Tenant
    origin: str


@dataclass(frozen=True, slots=True)
class TenantEntry:
    tenant: Tenant
    origin: str
    revision: int
    """Increases whenever this tenant's record changes. Cache keys carry it, so a cached
    decision made for an older record can never be served for the newer one."""


@dataclass(frozen=True, slots=True)
class Snapshot:
    engine: PolicyEngine
    tenants: Mapping[str, TenantEntry]
    policy_count: int
    generation: int
    loaded_at: datetime
    time_boundaries: tuple[datetime, ...] = ()
    """Instants at which a rule of the engine comes into or goes out of force: a decision
    made on one side of one of them may not be reused on the other side."""
    invalid_tenants: Mapping[str, str] = field(default_factory=dict)
    """Tenant name -> why its stored record cannot be used (it does not parse, or the name is
    defined twice). Such a tenant is denied with that reason (`exportgate.core.records`); it
    never keeps the permissions of a superseded record."""

    def tenant(self, name: str | None) -> Tenant | None:
        entry = self.tenants.get(name) if name else None
        return entry.tenant if entry is not None else None

    def next_transition(self, name: str | None, at: datetime) -> datetime | None:
        """When the standing of tenant `name` next changes by itself (see `clock`)."""
        return clock.next_transition(self.tenant(name), at, self.time_boundaries)

    @property
    def version(self) -> str:
        """The policy version stamped on every decision made with this snapshot."""
        return self.engine.version


# (old snapshot or None, new snapshot, names of the tenants whose record changed)
SnapshotListener = Callable[[Snapshot | None, Snapshot, frozenset[str]], None]


class SnapshotStore:
    """Holds the current snapshot; replace it only from the event loop thread."""

    def __init__(self) -> None:
        self._current: Snapshot | None = None
        self._listeners: list[SnapshotListener] = []
        # origin -> message: inputs that were refused and are being ignored right now.
        self.errors: dict[str, str] = {}

    @property
    def current(self) -> Snapshot | None:
        return self._current

    def subscribe(self, listener: SnapshotListener) -> None:
        self._listeners.append(listener)

    def publish(self, new: Snapshot) -> frozenset[str]:
        """Make `new` current and tell listeners which tenant names changed.

        Listeners (the cache) run synchronously before this returns, on the same thread as the
        servicer, so no call can see the new snapshot while the cache still holds stale entries.
        """
        old = self._current
        changed = _changed_tenants(old, new)
        self._current = new
        for listener in self._listeners:
            listener(old, new, changed)
        return changed


def _changed_tenants(old: Snapshot | None, new: Snapshot) -> frozenset[str]:
    if old is None:
        return frozenset(new.tenants)
    changed = {name for name in old.tenants if name not in new.tenants}
    changed |= old.invalid_tenants.keys() ^ new.invalid_tenants.keys()
    for name, entry in new.tenants.items():
        before = old.tenants.get(name)
        if before is None or before.revision != entry.revision:
            changed.add(name)
    return frozenset(changed)


