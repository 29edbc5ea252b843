"""One accounting pass: collect (Pods, Nodes, namespaces, records), decide (the core's
arithmetic and thresholds), publish (records, then alerts, then metrics).

A pass counts the window [countedUntil, now) of every run from the Pods' own start and finish
times, and then moves countedUntil to now in the same write. Between passes nothing is held
that a crash could lose except the Pods deleted since the last pass (seen by the watch as
tombstones): at most one checkpoint interval of their time. `now` comes from an injectable
clock and is cut to whole seconds, the precision records keep.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from exportgate.core.compute import Span, Usage, accrue
from exportgate.core.compute_policy import ComputePolicy, crossed, run_tiers
from exportgate.core.extract import AdapterRegistry
from exportgate.core.tenancy import TENANT_LABEL, owning_tenant
from exportgate.logsetup import get_logger
from exportgate_operator.accounting.groups import (
    GroupCrossing,
    check_group_capacity,
    group_crossings,
)
from exportgate_operator.accounting.owners import Owner, OwnerResolver
from exportgate_operator.accounting.pods import PodFacts, Request, pod_facts, request_of, usage_of
from exportgate_operator.accounting.records import FINISHED, RUNNING, RUNS, RunRecord
from exportgate_operator.accounting.tenants import (
    Jump,
    TenantCrossing,
    check_capacity,
    check_usage,
    pending_jumps,
    tenant_crossings,
    tenant_of,
    watched,
)
from exportgate_operator.conditions import timestamp as stamp
from exportgate_operator.kinds import NAMESPACES, NODES, PODS
from exportgate_operator.kube import Kube, KubeError
from exportgate_operator.world import World

log = get_logger(__name__)
Clock = Callable[[], datetime]


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(slots=True)
class PassOutcome:
    at: datetime
    pods: int = 0
    runs: int = 0
    written: int = 0
    conflicts: int = 0
    unidentified_pods: int = 0
    crossings: list[tuple[RunRecord, dict[str, Any]]] = field(default_factory=list)
    tenant_crossings: list[TenantCrossing] = field(default_factory=list)
    group_crossings: list[GroupCrossing] = field(default_factory=list)
    jumps: list[Jump] = field(default_factory=list)
    tenant_capacity: dict[str, float] = field(default_factory=dict)  # ops/s held at once
    group_capacity: dict[str, float] = field(default_factory=dict)  # by group key, the same


class Accountant:
    def __init__(
        self,
        kube: Kube,
        world: World,
        *,
        namespaces: tuple[str, ...] = (),
        clock: Clock = utcnow,
        registry: AdapterRegistry | None = None,
    ) -> None:
        self.kube = kube
        self.world = world
        self.namespaces = namespaces
        self.clock = clock
        self.registry = registry or AdapterRegistry.builtin()
        self.owners = OwnerResolver(kube)
        self.records: dict[tuple[str, str], RunRecord] | None = None  # (namespace, name)
        self._requests: dict[str, Request] = {}  # pod uid -> request (specs are immutable)
        self._tombstones: dict[str, PodFacts] = {}
        # Bound accelerator Pods seen before their start was reported: whenever that start
        # turns out to lie before a checkpoint, nobody can have counted it yet.
        self._unstarted: set[str] = set()
        self._fresh: dict[tuple[str, str], set[str]] = {}
        self._lock = asyncio.Lock()

    # --- feeding ---------------------------------------------------------------------------

    def pod_deleted(self, pod: Mapping[str, Any]) -> None:
        """Keep a deleted Pod until the next pass has counted its last stretch."""
        facts = self._facts(pod)
        if facts is None:
            return
        if facts.end is None:
            now = self.clock().replace(microsecond=0)
            facts = PodFacts(**{**_fields(facts), "end": max(now, facts.start)})
        self._tombstones[facts.uid] = facts

    def _facts(self, pod: Mapping[str, Any]) -> PodFacts | None:
        uid = str((pod.get("metadata") or {}).get("uid"))
        request = self._requests.get(uid)
        if request is None:
            request = request_of(pod, self.registry, self.world.engine.catalogue)
            self._requests[uid] = request
        return pod_facts(pod, request)

    # --- collect ---------------------------------------------------------------------------

    def _list(self, resource: Any, namespaced: bool = True) -> Iterable[dict[str, Any]]:
        if namespaced and self.namespaces:
            for namespace in self.namespaces:
                yield from self.kube.each(resource, namespace)
        else:
            yield from self.kube.each(resource)

    def collect(self) -> tuple[list[PodFacts], dict[str, Mapping[str, str]], dict[str, str]]:
        live: dict[str, PodFacts] = {}
        seen: set[str] = set()
        for pod in self._list(PODS):
            uid = str(pod["metadata"].get("uid"))
            seen.add(uid)
            facts = self._facts(pod)
            if facts is not None:
                live[uid] = facts
            elif self._requests[uid].count > 0 and (pod.get("spec") or {}).get("nodeName"):
                self._unstarted.add(uid)
        for uid in list(self._requests):
            if uid not in seen and uid not in self._tombstones:
                del self._requests[uid]
        self._unstarted &= seen
        for uid, facts in list(self._tombstones.items()):
            live.setdefault(uid, facts)
        nodes: dict[str, Mapping[str, str]] = {
            str(n["metadata"]["name"]): dict(n["metadata"].get("labels") or {})
            for n in self.kube.each(NODES)
        }
        tenants = {
            str(ns["metadata"]["name"]): str(ns["metadata"]["labels"][TENANT_LABEL])
            for ns in self.kube.each(NAMESPACES, label_selector=TENANT_LABEL)
        }
        if self.records is None:
            self.records = {}
            for obj in self._list(RUNS):
                record = RunRecord.from_object(obj)
                self.records[(record.namespace, record.name)] = record
        return list(live.values()), nodes, tenants

    # --- decide ----------------------------------------------------------------------------

    def decide(
        self,
        pods: list[PodFacts],
        nodes: Mapping[str, Mapping[str, str]],
        tenants: Mapping[str, str],
        now: datetime,
        outcome: PassOutcome,
    ) -> list[RunRecord]:
        """Add the window [countedUntil, now) to every run; returns the records to write."""
        assert self.records is not None
        catalogue = self.world.engine.catalogue
        policy = ComputePolicy.from_policies(self.world.engine.policies)
        spans: list[Span] = []
        live: dict[tuple[str, str], list[PodFacts]] = defaultdict(list)
        usages: dict[tuple[str, Request], Usage] = {}  # one product lookup per node
        for facts in pods:
            pod_ref = Owner("v1", "Pod", facts.name, facts.uid, facts.namespace)
            owner = self.owners.top(pod_ref, facts.owners)
            name = owner.record_name
            key = (owner.namespace, name)
            if key not in self.records:
                # The binding rule of admission: a Pod is its namespace's tenant's; its own
                # label is ignored (a tenant could write any label to dodge the thresholds).
                tenant = owning_tenant(cluster_scoped=False, own_label=None,
                                       namespace_tenant=tenants.get(facts.namespace))
                self.records[key] = RunRecord.new(owner, tenant)
            usage = usages.get((facts.node, facts.request))
            if usage is None:
                usage = usages[(facts.node, facts.request)] = usage_of(
                    facts, nodes.get(facts.node), catalogue
                )
            outcome.unidentified_pods += not usage.identified
            fresh = facts.uid in self._unstarted
            if fresh:
                self._fresh.setdefault(key, set()).add(facts.uid)
            spans.append(Span(f"{name}@{owner.namespace}", usage, facts.start, facts.end, fresh))
            live[key].append(facts)
        runs = {f"{r.name}@{r.namespace}": r for r in self.records.values()}
        since = {key: r.counted_until for key, r in runs.items()}
        # Per tenant, the checkpoint it was counted up to: the capacity window starts there.
        checkpoint: dict[str, datetime | None] = {}
        for record in self.records.values():
            mark = checkpoint.get(tenant_of(record))
            if record.counted_until is not None and (mark is None or record.counted_until > mark):
                checkpoint[tenant_of(record)] = record.counted_until
        accruals = accrue(spans, since, now)
        pending: list[tuple[RunRecord, Any]] = []
        for key, record in self.records.items():
            members = live.get(key, [])
            if not members and record.state == FINISHED:
                # Nothing to count; only a tenant-level mark can change it (cheap to compare).
                pending.append((record, _marks(record)))
                continue
            pending.append((record, _comparable(record)))
            accrual = accruals.get(f"{record.name}@{record.namespace}")
            if accrual is not None:
                record.add(accrual)
            running = [f for f in members if f.end is None]
            record.accelerators = sum(f.request.count for f in running)
            record.pods = len(running)
            record.state = RUNNING if running else FINISHED
            starts = [f.start for f in members]
            if starts:
                first = min(starts)
                record.first_seen = min(record.first_seen or first, first)
            ends = [f.end or now for f in members]
            if ends:
                record.last_seen = max(record.last_seen or max(ends), max(ends))
            self._check(record, policy, now)
        outcome.tenant_capacity = check_capacity(self.world, runs, spans, checkpoint, policy, now)
        # The same over groups of tenants that answer to one party (subsidiaries, resellers).
        outcome.group_capacity = check_group_capacity(
            self.world, runs, spans, checkpoint, policy, now
        )
        check_usage(self.records.values(), policy, now)
        changed: list[RunRecord] = []
        for record, before in pending:
            now_is = _marks(record) if isinstance(before, tuple) else _comparable(record)
            if record.state == FINISHED and now_is == before:
                continue  # a finished run with nothing new: no write, no churn
            record.counted_until = now
            changed.append(record)
        outcome.runs = len(self.records)
        outcome.pods = len(pods)
        return changed

    def _check(self, record: RunRecord, policy: ComputePolicy, now: datetime) -> None:
        """Run tiers (estimated operations of the run); capacity is judged per tenant."""
        applies = watched(self.world, record.tenant, policy, now)
        if not applies.watched:
            return
        operations = record.operations(policy.utilisation)
        tiers = run_tiers(policy.in_force(now.date()))
        for tier in crossed(tiers, operations, record.peak_capacity, record.crossed_ids()):
            crossing = {
                "tier": tier.id,
                "level": tier.level,
                "metric": tier.metric,
                "threshold": tier.threshold,
                "value": operations,
                "at": stamp(now),
                "policy": f"{tier.policy}@{tier.policy_version}",
                "appliesBecause": applies.reason,
                "notified": False,
            }
            record.crossings.append(crossing)

    # --- publish ---------------------------------------------------------------------------

    def write(self, record: RunRecord, utilisation: float) -> bool:
        """Create or update the record; False on a conflict (the record is then re-read)."""
        body = record.body(utilisation)
        path_ns = RUNS.path(record.namespace)
        try:
            if record.resource_version is None:
                # The status subresource ignores status on create: create, then patch it.
                created = self.kube.request(
                    "POST", path_ns, body={k: v for k, v in body.items() if k != "status"}
                )
                record.resource_version = created["metadata"]["resourceVersion"]
            patch = {"metadata": {"resourceVersion": record.resource_version},
                     "status": body["status"]}
            answer = self.kube.merge_patch(RUNS, record.name, patch, namespace=record.namespace,
                                           sub="status")
            record.resource_version = answer["metadata"]["resourceVersion"]
            return True
        except KubeError as exc:
            if not exc.conflict:
                raise
            self._reload(record)
            return False

    def _reload(self, record: RunRecord) -> None:
        assert self.records is not None
        try:
            obj = self.kube.request("GET", RUNS.path(record.namespace, record.name))
        except KubeError as exc:
            if not exc.not_found:
                raise
            self.records.pop((record.namespace, record.name), None)
            return
        self.records[(record.namespace, record.name)] = RunRecord.from_object(obj)

    def daily_by_tenant(self) -> dict[str, dict[date, float]]:
        """Accelerator-hours per UTC day, per tenant, over every run record."""
        found: dict[str, dict[date, float]] = defaultdict(lambda: defaultdict(float))
        for record in (self.records or {}).values():
            for day, seconds in record.daily.items():
                found[record.tenant or ""][day] += seconds / 3600
        return found

    def run_pass_blocking(self) -> PassOutcome:
        """Collect, decide and write one pass (blocking: run it in a thread)."""
        now = self.clock().astimezone(UTC).replace(microsecond=0)
        outcome = PassOutcome(now)
        pods, nodes, tenants = self.collect()
        counted = set(self._tombstones)
        changed = self.decide(pods, nodes, tenants, now, outcome)
        utilisation = ComputePolicy.from_policies(self.world.engine.policies).utilisation
        for record in changed:
            if self.write(record, utilisation):
                outcome.written += 1
                # Its late starters are counted now; from here on the watermark covers them.
                self._unstarted -= self._fresh.pop((record.namespace, record.name), set())
            else:
                outcome.conflicts += 1
        self._fresh.clear()
        # Crossings and jumps stored but not yet announced, this pass's or a crashed
        # predecessor's (only what a write made durable: announcing comes after storing).
        stored = [r for r in (self.records or {}).values() if r.resource_version is not None]
        for record in stored:
            outcome.crossings.extend(
                (record, c) for c in record.crossings if not c.get("notified")
            )
        outcome.tenant_crossings = tenant_crossings(stored, pending=True)
        outcome.group_crossings = group_crossings(stored, pending=True)
        outcome.jumps = pending_jumps(stored)
        for uid in counted & set(self._tombstones):
            self._tombstones.pop(uid, None)
            self._requests.pop(uid, None)
        return outcome


def _comparable(record: RunRecord) -> dict[str, Any]:
    status = record.status(1.0)
    status.pop("countedUntil", None)
    return status


def _marks(record: RunRecord) -> tuple[list[dict[str, Any]], ...]:
    return (
        [dict(c) for c in record.tenant_crossings],
        [dict(c) for c in record.group_crossings],
        [dict(j) for j in record.usage_jumps],
    )


def _fields(facts: PodFacts) -> dict[str, Any]:
    return {name: getattr(facts, name) for name in facts.__slots__}
