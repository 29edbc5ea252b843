"""`PolicyService`: decide a batch of questions, log every decision durably, then answer.

This is the policy service itself, with no transport: the sidecar's gRPC servicer calls it for
each Evaluate call, and a webhook with the service embedded calls it directly (no socket, no
protobuf). Whichever front door a question comes through, it is decided with one snapshot,
written to the decision log in one group commit, and answered only then.

A call it cannot serve raises `Refused`, whose code is named after the gRPC status the sidecar
answers with (the front doors map it; callers act on it the same way):

- INVALID_ARGUMENT: a question is malformed or its record would be too large; nothing is logged.
- DEADLINE_EXCEEDED: too little of the caller's deadline was left to do the work. If it runs out
  while the decisions are being logged, they are marked ``not-delivered`` in the log.
- UNAVAILABLE: no snapshot is loaded yet, or the decision log cannot be written. A caller must
  treat it as "no decision" (the webhook's failure policy decides), never as an allow.
- RESOURCE_EXHAUSTED: the batch is larger than the configured maximum.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import json
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, NoReturn

import structlog

from exportgate.core.decision import Decision
from exportgate.core.limits import INLINE_REQUESTS, MAX_DECISION_RECORD_BYTES
from exportgate.core.records import invalid_record_decision
from exportgate.core.types import Workload
from exportgate.service.cache import DecisionCache
from exportgate.service.config import SidecarConfig
from exportgate.service.health import HealthMonitor
from exportgate.service.journal import DecisionJournal, LogEntry
from exportgate.service.metrics import SidecarMetrics
from exportgate.service.recent import RecentDecisions
from exportgate.wire.convert import Answer
from exportgate.wire.question import Question
from exportgate.world.snapshot import Snapshot, SnapshotStore, TenantEntry

log = structlog.get_logger("exportgate.sidecar")

TimeRemaining = Callable[[], float | None]
"""Seconds left of the caller's deadline, or None when it set none."""


def no_deadline() -> float | None:
    return None


class RefusalCode(enum.StrEnum):
    """Why a call was not served; the values are the gRPC status names the sidecar answers."""

    INVALID_ARGUMENT = "INVALID_ARGUMENT"
    DEADLINE_EXCEEDED = "DEADLINE_EXCEEDED"
    UNAVAILABLE = "UNAVAILABLE"
    RESOURCE_EXHAUSTED = "RESOURCE_EXHAUSTED"


class Refused(Exception):
    """The call was not served; `message` is written for the caller and says what to do."""

    def __init__(self, code: RefusalCode, message: str) -> None:
        self.code = code
        self.message = message
        super().__init__(f"{code.value}: {message}")


@dataclass(slots=True)
class _Judged:
    """One question of a batch on its way through decide, log, answer."""

    question: Question
    entry: TenantEntry | None  # the question's tenant record in the snapshot, if any
    decision: Decision
    decision_id: str = ""  # the log record's id; set when logged (or the reused decision's)
    reused: bool = False  # an earlier decision answered again: already durable, not logged
    large: bool = False  # `_large(workload)`: decided off the loop, its record size checked


class Activity:
    """How many calls are running, and when the last one started (for draining)."""

    def __init__(self) -> None:
        self.active = 0
        self.last_started = time.monotonic()

    def quiet_for(self) -> float:
        """Seconds without a running call, 0 while one runs."""
        return 0.0 if self.active else time.monotonic() - self.last_started

    @contextlib.contextmanager
    def running(self) -> Iterator[None]:
        self.active += 1
        self.last_started = time.monotonic()
        try:
            yield
        finally:
            self.active -= 1
            self.last_started = time.monotonic()


