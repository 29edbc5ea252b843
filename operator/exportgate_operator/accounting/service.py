"""Compute accounting in the running operator: the checkpoint loop and what a pass publishes.

Every `interval` seconds (the checkpoint interval, `--compute-interval`): one pass of the
`Accountant` (in a thread: it lists Pods and writes records), then the alerts for what the
pass stored but has not yet announced: run crossings, tenant crossings (the capacity tier over
all of a tenant's runs), group crossings (the same over a group of tenants that answer to one
party) and usage jumps. Each is marked `notified` in its record(s) only after
its log record, Events and report entry went out: an operator that dies in between announces it
again after the restart (at least once), never zero times, and one marked is never announced
again, also by a restarted operator.
"""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from collections.abc import Callable, Mapping
from datetime import date
from typing import Any

from exportgate.core.compute_policy import ComputePolicy, UsageJump
from exportgate.logsetup import get_logger
from exportgate_operator.accounting import alerts
from exportgate_operator.accounting.accountant import Accountant, PassOutcome
from exportgate_operator.accounting.lease import Lease
from exportgate_operator.accounting.metrics import AccountingMetrics
from exportgate_operator.accounting.records import RunRecord
from exportgate_operator.decisions import DecisionRecorder
from exportgate_operator.kinds import POLICY_REPORTS
from exportgate_operator.kube import KubeError

log = get_logger(__name__)
EventSink = Callable[[Mapping[str, Any], str, str, str], None]
TenantEventSink = Callable[[str, str, str, str], None]
EVENT_CHARS = 1024  # what an Event's message keeps (exportgate_operator.events)


