"""Where tenants and policies become a snapshot: the one place, used by the sidecar's loader and
the operator's world alike.

`Assembly` is synchronous and pure bookkeeping: it holds the current tenant entries (with the
revisions cache keys carry) and the current engine, and makes a `Snapshot` of them. Engines are
built by `build_engine`; callers decide where that runs (the sidecar in a thread, off its event
loop).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from exportgate.core.engine import PolicyEngine
from exportgate.core.types import Action, Tenant
from exportgate.decisionlog.snapshots import keep_policy_snapshot
from exportgate.world.clock import policy_boundaries
from exportgate.world.snapshot import Snapshot, TenantEntry, TenantRecord


def build_engine(
    policies: Sequence[Any],
    packs: Sequence[str] | None = None,
    default_action: Action | None = None,
) -> PolicyEngine:
    """The engine over the built-in `packs` plus `policies`; raises `ExportgateError` when they
    do not build together."""
    return PolicyEngine.build(policies=policies, packs=packs, default_action=default_action)


def serving_engine(
    policies: Sequence[Any],
    packs: Sequence[str] | None = None,
    default_action: Action | None = None,
) -> PolicyEngine:
    """`build_engine` for an engine that will decide: its inputs are also kept (in memory,
    until a decision log stores them beside the log) so an auditor can replay its decisions."""
    engine = build_engine(policies, packs, default_action)
    keep_policy_snapshot(engine)
    return engine


def same_record(a: Tenant, b: Tenant) -> bool:
    """Equal for deciding: everything but the API server's bookkeeping (resourceVersion)."""
    return a is b or dataclasses.replace(a, resource_version=None) == dataclasses.replace(
        b, resource_version=None
    )


def duplicates(records: Sequence[TenantRecord]) -> list[str]:
    """One message per tenant name defined more than once, naming both origins."""
    return list(duplicate_names(records).values())


def duplicate_names(records: Sequence[TenantRecord]) -> dict[str, str]:
    """Tenant name -> message, for names defined more than once (the first two origins)."""
    seen: dict[str, TenantRecord] = {}
    found: dict[str, str] = {}
    for rec in records:
        first = seen.setdefault(rec.tenant.name, rec)
        if first is not rec and rec.tenant.name not in found:
            found[rec.tenant.name] = (
                f"tenant {rec.tenant.name!r} is defined twice ({first.origin} and {rec.origin})"
            )
    return found


class Assembly:
    def __init__(self) -> None:
        self.tenants: dict[str, TenantEntry] = {}
        self.invalid: dict[str, str] = {}
        self.engine: PolicyEngine | None = None
        self.policy_count = 0
        self._boundaries: tuple[datetime, ...] = ()
        self._revision = 0
        self._generation = 0

    def set_tenants(
        self, records: Sequence[TenantRecord], invalid: Mapping[str, str] | None = None
    ) -> None:
        """Replace the tenant set. `invalid` names tenants whose record cannot be used (name ->
        why); a name defined twice joins them. Invalid tenants are in no entry: they are denied
        with the reason (`Snapshot.invalid_tenants`), whatever an earlier record allowed."""
        problems = {**(invalid or {}), **duplicate_names(records)}
        entries: dict[str, TenantEntry] = {}
        for rec in records:
            if rec.tenant.name in problems:
                continue
            before = self.tenants.get(rec.tenant.name)
            if before is not None and same_record(before.tenant, rec.tenant):
                # Keep the entry (and its revision): cached decisions stay valid. A status
                # update by the operator bumps resourceVersion without changing a decision.
                entries[rec.tenant.name] = before
            else:
                self._revision += 1
                entries[rec.tenant.name] = TenantEntry(rec.tenant, rec.origin, self._revision)
        self.tenants = entries
        self.invalid = problems

    def set_engine(self, engine: PolicyEngine, policy_count: int) -> None:
        if self.engine is None or engine.version != self.engine.version:
            self.engine = engine
            self._boundaries = policy_boundaries(engine)
        self.policy_count = policy_count

    def snapshot(self, previous: Snapshot | None = None) -> Snapshot | None:
        """A snapshot of the current inputs; `previous` itself when nothing a decision depends
        on changed since it was made; None until an engine is set."""
        if self.engine is None:
            return None
        if (
            previous is not None
            and previous.engine is self.engine
            and previous.tenants == self.tenants
            and previous.invalid_tenants == self.invalid
        ):
            return previous
        self._generation += 1
        return Snapshot(
            engine=self.engine,
            tenants=dict(self.tenants),
            policy_count=self.policy_count,
            generation=self._generation,
            loaded_at=datetime.now(UTC),
            time_boundaries=self._boundaries,
            invalid_tenants=dict(self.invalid),
        )