class PolicyService:
    def __init__(
        self,
        *,
        config: SidecarConfig,
        store: SnapshotStore,
        cache: DecisionCache,
        journal: DecisionJournal,
        recent: RecentDecisions | None = None,
        health: HealthMonitor,
        metrics: SidecarMetrics,
        activity: Activity | None = None,
    ) -> None:
        self.activity = activity or Activity()
        self._config = config
        self._store = store
        self._cache = cache
        # Not `recent or ...`: an empty map has len() 0 and would be replaced.
        self._recent = (
            recent
            if recent is not None
            else RecentDecisions(max_entries=config.reuse_max_entries, ttl=config.reuse_window)
        )
        self._journal = journal
        self._health = health
        self._metrics = metrics
        # The decisions counter's child per action, resolved once: `labels()` costs about three
        # times the increment, on every answer (created on first use, as `labels()` would).
        self._decided: dict[str, Any] = {}

    @property
    def current(self) -> Snapshot | None:
        return self._store.current

    async def evaluate(
        self,
        questions: Sequence[Question],
        *,
        at: datetime | None = None,
        time_remaining: TimeRemaining = no_deadline,
    ) -> list[Answer]:
        """One `Answer` per question, in order, each durably logged before this returns."""
        with self.activity.running():
            snapshot = self.admit(len(questions), time_remaining)
            return await self.decide_and_log(snapshot, questions, at, time_remaining)

    # -- the steps: admit, decide, log, answer -----------------------------------------------

    def admit(self, count: int, time_remaining: TimeRemaining) -> Snapshot:
        """Refuse a call that cannot be served before reading its questions; else the one
        snapshot the whole batch is decided by and stamped with, even if a new one is published
        while we work."""
        self._check_deadline(time_remaining)
        if count > self._config.max_batch_items:
            self.refuse(
                RefusalCode.RESOURCE_EXHAUSTED,
                f"batch of {count} items exceeds the maximum of "
                f"{self._config.max_batch_items}; split it into smaller Evaluate calls",
            )
        snapshot = self._store.current
        if snapshot is None:
            self.refuse(
                RefusalCode.UNAVAILABLE,
                "no policy snapshot loaded yet: the sidecar is still reading tenants and "
                "policies (see its log for errors); retry shortly",
            )
        return snapshot

    async def decide_and_log(
        self,
        snapshot: Snapshot,
        questions: Sequence[Question],
        at: datetime | None,
        time_remaining: TimeRemaining,
    ) -> list[Answer]:
        started = time.perf_counter()
        at = at or datetime.now(UTC)
        judged = [await self._judge(q, snapshot, at) for q in questions]
        for i, j in enumerate(judged):
            size = _oversized(j.decision) if j.large else 0
            if size:
                self.refuse(
                    RefusalCode.INVALID_ARGUMENT,
                    f"items[{i}]: its decision record would be {size} bytes, more than the cap "
                    f"of {MAX_DECISION_RECORD_BYTES} (MAX_DECISION_RECORD_BYTES); split the "
                    "workload into several objects. Nothing was logged.",
                )
        await self._log(judged, snapshot, at, time_remaining)
        return self._answer(judged, snapshot, started)

    async def _judge(self, question: Question, snapshot: Snapshot, at: datetime) -> _Judged:
        """Decide one question: the earlier decision it names if that still answers it exactly,
        else a fresh one (from the cache or the engine)."""
        entry = snapshot.tenants.get(question.tenant) if question.tenant else None
        revision = entry.revision if entry is not None else 0
        if question.reuse_decision_id:
            earlier = self._recent.reusable(
                question.reuse_decision_id, question, snapshot, revision, at
            )
            if earlier is not None:
                return _Judged(question, entry, earlier, question.reuse_decision_id, True)
            self._metrics.reuse_refused.inc()
        workload = question.workload
        large = _large(workload)
        if large:
            decision = await self._decide_off_loop(snapshot, question.tenant, entry, workload, at)
        else:
            decision = self._decide(snapshot, question.tenant, entry, workload, at)
        return _Judged(question, entry, decision, large=large)

    async def _log(
        self,
        judged: list[_Judged],
        snapshot: Snapshot,
        at: datetime,
        time_remaining: TimeRemaining,
    ) -> None:
        """Write every fresh decision durably, in one group commit, and give it its id.

        Evaluation is quick, but a large batch on a busy loop may have used up the deadline:
        writing records nobody will act on is harmless, answering late is pointless."""
        self._check_deadline(time_remaining)
        fresh = [j for j in judged if not j.reused]
        if not fresh:
            return
        entries = [
            LogEntry(
                decision=j.decision,
                user=j.question.username or None,
                request_uid=j.question.request_uid or None,
                operation=j.question.operation or None,
                extra=_extra(j.question, snapshot),
                # The inputs and tenant record behind it, so an auditor can replay it.
                workload=j.question.workload,
                tenant_record=j.entry.tenant if j.entry is not None else None,
            )
            for j in fresh
        ]
        try:
            ids = await self._journal.write(entries)
        except Exception as exc:
            self._metrics.log_failures.inc()
            self._health.log_result(False)
            log.error("decision log write failed", error=str(exc), items=len(entries))
            self.refuse(
                RefusalCode.UNAVAILABLE,
                f"decision log unwritable: {exc}; no decision was made for this request",
            )
        self._health.log_result(True)
        remaining = time_remaining()
        if remaining is not None and remaining <= 0:
            # Logged, but the caller will not read the answer: say so in the log too.
            await self._journal.not_delivered(ids, "the caller's deadline passed while logging")
            self.refuse(
                RefusalCode.DEADLINE_EXCEEDED,
                "the caller's deadline passed while the decisions were being logged; they are "
                "marked not delivered; raise the caller's timeout",
            )
        for j, decision_id in zip(fresh, ids, strict=True):
            j.decision_id = decision_id
            # Delivered from here on: the caller may name it again (its validating phase).
            self._recent.remember(
                decision_id,
                j.question,
                j.decision,
                snapshot,
                j.entry.tenant if j.entry is not None else None,
                j.entry.revision if j.entry is not None else 0,
                at,
            )

    def _answer(self, judged: list[_Judged], snapshot: Snapshot, started: float) -> list[Answer]:
        for j in judged:
            if j.reused:
                self._metrics.decisions_reused.inc()
            else:
                action = j.decision.action.value
                counter = self._decided.get(action)
                if counter is None:
                    counter = self._decided[action] = self._metrics.decisions.labels(action=action)
                counter.inc()
        self._metrics.batch_items.observe(len(judged))
        self._metrics.evaluate_seconds.observe(time.perf_counter() - started)
        return [
            Answer(
                decision=j.decision,
                decision_id=j.decision_id,
                policy_version=snapshot.version,
                reused=j.reused,
            )
            for j in judged
        ]

    # -- internals ---------------------------------------------------------------------------

    def _decide(
        self,
        snapshot: Snapshot,
        tenant_name: str,
        entry: TenantEntry | None,
        workload: Workload,
        at: datetime,
    ) -> Decision:
        problem = snapshot.invalid_tenants.get(tenant_name) if tenant_name else None
        if problem is not None:
            # Its stored record does not parse: unusable, never its superseded permissions.
            return invalid_record_decision(snapshot.engine, workload, tenant_name, problem, at)
        tenant = entry.tenant if entry is not None else None
        key = self._cache.key(snapshot, tenant_name, entry.revision if entry else 0, workload)
        cached = self._cache.get(key, workload, at)
        if cached is not None:
            self._metrics.cache_hits.inc()
            return cached
        if self._cache.enabled:
            self._metrics.cache_misses.inc()
        # An unknown name is decided like an unbound tenant, but the message names it so that
        # whoever reads the denial knows which Tenant record is missing.
        decision = snapshot.engine.evaluate(workload, tenant, at, tenant_name=tenant_name or None)
        self._cache.put(key, decision, tenant, at, snapshot.time_boundaries)
        return decision

    async def _decide_off_loop(
        self,
        snapshot: Snapshot,
        tenant_name: str,
        entry: TenantEntry | None,
        workload: Workload,
        at: datetime,
    ) -> Decision:
        """A large workload, decided on a worker thread (the engine and snapshot are immutable)
        and not cached, so that the loop keeps serving other calls meanwhile."""
        problem = snapshot.invalid_tenants.get(tenant_name) if tenant_name else None
        if problem is not None:
            return await asyncio.to_thread(
                invalid_record_decision, snapshot.engine, workload, tenant_name, problem, at
            )
        tenant = entry.tenant if entry is not None else None
        return await asyncio.to_thread(
            snapshot.engine.evaluate, workload, tenant, at, tenant_name=tenant_name or None
        )

    def refuse(self, code: RefusalCode, message: str) -> NoReturn:
        """Count and raise a refusal (front doors use it for what they refuse themselves)."""
        self._metrics.rejected.labels(code=code.value).inc()
        raise Refused(code, message)

    def _check_deadline(self, time_remaining: TimeRemaining) -> None:
        remaining = time_remaining()
        if remaining is not None and remaining < self._config.min_time_remaining:
            self.refuse(
                RefusalCode.DEADLINE_EXCEEDED,
                f"only {remaining * 1000:.1f} ms of the caller's deadline left, less than the "
                f"{self._config.min_time_remaining * 1000:.1f} ms needed to decide and log; "
                "raise the caller's timeout",
            )