class ComputeAccounting:
    def __init__(
        self,
        accountant: Accountant,
        recorder: DecisionRecorder,
        event: EventSink,
        tenant_event: TenantEventSink,
        metrics: AccountingMetrics | None = None,
        interval: float = 60.0,
        lease: Lease | None = None,
    ) -> None:
        self.accountant = accountant
        self.recorder = recorder
        self.event = event
        self.tenant_event = tenant_event
        self.metrics = metrics
        self.interval = interval
        self.lease = lease
        self._lock = asyncio.Lock()

    @property
    def policy(self) -> ComputePolicy:
        return ComputePolicy.from_policies(self.accountant.world.engine.policies)

    def records(self) -> list[RunRecord]:
        return list((self.accountant.records or {}).values())

    async def run_pass(self) -> PassOutcome:
        async with self._lock:  # one pass at a time, whoever triggers it
            started = time.perf_counter()
            outcome = await asyncio.to_thread(self.accountant.run_pass_blocking)
            await self._announce(outcome)
            await self._announce_tenants(outcome)
            await self._announce_groups(outcome)
            await self._usage_patterns(outcome)
            if self.metrics is not None:
                self.metrics.pass_seconds.set(time.perf_counter() - started)
                self.metrics.unidentified_pods.set(outcome.unidentified_pods)
                self.metrics.last_pass.set(outcome.at.timestamp())
                self.metrics.tenant_capacity.clear()  # tenants without Pods leave the gauge
                for tenant, value in outcome.tenant_capacity.items():
                    self.metrics.tenant_capacity.labels(tenant).set(value)
                self.metrics.group_capacity.clear()
                for group, value in outcome.group_capacity.items():
                    self.metrics.group_capacity.labels(group).set(value)
            return outcome

    async def loop(self) -> None:
        while True:
            try:
                if self.lease is None or await asyncio.to_thread(self.lease.hold):
                    await self.run_pass()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a background loop: log, the next pass retries
                log.error("compute accounting pass failed", error=str(exc))
            await asyncio.sleep(self.interval)

    # --- crossings --------------------------------------------------------------------------

    async def _announce(self, outcome: PassOutcome) -> None:
        if not outcome.crossings:
            return
        utilisation = self.policy.utilisation
        touched: dict[str, RunRecord] = {}
        for record, crossing in outcome.crossings:
            world = self.accountant.world
            tenant = world.tenant(record.tenant) if record.tenant else None
            facts = alerts.tenant_facts(tenant, record.tenant, world, outcome.at)
            crossing["message"] = alerts.message(record, crossing, utilisation)
            decision_id = await self.recorder.record_event(
                alerts.threshold_record(record, crossing, facts, utilisation)
            )
            crossing["decisionId"] = decision_id
            text = f"{crossing['message']} decision={decision_id}"
            owner = record.owner
            target = {
                "apiVersion": owner.get("apiVersion"),
                "kind": owner.get("kind"),
                "metadata": {"name": owner.get("name"), "namespace": record.namespace,
                             "uid": owner.get("uid")},
            }
            await asyncio.to_thread(self.event, target, "Warning", "ComputeThreshold", text)
            if record.tenant:
                await asyncio.to_thread(
                    self.tenant_event, record.tenant, "Warning", "ComputeThreshold", text
                )
            if self.metrics is not None:
                self.metrics.crossings.labels(
                    record.tenant or "", crossing["tier"], crossing["level"]
                ).inc()
            log.warning("compute threshold crossed", tier=crossing["tier"],
                        run=f"{record.namespace}/{record.name}", tenant=record.tenant,
                        decision=decision_id)
            touched[f"{record.namespace}/{record.name}"] = record
        await asyncio.to_thread(self._write_reports, {r.namespace for r in touched.values()})
        for record in touched.values():
            for crossing in record.crossings:
                if crossing.get("decisionId"):
                    crossing["notified"] = True
            await asyncio.to_thread(self.accountant.write, record, utilisation)

    def _write_reports(self, namespaces: set[str]) -> None:
        by_namespace: dict[str, list[RunRecord]] = defaultdict(list)
        for record in self.records():
            if record.namespace in namespaces and (
                record.crossings or record.tenant_crossings or record.group_crossings
            ):
                by_namespace[record.namespace].append(record)
        kube = self.accountant.kube
        try:
            if not kube.has_resource(POLICY_REPORTS):
                return
        except KubeError:
            return
        for namespace, records in by_namespace.items():
            report = alerts.compute_report(namespace, records, self.accountant.clock())
            try:
                alerts.write_report(kube, report)
            except KubeError as exc:
                log.warning("cannot write compute report", namespace=namespace, error=str(exc))

    # --- tenant and group crossings ----------------------------------------------------------

    async def _announce_tenants(self, outcome: PassOutcome) -> None:
        if not outcome.tenant_crossings:
            return
        utilisation = self.policy.utilisation
        touched: dict[str, RunRecord] = {}
        world = self.accountant.world
        for crossing in outcome.tenant_crossings:
            name = crossing.tenant or None
            tenant = world.tenant(name) if name else None
            facts = alerts.tenant_facts(tenant, name, world, outcome.at)
            text = alerts.tenant_message(crossing)
            decision_id = await self.recorder.record_event(
                alerts.tenant_threshold_record(crossing, facts, utilisation)
            )
            for entry in crossing.entries():
                entry["message"] = text
                entry["decisionId"] = decision_id
            if name:
                await asyncio.to_thread(self.tenant_event, name, "Warning", "ComputeThreshold",
                                        f"{text} decision={decision_id}")
            entry = crossing.entry
            if self.metrics is not None:
                self.metrics.crossings.labels(crossing.tenant, entry["tier"], entry["level"]).inc()
            log.warning("compute threshold crossed by a tenant's runs together",
                        tier=entry["tier"], tenant=name, runs=len(crossing.records),
                        decision=decision_id)
            touched.update({f"{r.namespace}/{r.name}": r for r in crossing.records})
        await asyncio.to_thread(self._write_reports, {r.namespace for r in touched.values()})
        for crossing in outcome.tenant_crossings:
            for entry in crossing.entries():
                entry["notified"] = bool(entry.get("decisionId"))
        for record in touched.values():
            await asyncio.to_thread(self.accountant.write, record, utilisation)

    async def _announce_groups(self, outcome: PassOutcome) -> None:
        """Group crossings the pass stored: one log record, an Event on every member Tenant,
        the report results, the counter; then marked in every record that carries a copy."""
        if not outcome.group_crossings:
            return
        utilisation = self.policy.utilisation
        touched: dict[str, RunRecord] = {}
        world = self.accountant.world
        for crossing in outcome.group_crossings:
            entry = crossing.entry
            members = [str(m["tenant"]) for m in entry.get("members") or ()]
            facts = {
                name: alerts.tenant_facts(world.tenant(name), name, world, outcome.at)
                for name in members
            }
            text = alerts.group_message(crossing)
            decision_id = await self.recorder.record_event(
                alerts.group_threshold_record(crossing, facts, utilisation)
            )
            for copy in crossing.entries():
                copy["message"] = text
                copy["decisionId"] = decision_id
            # A long member list must not push the decision id out of the Event (1024 chars).
            suffix = f" decision={decision_id}"
            for name in members:
                await asyncio.to_thread(self.tenant_event, name, "Warning", "ComputeThreshold",
                                        f"{text[:EVENT_CHARS - len(suffix)]}{suffix}")
            if self.metrics is not None:
                self.metrics.group_crossings.labels(
                    crossing.group, entry["tier"], entry["level"]).inc()
            log.warning("compute threshold crossed by a group of tenants together",
                        tier=entry["tier"], group=crossing.group, tenants=members,
                        runs=len(crossing.records), decision=decision_id)
            touched.update({f"{r.namespace}/{r.name}": r for r in crossing.records})
        await asyncio.to_thread(self._write_reports, {r.namespace for r in touched.values()})
        for crossing in outcome.group_crossings:
            for copy in crossing.entries():
                copy["notified"] = bool(copy.get("decisionId"))
        for record in touched.values():
            await asyncio.to_thread(self.accountant.write, record, utilisation)

    # --- usage patterns ---------------------------------------------------------------------

    async def _usage_patterns(self, outcome: PassOutcome) -> None:
        settings = self.policy.usage
        today = outcome.at.date()
        if self.metrics is not None:
            for tenant, daily in self.accountant.daily_by_tenant().items():
                hours = daily.get(today, 0.0)
                days = [
                    daily.get(date.fromordinal(today.toordinal() - back), 0.0)
                    for back in range(1, settings.baseline_days + 1)
                ]
                baseline = sum(days) / len(days)
                self.metrics.usage_ratio.labels(tenant).set(
                    hours / baseline if baseline else float("inf") if hours else 0.0
                )
        # Jumps the pass stored (once per tenant and day, in a record): announce, then mark.
        utilisation = self.policy.utilisation
        for found in outcome.jumps:
            jump, tenant = found.entry, found.tenant
            text = alerts.jump_message(tenant or "unknown", UsageJump(
                date.fromisoformat(str(jump["day"])), float(jump["acceleratorSeconds"]) / 3600,
                float(jump["baselineSecondsPerDay"]) / 3600, 0.0,
            ), float(jump["jumpFactor"]))
            decision_id = await self.recorder.record_event(
                alerts.loggable({
                    "type": alerts.JUMP_RECORD,
                    "tenant": tenant or None,
                    "day": jump["day"],
                    "acceleratorSeconds": round(float(jump["acceleratorSeconds"])),
                    "baselineSecondsPerDay": round(float(jump["baselineSecondsPerDay"])),
                    "baselineDays": jump["baselineDays"],
                    "jumpFactor": f"{float(jump['jumpFactor']):g}",
                })
            )
            if tenant:
                await asyncio.to_thread(
                    self.tenant_event, tenant, "Warning", "ComputeUsageJump",
                    f"{text} decision={decision_id}",
                )
            if self.metrics is not None:
                self.metrics.usage_jumps.labels(tenant).inc()
            log.warning("compute usage jump", tenant=tenant, day=jump["day"],
                        seconds=jump["acceleratorSeconds"], decision=decision_id)
            jump["decisionId"] = decision_id
            jump["notified"] = True
            await asyncio.to_thread(self.accountant.write, found.record, utilisation)
