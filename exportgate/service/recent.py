"""Recent decisions, by id: so one admission is decided and logged once, not once per phase.

The API server calls the webhook twice for each admitted object: /mutate (which stamps the
decision id on the object) and then /validate. The second call passes the stamped id as
`reuse_decision_id`; if this sidecar made that decision moments ago for exactly the same question,
it answers with it again instead of deciding and fsyncing a second record.

What makes reuse safe is that nothing the caller sends is trusted, only compared:

- the id must be one this process handed out (ids of other replicas, or from before a restart,
  are simply unknown and get a fresh decision);
- the item must have the same fingerprint: tenant, object kind/namespace/name/uid, user,
  operation, and the accelerators and models extracted from the object being validated. A later
  mutating webhook that adds a GPU, a different object, or a forged annotation copied from
  another pod all change it;
- the policy snapshot and the tenant's record revision must still be the ones that decided,
  and the evaluation instant must not have crossed a date at which the tenant's standing or a
  rule changes (verification expiry, licence dates, rule effective dates);
- the entry is young (`ttl`, seconds) and the map is bounded (`max_entries`), so it cannot grow
  under a flood of distinct objects.

Between the phases the API server fills in two identity fields itself on CREATE: `metadata.uid`,
and the name of an object created with `generateName` (the mutating phase sees `prefix*`). Those,
and only those, may differ.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from datetime import datetime

from cachetools import TTLCache

from exportgate.core.decision import Decision
from exportgate.core.types import Tenant
from exportgate.wire.question import Question
from exportgate.world.clock import tenant_boundaries, validity_window
from exportgate.world.snapshot import Snapshot

Fingerprint = tuple[Hashable, ...]


def fingerprint(question: Question) -> Fingerprint:
    """Everything of a question a decision (and its log record) depends on, except the object's
    name and uid, which `_same_object` compares."""
    ref = question.workload.ref
    return (
        question.tenant,
        ref.api_version,
        ref.kind,
        ref.namespace,
        question.operation,
        question.username,
        question.user_uid,
        question.groups,
        question.workload.accelerators,
        question.workload.models,
    )


def _same_object(made: tuple[str, str], now: Question) -> bool:
    """`made` is the (name, uid) the decision was made for."""
    made_name, made_uid = made
    now_name = now.workload.ref.name
    if now.operation == "CREATE":
        # The API server assigns the uid, and the name of a generateName object, after the
        # mutating phase and before the validating one.
        if made_uid and made_uid != now.object_uid:
            return False
        if made_name.endswith("*") and made_name != now_name:
            return now_name.startswith(made_name[:-1]) and not now_name.endswith("*")
        return made_name == now_name
    return made_name == now_name and made_uid == now.object_uid


@dataclass(frozen=True, slots=True)
class _Made:
    decision: Decision
    fingerprint: Fingerprint
    object: tuple[str, str]  # name, uid
    policy_version: str
    tenant_revision: int
    valid_from: datetime | None
    valid_until: datetime | None


class RecentDecisions:
    def __init__(
        self, *, max_entries: int, ttl: float, timer: Callable[[], float] = time.monotonic
    ) -> None:
        self.enabled = max_entries > 0 and ttl > 0
        self._made: TTLCache[str, _Made] = TTLCache(
            maxsize=max(max_entries, 1), ttl=max(ttl, 1e-9), timer=timer
        )

    def __len__(self) -> int:
        return len(self._made)

    def remember(
        self,
        decision_id: str,
        question: Question,
        decision: Decision,
        snapshot: Snapshot,
        tenant: Tenant | None,
        tenant_revision: int,
        at: datetime,
    ) -> None:
        """Record a decision that was logged durably and delivered to the caller."""
        if not self.enabled:
            return
        valid_from, valid_until = validity_window(
            tenant_boundaries(tenant), at, snapshot.time_boundaries
        )
        self._made[decision_id] = _Made(
            decision=decision,
            fingerprint=fingerprint(question),
            object=(question.workload.ref.name, question.object_uid),
            policy_version=snapshot.version,
            tenant_revision=tenant_revision,
            valid_from=valid_from,
            valid_until=valid_until,
        )

    def reusable(
        self,
        decision_id: str,
        question: Question,
        snapshot: Snapshot,
        tenant_revision: int,
        at: datetime,
    ) -> Decision | None:
        """The decision `decision_id` if it answers exactly this question now, else None."""
        if not self.enabled or not decision_id:
            return None
        made = self._made.get(decision_id)
        if made is None:
            return None
        if (
            made.policy_version != snapshot.version
            or made.tenant_revision != tenant_revision
            or (made.valid_from is not None and at < made.valid_from)
            or (made.valid_until is not None and at >= made.valid_until)
            or made.fingerprint != fingerprint(question)
            or not _same_object(made.object, question)
        ):
            return None
        return made.decision

    def clear(self) -> None:
        self._made.clear()

    def on_snapshot(self, old: Snapshot | None, new: Snapshot, changed: frozenset[str]) -> None:
        """`SnapshotStore` listener: a new policy version makes every entry useless; free them.
        (A changed tenant is caught by its revision on lookup.)"""
        if old is not None and old.version != new.version:
            self.clear()
