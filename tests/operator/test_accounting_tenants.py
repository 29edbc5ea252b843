"""Tenant-level compute accounting on the real API server: the capacity tier summed over all of
a tenant's runs (a tenant cannot stay under it by splitting one cluster's worth of accelerators
into many small runs), announced once per crossing, and usage jumps announced once per tenant
and day, both also across operator restarts (the markers live in the ComputeRun records).

Demo-sized tier: 7.5 H100s' worth of peak capacity. Eight one-GPU Jobs of one tenant cross it
together; no single one comes near; the same eight split over two tenants cross nothing.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from exportgate_operator.accounting.accountant import Accountant
from exportgate_operator.accounting.handlers import build
from exportgate_operator.accounting.records import RUNS
from exportgate_operator.accounting.service import ComputeAccounting
from exportgate_operator.app import App
from exportgate_operator.kube import Kube
from exportgate_operator.runner import run_in_thread
from exportgate_operator.settings import OperatorConfig
from exportgate_operator.world import World
from prometheus_client import CollectorRegistry

from exportgate.kubeapi import new_api_client
from tests.operator import accounting_builders as b
from tests.operator.accounting_builders import H100, Clock, at
from tests.operator.builders import tenant
from tests.operator.conftest import OPERATOR_USER, OperatorHandle, wait_for

pytestmark = pytest.mark.cluster

TIER = "test-capacity"
THRESHOLD = 7.5 * H100


def policy(minimum_hours: float = 1000.0) -> dict[str, Any]:
    return b.compute_thresholds(
        "test-tenant-1", TIER, "capacity", THRESHOLD, minimum_hours=minimum_hours
    )


@dataclass
class Tenants:
    """Two watched tenants (Singapore headquarters), a namespace each, one H100 node."""

    operator: OperatorHandle
    admin: Kube
    operator_kube: Kube
    names: list[str]
    namespaces: dict[str, str]
    node: str
    log: Path
    clock: Clock = field(default_factory=Clock)
    jobs: dict[str, str] = field(default_factory=dict)  # job name -> tenant

    def start_jobs(self, owner: str, count: int, first: int, stagger: int = 100) -> None:
        """`count` one-GPU Jobs of `owner`, the n-th started at first + n x stagger seconds."""
        namespace = self.namespaces[owner]
        for n in range(count):
            name = f"small-{len(self.jobs)}"
            job = b.create(self.admin, b.JOBS, namespace, b.job(name))
            b.create(self.admin, b.PODS, namespace, b.bound_pod(name, self.node, 1, job))
            b.set_status(self.admin, namespace, name, b.running_status(at(first + n * stagger)))
            self.jobs[name] = owner

    def finish(self, name: str, until: int) -> None:
        status = self.admin.request(
            "GET", b.PODS.path(self.namespaces[self.jobs[name]], name))["status"]
        started = status["startTime"].replace("Z", "+00:00")
        b.set_status(self.admin, self.namespaces[self.jobs[name]], name,
                     b.finished_status(datetime.fromisoformat(started), at(until)))

    def world(self, minimum_hours: float = 1000.0) -> World:
        world = World()
        for name in self.names:
            world.set_tenant(self.admin.request(
                "GET", f"/apis/exportgate.dev/v1alpha1/tenants/{name}"))
        world.set_policy(policy(minimum_hours))
        return world

    def operator_process(self, registry: CollectorRegistry | None = None,
                         minimum_hours: float = 1000.0) -> tuple[App, ComputeAccounting]:
        """A fresh operator: new App, new accountant, no memory but the cluster's records."""
        config = OperatorConfig(kubeconfig=self.operator.config.kubeconfig,
                                decision_log=str(self.log),
                                namespaces=tuple(self.namespaces.values()))
        app = App.create(config, self.operator_kube)
        app.world = self.world(minimum_hours)
        accounting = build(app, registry or CollectorRegistry())
        accounting.accountant = Accountant(self.operator_kube, app.world,
                                           namespaces=config.namespaces, clock=self.clock)
        return app, accounting

    def pass_at(self, seconds: int, accounting: ComputeAccounting) -> None:
        self.clock.now = at(seconds)
        asyncio.run(accounting.run_pass())

    def runs(self, owner: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = self.admin.request(
            "GET", RUNS.path(self.namespaces[owner]))["items"]
        return items

    def tenant_events(self, owner: str, reason: str) -> list[dict[str, Any]]:
        out = self.operator.cluster.kubectl(
            "get", "events", "-n", "default", "-o", "json",
            f"--field-selector=involvedObject.name={owner}").stdout
        return [e for e in json.loads(out)["items"] if e["reason"] == reason]

    def logged(self, type_: str) -> list[dict[str, Any]]:
        if not self.log.exists():
            return []
        lines = self.log.read_text().splitlines()
        return [r for r in map(json.loads, lines) if r.get("type") == type_]


@pytest.fixture
def tenants(operator: OperatorHandle, tmp_path: Path) -> Iterator[Tenants]:
    cluster = operator.cluster
    suffix = uuid.uuid4().hex[:6]
    names = [f"split-{suffix}", f"other-{suffix}"]
    for name in names:
        cluster.apply(tenant(name, hq="SG"))
    node = f"h100-{suffix}"
    cluster.apply(b.node(node, b.NODES["h100"]))
    yield Tenants(
        operator, Kube(cluster.api_client()),
        Kube(new_api_client(str(cluster.user_kubeconfig(OPERATOR_USER)))),
        names, {name: operator.tenant_namespace(name) for name in names}, node,
        tmp_path / "decisions.log",
    )


def tenant_marks(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    # A record is created first and given its status in a second write: a reader between the
    # two (the real operator's loop) sees none yet.
    return [e for r in runs for e in (r.get("status") or {}).get("tenantCrossings", ())]


def test_many_small_runs_cross_the_capacity_tier_once_also_after_a_restart(
    tenants: Tenants,
) -> None:
    split = tenants.names[0]
    tenants.start_jobs(split, 8, first=0)  # the eighth starts at +700: 8 H100s from then on
    registry = CollectorRegistry()
    app, accounting = tenants.operator_process(registry)
    tenants.pass_at(3600, accounting)

    runs = tenants.runs(split)
    assert len(runs) == 8
    assert all(r["status"]["peakCapacityOpsPerSecond"] < THRESHOLD / 7 for r in runs)
    assert all(not r["status"]["crossings"] for r in runs)  # no run crosses on its own
    marks = tenant_marks(runs)
    assert len(marks) == 8  # one copy in every run that made it up
    assert {m["notified"] for m in marks} == {True}
    assert len({m["decisionId"] for m in marks}) == 1
    mark = marks[0]
    assert mark["tier"] == TIER and mark["scope"] == "tenant" and mark["runCount"] == 8
    assert mark["value"] == pytest.approx(8 * H100) and mark["accelerators"] == 8
    assert mark["at"] == b.stamp(at(700)) and "endedAt" not in mark
    assert [m["runValue"] for m in marks] == [pytest.approx(H100)] * 8

    (event,) = tenants.tenant_events(split, "ComputeThreshold")
    assert event["type"] == "Warning" and "8 runs" in event["message"]
    assert mark["decisionId"] in event["message"]

    (logged,) = tenants.logged("compute-threshold")
    assert logged["id"] == mark["decisionId"] and logged["scope"] == "tenant"
    assert logged["tenant"] == split and logged["tenantRecord"]["legalName"] == f"{split} Pte. Ltd."
    assert logged["value"] == round(8 * H100) and logged["runCount"] == 8
    assert sorted(r["owner"]["name"] for r in logged["runs"]) == sorted(
        n for n, t in tenants.jobs.items() if t == split)
    assert {r["capacityAtCrossingOpsPerSecond"] for r in logged["runs"]} == {round(H100)}

    report = tenants.admin.request(
        "GET", f"/apis/wgpolicyk8s.io/v1alpha2/namespaces/{tenants.namespaces[split]}/"
               "policyreports/exportgate-compute")
    (result,) = report["results"]
    assert result["rule"] == TIER and result["properties"]["scope"] == "tenant"
    assert result["properties"]["decisionId"] == mark["decisionId"]
    assert len(result["resources"]) == 8
    assert registry.get_sample_value("exportgate_compute_threshold_crossings_total",
                                     {"tenant": split, "tier": TIER, "level": "report"}) == 1
    assert registry.get_sample_value("exportgate_compute_tenant_capacity_ops_per_second",
                                     {"tenant": split}) == pytest.approx(8 * H100)

    tenants.pass_at(3700, accounting)  # the same operator, the tenant still above
    app.close()
    app, restarted = tenants.operator_process()  # a restart: nothing in memory
    tenants.pass_at(3800, restarted)
    assert len(tenants.tenant_events(split, "ComputeThreshold")) == 1
    assert len(tenants.logged("compute-threshold")) == 1

    # Five finish at +4000: the pass at +4100 still sees the eight of its window; the one at
    # +4200 finds three, below the tier, and ends the crossing.
    for name in ("small-0", "small-1", "small-2", "small-3", "small-4"):
        tenants.finish(name, 4000)
    tenants.pass_at(4100, restarted)
    assert not any(m.get("endedAt") for m in tenant_marks(tenants.runs(split)))
    tenants.pass_at(4200, restarted)
    assert {m.get("endedAt") for m in tenant_marks(tenants.runs(split))} == {b.stamp(at(4200))}
    assert len(tenants.tenant_events(split, "ComputeThreshold")) == 1

    # A new rise after the crossing ended is a new crossing: announced once more, once.
    tenants.start_jobs(split, 5, first=4300, stagger=0)
    tenants.pass_at(4400, restarted)
    app.close()
    app, again = tenants.operator_process()
    tenants.pass_at(4500, again)
    app.close()
    assert len(tenants.tenant_events(split, "ComputeThreshold")) == 2
    second = [m for m in tenant_marks(tenants.runs(split)) if m["at"] == b.stamp(at(4300))]
    assert len(second) == 8 and {m["notified"] for m in second} == {True}


def test_the_same_runs_spread_over_two_tenants_cross_nothing(tenants: Tenants) -> None:
    split, other = tenants.names
    tenants.start_jobs(split, 4, first=0)
    tenants.start_jobs(other, 4, first=0)
    app, accounting = tenants.operator_process()
    tenants.pass_at(3600, accounting)
    app.close()
    for owner in (split, other):
        assert len(tenants.runs(owner)) == 4
        assert tenant_marks(tenants.runs(owner)) == []
        assert tenants.tenant_events(owner, "ComputeThreshold") == []
    assert tenants.logged("compute-threshold") == []


def test_a_usage_jump_is_announced_once_across_restarts_and_never_lost(
    tenants: Tenants,
) -> None:
    split = tenants.names[0]
    tenants.start_jobs(split, 2, first=0, stagger=0)  # 2 GPU-hours by +3600; no history
    # The operator stores the jump and dies before announcing it (only the accountant ran).
    app, first = tenants.operator_process(minimum_hours=1)
    tenants.clock.now = at(3600)
    first.accountant.run_pass_blocking()
    app.close()
    (stored,) = [j for r in tenants.runs(split) for j in r["status"].get("usageJumps", ())]
    assert stored["day"] == "2026-11-02" and stored["notified"] is False
    assert tenants.tenant_events(split, "ComputeUsageJump") == []

    # The restarted operator announces it (not lost), and marks it.
    app, second = tenants.operator_process(minimum_hours=1)
    tenants.pass_at(3700, second)
    app.close()
    (event,) = tenants.tenant_events(split, "ComputeUsageJump")
    (stored,) = [j for r in tenants.runs(split) for j in r["status"].get("usageJumps", ())]
    assert stored["notified"] is True and stored["decisionId"] in event["message"]

    # Another restart the same day: not announced twice.
    app, third = tenants.operator_process(minimum_hours=1)
    tenants.pass_at(3800, third)
    app.close()
    assert len(tenants.tenant_events(split, "ComputeUsageJump")) == 1
    (logged,) = tenants.logged("compute-usage-jump")
    assert logged["tenant"] == split and logged["day"] == "2026-11-02"


def test_the_real_operator_announces_a_tenant_crossing_and_a_jump_once_across_a_restart(
    tenants: Tenants,
) -> None:
    """The kopf operator with its checkpoint loop (wall clock, the policy from the cluster),
    stopped and started again: the tenant crossing and a usage jump are announced by the first
    and not again by the second, which resumes from the records."""
    split, other = tenants.names
    tenants.start_jobs(split, 8, first=0)  # since T0, weeks ago: a steady baseline, no jump
    # `other` starts two GPUs within the last hour of today (wall clock): with no history,
    # that is a usage jump, to be announced once across the restart too.
    now = datetime.now(UTC)
    midnight = datetime.combine(now.date(), datetime.min.time(), UTC)
    begin = max(midnight, now - timedelta(hours=1))
    tenants.start_jobs(other, 2, first=int((begin - at(0)).total_seconds()), stagger=0)
    cluster = tenants.operator.cluster
    cluster.apply(policy(minimum_hours=0.001))

    def config() -> OperatorConfig:
        return OperatorConfig(
            kubeconfig=tenants.operator.config.kubeconfig,
            namespaces=tuple(tenants.namespaces.values()), standalone=True, liveness=None,
            label_nodes=False, tenant_reader_roles=False, audit_interval=0,
            compute_interval=1.0, decision_log=str(tenants.log),
        )

    def announced() -> list[dict[str, Any]] | None:
        marks = tenant_marks(tenants.runs(split))
        return marks if len(marks) == 8 and all(m.get("notified") for m in marks) else None

    def checkpoint() -> str:
        return max((r.get("status") or {}).get("countedUntil", "") for r in tenants.runs(split))

    try:
        with run_in_thread(config()):
            marks = wait_for(announced, what="the tenant crossing, announced")
        stopped = checkpoint()
        with run_in_thread(config()):
            # Two checkpoints after the restart: the first pass has finished announcing.
            later = wait_for(lambda: checkpoint() > stopped and checkpoint(),
                             what="a checkpoint after the restart")
            wait_for(lambda: checkpoint() > later, what="a second checkpoint")
    finally:
        cluster.kubectl("delete", "exportpolicy", "compute-thresholds", "--ignore-not-found")
    (event,) = tenants.tenant_events(split, "ComputeThreshold")
    assert marks[0]["decisionId"] in event["message"]
    assert [r["id"] for r in tenants.logged("compute-threshold")] == [marks[0]["decisionId"]]
    assert tenants.tenant_events(split, "ComputeUsageJump") == []
    (jump,) = tenants.tenant_events(other, "ComputeUsageJump")
    (logged,) = tenants.logged("compute-usage-jump")
    assert logged["tenant"] == other and logged["id"] in jump["message"]
    assert {m["decisionId"] for m in tenant_marks(tenants.runs(split))} == {
        marks[0]["decisionId"]}
