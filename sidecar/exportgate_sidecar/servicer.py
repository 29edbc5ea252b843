"""The `exportgate.v1.PolicyService` implementation.

One Evaluate call: check the deadline, read the current snapshot once, decide every item with it
(from the cache or the engine), write all decisions to the decision log in one group commit,
and only then answer. Each failure has a status a caller can act on:

- INVALID_ARGUMENT: an item is malformed (the message names the field); nothing is logged.
- DEADLINE_EXCEEDED: too little of the caller's deadline was left to do the work. If it runs out
  while the decisions are being logged, they are marked ``not-delivered`` in the log.
- UNAVAILABLE: no snapshot is loaded yet, or the decision log cannot be written. A caller must
  treat it as "no decision" (the webhook's failure policy decides), never as an allow.
- RESOURCE_EXHAUSTED: the batch is larger than the configured maximum.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, NoReturn

import grpc
import structlog

from exportgate.core.decision import Decision
from exportgate.core.errors import InputError
from exportgate.core.limits import INLINE_REQUESTS, MAX_DECISION_RECORD_BYTES
from exportgate.core.records import invalid_record_decision
from exportgate.core.types import Workload
from exportgate.v1 import policy_pb2 as pb
from exportgate.v1 import policy_pb2_grpc as pb_grpc
from exportgate.wire.convert import (
    OPERATION_NAMES,
    decision_to_proto,
    item_to_workload,
    parse_at,
)
from exportgate.wire.timestamps import timestamp
from exportgate.world.snapshot import Snapshot, SnapshotStore, TenantEntry
from exportgate_sidecar.cache import DecisionCache
from exportgate_sidecar.config import SidecarConfig
from exportgate_sidecar.health import HealthMonitor
from exportgate_sidecar.journal import DecisionJournal, LogEntry
from exportgate_sidecar.metrics import SidecarMetrics
from exportgate_sidecar.recent import RecentDecisions

log = structlog.get_logger("exportgate.sidecar")


@dataclass(slots=True)
class _Judged:
    """One item of a batch on its way through decide, log, answer."""

    item: pb.EvaluateItem
    workload: Workload
    entry: TenantEntry | None  # the item's tenant record in the snapshot, if any
    decision: Decision
    decision_id: str = ""  # the log record's id; set when logged (or the reused decision's)
    reused: bool = False  # an earlier decision answered again: already durable, not logged


class Activity:
    """How many Evaluate calls are running, and when the last one started (for draining)."""

    def __init__(self) -> None:
        self.active = 0
        self.last_started = time.monotonic()

    def quiet_for(self) -> float:
        """Seconds without a running call, 0 while one runs."""
        return 0.0 if self.active else time.monotonic() - self.last_started


class PolicyServicer(pb_grpc.PolicyServiceServicer):  # type: ignore[misc]  # untyped base
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

    async def Evaluate(  # the RPC's name in the proto
        self, request: pb.EvaluateRequest, context: grpc.aio.ServicerContext
    ) -> pb.EvaluateResponse:
        self.activity.active += 1
        self.activity.last_started = time.monotonic()
        try:
            return await self._evaluate(request, context)
        finally:
            self.activity.active -= 1
            self.activity.last_started = time.monotonic()

    async def _evaluate(
        self, request: pb.EvaluateRequest, context: grpc.aio.ServicerContext
    ) -> pb.EvaluateResponse:
        started = time.perf_counter()
        snapshot, at, workloads = await self._accept(request, context)
        judged = [
            await self._judge(item, workload, snapshot, at)
            for item, workload in zip(request.items, workloads, strict=True)
        ]
        for i, j in enumerate(judged):
            size = 0 if j.reused else _oversized(j.decision, j.workload)
            if size:
                await self._abort(
                    context,
                    grpc.StatusCode.INVALID_ARGUMENT,
                    f"items[{i}]: its decision record would be {size} bytes, more than the cap "
                    f"of {MAX_DECISION_RECORD_BYTES} (MAX_DECISION_RECORD_BYTES); split the "
                    "workload into several objects. Nothing was logged.",
                )
        await self._log(judged, snapshot, at, context)
        return self._answer(judged, snapshot, started)

    # -- the three steps: decide, log, answer ------------------------------------------------

    async def _accept(
        self, request: pb.EvaluateRequest, context: grpc.aio.ServicerContext
    ) -> tuple[Snapshot, datetime, list[Workload]]:
        """Refuse what cannot be decided; else the snapshot, instant and workloads to decide."""
        await self._check_deadline(context)
        items = request.items
        if len(items) > self._config.max_batch_items:
            await self._abort(
                context,
                grpc.StatusCode.RESOURCE_EXHAUSTED,
                f"batch of {len(items)} items exceeds the maximum of "
                f"{self._config.max_batch_items}; split it into smaller Evaluate calls",
            )
        # Read the reference once: the whole batch is decided by, and stamped with, this one
        # snapshot even if a new one is published while we work.
        snapshot = self._store.current
        if snapshot is None:
            await self._abort(
                context,
                grpc.StatusCode.UNAVAILABLE,
                "no policy snapshot loaded yet: the sidecar is still reading tenants and "
                "policies (see its log for errors); retry shortly",
            )
        try:
            # An out-of-range instant is the caller's input: INVALID_ARGUMENT, not UNKNOWN.
            at = parse_at(request) or datetime.now(UTC)
            workloads = [item_to_workload(item, f"items[{i}]") for i, item in enumerate(items)]
        except InputError as exc:
            await self._abort(context, grpc.StatusCode.INVALID_ARGUMENT, exc.describe())
        return snapshot, at, workloads

    async def _judge(
        self, item: pb.EvaluateItem, workload: Workload, snapshot: Snapshot, at: datetime
    ) -> _Judged:
        """Decide one item: the earlier decision it names if that still answers it exactly,
        else a fresh one (from the cache or the engine)."""
        entry = snapshot.tenants.get(item.tenant) if item.tenant else None
        revision = entry.revision if entry is not None else 0
        if item.reuse_decision_id:
            earlier = self._recent.reusable(
                item.reuse_decision_id, item, workload, snapshot, revision, at
            )
            if earlier is not None:
                return _Judged(item, workload, entry, earlier, item.reuse_decision_id, True)
            self._metrics.reuse_refused.inc()
        if len(workload.accelerators) + len(workload.models) > INLINE_REQUESTS:
            decision = await self._decide_off_loop(snapshot, item.tenant, entry, workload, at)
        else:
            decision = self._decide(snapshot, item.tenant, entry, workload, at)
        return _Judged(item, workload, entry, decision)

    async def _log(
        self,
        judged: list[_Judged],
        snapshot: Snapshot,
        at: datetime,
        context: grpc.aio.ServicerContext,
    ) -> None:
        """Write every fresh decision durably, in one group commit, and give it its id.

        Evaluation is quick, but a large batch on a busy loop may have used up the deadline:
        writing records nobody will act on is harmless, answering late is pointless."""
        await self._check_deadline(context)
        fresh = [j for j in judged if not j.reused]
        if not fresh:
            return
        entries = [
            LogEntry(
                decision=j.decision,
                user=j.item.user.username or None,
                request_uid=j.item.request_uid or None,
                operation=OPERATION_NAMES.get(j.item.operation) or None,
                extra=_extra(j.item, snapshot),
                # The inputs and tenant record behind it, so an auditor can replay it.
                workload=j.workload,
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
            await self._abort(
                context,
                grpc.StatusCode.UNAVAILABLE,
                f"decision log unwritable: {exc}; no decision was made for this request",
            )
        self._health.log_result(True)
        remaining = context.time_remaining()
        if remaining is not None and remaining <= 0:
            # Logged, but the caller will not read the answer: say so in the log too.
            await self._journal.not_delivered(ids, "the caller's deadline passed while logging")
            await self._abort(
                context,
                grpc.StatusCode.DEADLINE_EXCEEDED,
                "the caller's deadline passed while the decisions were being logged; they are "
                "marked not delivered; raise the caller's timeout",
            )
        for j, decision_id in zip(fresh, ids, strict=True):
            j.decision_id = decision_id
            # Delivered from here on: the caller may name it again (its validating phase).
            self._recent.remember(
                decision_id,
                j.item,
                j.workload,
                j.decision,
                snapshot,
                j.entry.tenant if j.entry is not None else None,
                j.entry.revision if j.entry is not None else 0,
                at,
            )

    def _answer(
        self, judged: list[_Judged], snapshot: Snapshot, started: float
    ) -> pb.EvaluateResponse:
        for j in judged:
            if j.reused:
                self._metrics.decisions_reused.inc()
            else:
                self._metrics.decisions.labels(action=j.decision.action.value).inc()
        self._metrics.batch_items.observe(len(judged))
        self._metrics.evaluate_seconds.observe(time.perf_counter() - started)
        return pb.EvaluateResponse(
            decisions=[
                decision_to_proto(
                    j.decision,
                    decision_id=j.decision_id,
                    policy_version=snapshot.version,
                    reused=j.reused,
                )
                for j in judged
            ],
            policy_version=snapshot.version,
        )

    async def Status(  # the RPC's name in the proto
        self, request: pb.StatusRequest, context: grpc.aio.ServicerContext
    ) -> pb.StatusResponse:
        snapshot = self._store.current
        if snapshot is None:
            await self._abort(context, grpc.StatusCode.UNAVAILABLE, "no policy snapshot loaded yet")
        return pb.StatusResponse(
            policy_version=snapshot.version,
            policy_versions=snapshot.engine.policy_versions,
            tenants=len(snapshot.tenants),
            policies=snapshot.policy_count,
            loaded_at=timestamp(snapshot.loaded_at),
            decision_log=str(self._config.decision_log),
        )

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

    async def _abort(
        self, context: grpc.aio.ServicerContext, code: grpc.StatusCode, message: str
    ) -> NoReturn:
        self._metrics.rejected.labels(code=code.name).inc()
        await context.abort(code, message)
        raise AssertionError("unreachable: context.abort raises")  # pragma: no cover

    async def _check_deadline(self, context: grpc.aio.ServicerContext) -> None:
        remaining = context.time_remaining()
        if remaining is not None and remaining < self._config.min_time_remaining:
            await self._abort(
                context,
                grpc.StatusCode.DEADLINE_EXCEEDED,
                f"only {remaining * 1000:.1f} ms of the caller's deadline left, less than the "
                f"{self._config.min_time_remaining * 1000:.1f} ms needed to decide and log; "
                "raise the caller's timeout",
            )


def _extra(item: pb.EvaluateItem, snapshot: Snapshot) -> dict[str, Any]:
    extra: dict[str, Any] = {"policyVersion": snapshot.version}
    if item.object.uid:
        extra["objectUid"] = item.object.uid
    if item.user.groups:
        extra["groups"] = list(item.user.groups)
    return extra


def _oversized(decision: Decision, workload: Workload) -> int:
    """The size of `decision`'s record when it is over the cap, else 0. Only large workloads
    are serialised to find out: a small one cannot come near the cap (the fast path)."""
    if len(workload.accelerators) + len(workload.models) <= INLINE_REQUESTS:
        return 0
    size = len(json.dumps(decision.to_dict(), separators=(",", ":")))
    return size if size > MAX_DECISION_RECORD_BYTES else 0