def _extra(question: Question, snapshot: Snapshot) -> dict[str, Any]:
    extra: dict[str, Any] = {"policyVersion": snapshot.version}
    if question.object_uid:
        extra["objectUid"] = question.object_uid
    if question.groups:
        extra["groups"] = list(question.groups)
    return extra


_FAST_PATH_CHARS = 16 * 1024
"""Characters of a workload's strings below which its decision record cannot come near
`MAX_DECISION_RECORD_BYTES`: a record repeats each of them a few times at most, plus a few KiB
per request (candidate products), so a small workload with short strings is not serialised."""


def _oversized(decision: Decision) -> int:
    """The size of `decision`'s record when it is over the cap, else 0. Asked only for large
    workloads (`_large`): one with few requests and short strings cannot come near the cap (the
    fast path). Few requests alone are not enough: one model reference can be megabytes long
    (red team 4, F8)."""
    size = len(json.dumps(decision.to_dict(), separators=(",", ":")))
    return size if size > MAX_DECISION_RECORD_BYTES else 0


def _large(workload: Workload) -> bool:
    """Whether `workload` is decided off the loop (and its record's size checked): many
    requests, or few with long strings. Resolving a placement costs about 2 us per value of its
    `In` lists, and Kubernetes does not bound their length: one request with 60,000 values
    took 119 ms on the loop every admission shares (red team, session 12)."""
    return (
        len(workload.accelerators) + len(workload.models) > INLINE_REQUESTS
        or _echoed_chars(workload) > _FAST_PATH_CHARS
    )


def _echoed_chars(workload: Workload) -> int:
    """The length of the strings of `workload` that its decision record may repeat."""
    ref = workload.ref
    total = len(ref.api_version) + len(ref.kind) + len(ref.name) + len(ref.namespace or "")
    total += len(workload.tenant_label or "")
    for model in workload.models:
        total += len(model.reference) + len(model.provider or "") + len(model.source)
    for request in workload.accelerators:
        total += len(request.resource) + len(request.source)
        for hint in request.hints:
            total += len(hint.key) + sum(len(value) for value in hint.values)
    return total
