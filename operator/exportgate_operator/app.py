"""The operator's shared state and the status writes several handlers need."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from exportgate.logsetup import get_logger
from exportgate_operator import status
from exportgate_operator.conditions import timestamp
from exportgate_operator.decide import AuditOutcome
from exportgate_operator.decisions import DecisionRecorder
from exportgate_operator.events import EventPoster
from exportgate_operator.kinds import POLICIES, TENANTS, Resource
from exportgate_operator.kube import Kube, KubeError
from exportgate_operator.peering import Peering
from exportgate_operator.reaudit import Auditor
from exportgate_operator.settings import OperatorConfig
from exportgate_operator.timers import TenantTimers
from exportgate_operator.world import World

log = get_logger(__name__)


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class App:
    config: OperatorConfig
    kube: Kube
    world: World
    recorder: DecisionRecorder
    events: EventPoster
    auditor: Auditor
    peering: Peering
    timers: TenantTimers = field(init=False)
    _audited_at: dict[str, datetime] = field(default_factory=dict)
    _pending: set[str] = field(default_factory=set)
    _batch: asyncio.Task[None] | None = None

    @classmethod
    def create(cls, config: OperatorConfig, kube: Kube) -> App:
        world = World(config.packs)
        recorder = DecisionRecorder(config.decision_log, close_timeout=config.log_close_timeout)
        events = EventPoster(kube)
        auditor = Auditor(kube, world, recorder, config, events)
        return cls(config, kube, world, recorder, events, auditor, Peering(kube, config))

    def __post_init__(self) -> None:
        self.timers = TenantTimers(self, utcnow)

    # --- priming ------------------------------------------------------------------------

    def prime(self) -> None:
        """Read every policy and tenant before the handlers run (blocking), so the first
        statuses and re-audits already use the cluster's whole policy set."""
        for body in self.kube.each(POLICIES):
            self.world.set_policy(body)
        for body in self.kube.each(TENANTS):
            self.world.set_tenant(body)

    # --- status writes (blocking; call through asyncio.to_thread) -----------------------

    def _current_status(self, resource: Resource, name: str) -> Mapping[str, Any] | None:
        found = self.kube.get(resource, name)
        if found is None:
            return None
        current: Mapping[str, Any] = found.get("status") or {}
        return current

    def publish_tenant(self, name: str, outcome: AuditOutcome | None = None) -> None:
        record = self.world.tenant_record(name)
        if record is None:
            return
        existing = self._current_status(TENANTS, name)
        if existing is None:
            return  # deleted meanwhile
        now = utcnow()
        snapshot = self.world.snapshot
        body = status.tenant_status(
            record, snapshot.engine, now, existing, snapshot.time_boundaries
        )
        if outcome is not None and name in outcome.tenants:
            counts = outcome.tenants[name]
            body["workloads"] = {
                "auditedAt": timestamp(outcome.at),
                "audited": counts.audited,
                "violations": counts.violations,
            }
        self._patch_status(TENANTS, name, body)

    def publish_policy(self, name: str) -> None:
        record = self.world.policy_record(name)
        if record is None:
            return
        existing = self._current_status(POLICIES, name)
        if existing is None:
            return
        body = status.policy_status(record, self.world.engine, utcnow(), existing)
        self._patch_status(POLICIES, name, body)

    def _patch_status(self, resource: Resource, name: str, body: Mapping[str, Any]) -> None:
        try:
            self.kube.merge_patch(resource, name, {"status": dict(body)}, sub="status")
        except KubeError as exc:
            if not exc.not_found:
                raise

    # --- re-audit -----------------------------------------------------------------------

    async def reaudit(self, names: Iterable[str] | None, reason: str) -> AuditOutcome:
        """Re-audit, then record the counts on each audited tenant's status."""
        targets = list(names) if names is not None else self.world.tenant_names()
        outcome = await self.auditor.audit(targets if names is not None else None, reason)
        for name in targets:
            self._audited_at[name] = outcome.at
        for name in targets:
            await asyncio.to_thread(self.publish_tenant, name, outcome)
        return outcome

    def reaudit_soon(self, name: str, reason: str, delay: float = 0.5) -> None:
        """Queue a re-audit of `name`, merged with others queued within `delay` seconds.

        At start-up every Tenant is resumed at once; one audit of all of them lists each
        namespace once instead of once per tenant.
        """
        self._pending.add(name)
        if self._batch is None or self._batch.done():
            self._batch = asyncio.get_running_loop().create_task(self._flush(reason, delay))

    async def _flush(self, reason: str, delay: float) -> None:
        await asyncio.sleep(delay)
        names, self._pending = self._pending, set()
        try:
            await self.reaudit(sorted(names), reason)
        except Exception as exc:  # a background task: log, the next trigger retries
            log.error("batched re-audit failed", tenants=sorted(names), error=str(exc))

    def next_periodic_audit(self, name: str) -> datetime | None:
        """When the tenant is next due a periodic re-audit (None: periodic audits are off)."""
        if self.config.audit_interval <= 0:
            return None
        last = self._audited_at.get(name)
        if last is None:
            return utcnow() + timedelta(seconds=self.config.audit_interval)
        return last + timedelta(seconds=self.config.audit_interval)

    def tenant_event(self, name: str, type_: str, reason: str, message: str) -> None:
        record = self.world.tenant_record(name)
        obj = {
            "apiVersion": TENANTS.api_version,
            "kind": TENANTS.kind,
            "metadata": {"name": name, **({"uid": record.uid} if record and record.uid else {})},
        }
        self.events.post(obj, type_, reason, message)

    def close(self) -> None:
        """Close the decision log, bounded (`DecisionRecorder.close`); `recorder.stalled` says
        whether it gave up."""
        self.recorder.close()

    async def aclose(self) -> None:
        """`close` without blocking the event loop."""
        await self.recorder.aclose()
