"""A bounded, time-aware cache of decisions in front of the engine.

Many admission requests are the same question: the replicas of a Deployment, a Job's pods, a
retry. The answer depends on the policy snapshot, the tenant's record, what the workload asks for
and the instant of evaluation, so that is what a key holds:

- the snapshot's policy version and the tenant's revision: a changed policy or tenant gets new
  keys, so a stale decision can never be found, even by a call still running on the old
  snapshot; the entries of the old record are dropped at once so they do not take up room;
- the object's apiVersion, kind and namespace plus the accelerator and model requests, but not
  its name or uid, so replicas share an entry (the decision is re-stamped with each object);
- a validity window in time: a tenant's verification and licences start and end at known
  instants, and an entry is only used for evaluation instants inside the window it was made in.
  A cached allow therefore never outlives a tenant's ``expiresAt``. The TTL bounds anything else
  that depends on the clock.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from cachetools import TTLCache

from exportgate.core.decision import Decision
from exportgate.core.types import Tenant, Workload
from exportgate.service.config import CacheConfig
from exportgate.world.clock import tenant_boundaries, validity_window
from exportgate.world.snapshot import Snapshot


class CacheKey:
    """A key that is hashed once. The cache hashes a key four times per hit (its links, its
    order, its data), and a key's accelerator requests hash through Python-level dataclass
    code at every level: hashing them once made a hit several times cheaper."""

    __slots__ = ("_hash", "parts")

    def __init__(self, parts: tuple[Hashable, ...]) -> None:
        self.parts = parts
        self._hash = hash(parts)

    def __hash__(self) -> int:
        return self._hash

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, CacheKey) and self._hash == other._hash and self.parts == other.parts
        )

    @property
    def tenant(self) -> str:
        return str(self.parts[1])


@dataclass(frozen=True, slots=True)
class _Entry:
    decision: Decision
    valid_from: datetime | None  # None: unbounded in that direction
    valid_until: datetime | None

    def covers(self, at: datetime) -> bool:
        if self.valid_from is not None and at < self.valid_from:
            return False
        return self.valid_until is None or at < self.valid_until


class DecisionCache:
    def __init__(self, config: CacheConfig, *, timer: Callable[[], float] = time.monotonic) -> None:
        self.enabled = config.enabled
        self._entries: TTLCache[CacheKey, _Entry] = TTLCache(
            maxsize=max(config.max_entries, 1), ttl=max(config.ttl, 1e-9), timer=timer
        )
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._entries)

    @staticmethod
    def key(
        snapshot: Snapshot, tenant_name: str, tenant_revision: int, workload: Workload
    ) -> CacheKey:
        ref = workload.ref
        parts = (
            snapshot.version,
            tenant_name,
            tenant_revision,
            ref.api_version,
            ref.kind,
            ref.namespace,
            workload.accelerators,
            workload.models,
            workload.tenant_label,
        )
        return CacheKey(parts)

    def get(self, key: CacheKey, workload: Workload, at: datetime) -> Decision | None:
        """The cached decision re-stamped for this object and instant, or None."""
        if not self.enabled:
            return None
        entry = self._entries.get(key)
        if entry is None or not entry.covers(at):
            self.misses += 1
            return None
        self.hits += 1
        return entry.decision.restamped(workload.ref, at)

    def put(
        self,
        key: CacheKey,
        decision: Decision,
        tenant: Tenant | None,
        at: datetime,
        policy_boundaries: Sequence[datetime] = (),
    ) -> None:
        """Remember `decision`; `policy_boundaries` are the snapshot's sorted rule dates."""
        if not self.enabled:
            return
        valid_from, valid_until = validity_window(tenant_boundaries(tenant), at, policy_boundaries)
        self._entries[key] = _Entry(decision, valid_from, valid_until)

    def invalidate_tenants(self, names: Iterable[str]) -> int:
        """Drop every entry about one of `names`; returns how many were dropped."""
        names = set(names)
        if not names:
            return 0
        doomed = [k for k in list(self._entries.keys()) if k.tenant in names]
        for k in doomed:
            self._entries.pop(k, None)
        return len(doomed)

    def clear(self) -> None:
        self._entries.clear()

    def on_snapshot(self, old: Snapshot | None, new: Snapshot, changed: frozenset[str]) -> None:
        """`SnapshotStore` listener: drop what the change made stale."""
        if old is None or old.version != new.version:
            self.clear()
        else:
            self.invalidate_tenants(changed)
