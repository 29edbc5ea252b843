"""The snapshot the sidecar decides with, and how a new one replaces the old.

A `Snapshot` bundles a built `PolicyEngine` (policies, packs, catalogue) with the tenants known
at that moment. It is immutable; the `SnapshotStore` holds a reference to the current one and
replaces it in a single assignment on the event loop thread. An Evaluate call reads that
reference once and uses it for the whole batch, which is why no response ever mixes policy
versions, however often tenants or policies change under load.

The `SnapshotLoader` turns source updates into snapshots. It keeps the last good inputs: a policy
set that does not compile, or a tenant set with a name defined twice, is refused with a logged
error and the previous snapshot keeps serving.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time
from typing import Any

import structlog

from exportgate.core.engine import PolicyEngine
from exportgate.core.errors import ExportgateError
from exportgate.core.types import Action, Tenant
from exportgate.decisionlog.snapshots import keep_policy_snapshot

log = structlog.get_logger("exportgate.sidecar.state")


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
    for name, entry in new.tenants.items():
        before = old.tenants.get(name)
        if before is None or before.revision != entry.revision:
            changed.add(name)
    return frozenset(changed)


EngineBuilder = Callable[..., PolicyEngine]


def _same_record(a: Tenant, b: Tenant) -> bool:
    """Equal for deciding: everything but the API server's bookkeeping (resourceVersion)."""
    return a is b or dataclasses.replace(a, resource_version=None) == dataclasses.replace(
        b, resource_version=None
    )


def policy_time_boundaries(engine: PolicyEngine) -> tuple[datetime, ...]:
    """Midnight UTC of every day a dated fact starts or stops holding (rules, suspensions,
    group memberships; the engine tests them against the UTC date of the evaluation instant)."""
    return tuple(datetime.combine(d, time.min, tzinfo=UTC) for d in engine.transition_days())


class SnapshotLoader:
    """Builds snapshots from the latest inputs of every source and publishes them.

    Sources call `set_tenants` / `set_policies` with their complete current view (not deltas),
    from the event loop. The first snapshot is published only once every expected input has
    arrived, so the sidecar never serves with tenants but without the cluster's policies.
    """

    def __init__(
        self,
        store: SnapshotStore,
        *,
        packs: Sequence[str] | None = None,
        default_action: Action | None = None,
        expect: Sequence[str] = ("tenants", "policies"),
        build: EngineBuilder = PolicyEngine.build,
    ) -> None:
        self._store = store
        self._packs = packs
        self._default_action = default_action
        self._build = build
        self._waiting = set(expect)
        self._lock = asyncio.Lock()
        self._tenants: dict[str, TenantEntry] = {}
        self._policies: tuple[Any, ...] = ()
        self._engine: PolicyEngine | None = None
        self._boundaries: tuple[datetime, ...] = ()
        self._revision = 0
        self._generation = 0
        self.ready = asyncio.Event()

    # -- inputs ----------------------------------------------------------------------------

    async def set_tenants(self, records: Sequence[TenantRecord], origin: str = "tenants") -> bool:
        """Replace the tenant set. Returns False when it was refused (duplicates)."""
        async with self._lock:
            by_name: dict[str, TenantRecord] = {}
            duplicates: list[str] = []
            for rec in records:
                first = by_name.get(rec.tenant.name)
                if first is not None:
                    duplicates.append(
                        f"tenant {rec.tenant.name!r} is defined twice "
                        f"({first.origin} and {rec.origin})"
                    )
                    continue
                by_name[rec.tenant.name] = rec
            if duplicates:
                self.report_error(
                    origin,
                    "; ".join(duplicates)
                    + "; keeping the previous tenant set until the duplicates are removed",
                )
                return False
            self._clear_error(origin)
            entries: dict[str, TenantEntry] = {}
            for name, rec in by_name.items():
                before = self._tenants.get(name)
                if before is not None and _same_record(before.tenant, rec.tenant):
                    # Keep the entry (and its revision): cached decisions stay valid. A status
                    # update by the operator bumps resourceVersion without changing a decision.
                    entries[name] = before
                else:
                    self._revision += 1
                    entries[name] = TenantEntry(rec.tenant, rec.origin, self._revision)
            self._tenants = entries
            self._waiting.discard("tenants")
            self._publish_locked()
            return True

    async def set_policies(self, documents: Sequence[Any], origin: str = "policies") -> bool:
        """Replace the policy documents and rebuild the engine. Returns False when they do not
        compile; the previous engine keeps serving."""
        async with self._lock:
            documents = tuple(documents)
            try:
                # Building compiles every policy; run it off the event loop so that decisions
                # keep flowing with the current snapshot meanwhile.
                engine = await asyncio.to_thread(
                    self._build,
                    policies=documents,
                    packs=self._packs,
                    default_action=self._default_action,
                )
            except ExportgateError as exc:
                self.report_error(origin, f"{exc}; keeping the previous policy snapshot")
                return False
            except Exception as exc:
                # A bug in the engine must not take the sidecar down either; say so loudly.
                log.exception("engine build crashed", origin=origin)
                self.report_error(origin, f"internal error building policies: {exc!r}")
                return False
            self._clear_error(origin)
            if self._engine is None or engine.version != self._engine.version:
                await asyncio.to_thread(keep_policy_snapshot, engine)  # for audit replay
                self._engine = engine
                self._boundaries = policy_time_boundaries(engine)
            self._policies = documents
            self._waiting.discard("policies")
            self._publish_locked()
            return True

    def report_error(self, origin: str, message: str) -> None:
        """A source could not use one of its inputs (a broken file or object)."""
        if self._store.errors.get(origin) != message:
            log.error("input refused", origin=origin, error=message)
        self._store.errors[origin] = message

    def clear_error(self, origin: str) -> None:
        self._clear_error(origin)

    # -- internals -------------------------------------------------------------------------

    def _clear_error(self, origin: str) -> None:
        if self._store.errors.pop(origin, None) is not None:
            log.info("input accepted again", origin=origin)

    def _publish_locked(self) -> None:
        # Wait for every expected input: a first snapshot without the cluster's policies
        # would decide with the built-in packs alone.
        if self._waiting or self._engine is None:
            return
        self._generation += 1
        snapshot = Snapshot(
            engine=self._engine,
            tenants=dict(self._tenants),
            policy_count=len(self._policies),
            generation=self._generation,
            loaded_at=datetime.now(UTC),
            time_boundaries=self._boundaries,
        )
        old = self._store.current
        if old is not None and old.engine is snapshot.engine and old.tenants == snapshot.tenants:
            return  # nothing a decision depends on changed
        changed = self._store.publish(snapshot)
        log.info(
            "snapshot published",
            policy_version=snapshot.version,
            generation=snapshot.generation,
            tenants=len(snapshot.tenants),
            policies=snapshot.policy_count,
            changed_tenants=len(changed),
            policy_changed=old is None or old.engine is not snapshot.engine,
        )
        self.ready.set()
