"""The capacity tier over a group of tenants: Tenant records that answer to one party.

A party that spreads one cluster over several verified Tenant records (two Singapore
subsidiaries of one Chinese parent, a reseller whose end customer also rents directly) stays
under the tier per record. The group check sums what all the group's tenants held at one
instant, with the tenant check's window and lifecycle.

The first tests drive `check_group_capacity` over in-memory records (the pass's decision, no
API server); the last runs the whole path on the real API server, as the tenant tests do:
stored before announced, once across a restart, an Event on each member, the report, the
metric, the log record, and the end of the crossing.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from exportgate_operator.accounting import alerts
from exportgate_operator.accounting.groups import check_group_capacity, group_crossings
from exportgate_operator.accounting.owners import Owner
from exportgate_operator.accounting.records import RunRecord
from exportgate_operator.kube import Kube
from exportgate_operator.world import World
from prometheus_client import CollectorRegistry

from exportgate.core.compute import Span, Usage
from exportgate.core.compute_policy import ComputePolicy
from exportgate.decisionlog.verify import verify_file
from exportgate.kubeapi import new_api_client
from tests.operator import accounting_builders as b
from tests.operator.accounting_builders import H100, at
from tests.operator.builders import tenant
from tests.operator.conftest import OPERATOR_USER, OperatorHandle
from tests.operator.test_accounting_tenants import THRESHOLD, TIER, Tenants, policy

PARENT = "Nimbus Holdings Ltd."


def subsidiary(name: str, parent: str = PARENT, **kwargs: Any) -> dict[str, Any]:
    """A Singapore subsidiary of a Chinese parent, as its KYC record names it."""
    doc = tenant(name, hq="SG", **kwargs)
    doc["spec"]["ultimateParent"] = {"name": parent, "headquarters": "CN"}
    return doc


def reseller(name: str, end_customer: str) -> dict[str, Any]:
    doc = tenant(name, hq="SG")
    doc["spec"]["resale"] = {"endCustomers": [{"name": end_customer, "country": "CN"}]}
    return doc


# --- the pass's decision, in memory -----------------------------------------------------------


class Pass:
    """Runs of tenants, one H100 Pod each, and the group check over them."""

    def __init__(self, *tenants: dict[str, Any]) -> None:
        self.world = World()
        for doc in tenants:
            self.world.set_tenant(doc)
        self.world.set_policy(policy())
        self.records: dict[str, RunRecord] = {}
        self.spans: list[Span] = []

    def run(self, tenant_name: str, start: int, end: int | None = None, gpus: int = 1) -> None:
        n = len(self.records)
        owner = Owner("batch/v1", "Job", f"job-{n}", f"uid-{n}", f"ns-{tenant_name}")
        record = RunRecord.new(owner, tenant_name)
        key = f"{record.name}@{record.namespace}"
        self.records[key] = record
        usage = Usage("nvidia-h100-sxm", "3A090.a", gpus, H100)
        self.spans.append(Span(key, usage, at(start), at(end) if end is not None else None))

    def check(self, now: int, since: int | None = None) -> dict[str, float]:
        marks = {t: at(since) if since is not None else None for t in self.world.tenant_names()}
        return check_group_capacity(self.world, self.records, self.spans, marks,
                                    ComputePolicy.from_policies(self.world.engine.policies),
                                    at(now))  # fmt: skip

    def entries(self) -> list[dict[str, Any]]:
        return [e for r in self.records.values() for e in r.group_crossings]


def test_subsidiaries_under_the_tier_each_cross_it_together() -> None:
    world = Pass(subsidiary("nimbus-sg"), subsidiary("nimbus-my"), tenant("bystander"))
    for _ in range(4):
        world.run("nimbus-sg", 0)
        world.run("nimbus-my", 100)
    world.run("bystander", 0, gpus=4)  # not in the group: not summed with it
    figures = world.check(3600)
    assert figures == {"nimbus holdings ltd": pytest.approx(8 * H100)}
    entries = world.entries()
    assert len(entries) == 8  # one copy in every run that made it up, none in the bystander's
    entry = entries[0]
    assert entry["scope"] == "group" and entry["group"] == "nimbus holdings ltd"
    assert entry["groupName"] == PARENT and entry["tier"] == TIER
    assert entry["value"] == pytest.approx(8 * H100) and entry["at"] == b.stamp(at(100))
    assert entry["tenantCount"] == 2 and entry["runCount"] == 8 and entry["accelerators"] == 8
    assert [(m["tenant"], m["accelerators"], m["runCount"]) for m in entry["members"]] == [
        ("nimbus-my", 4, 4), ("nimbus-sg", 4, 4)]  # fmt: skip
    assert (
        "nimbus-my: parentHeadquarters (Nimbus Holdings Ltd.) CN is in" in (entry["appliesBecause"])
    )
    assert {n["role"] for link in entry["links"] for n in link["namedBy"]} == {"ultimateParent"}
    assert entry["notified"] is False
    (crossing,) = group_crossings(world.records.values(), pending=True)
    assert len(crossing.records) == 8

    # The next pass, still above: the open crossing is kept, not opened again.
    world.check(3700, since=3600)
    assert len(world.entries()) == 8


def test_the_group_figure_is_held_at_once_not_a_sum_of_separate_peaks() -> None:
    world = Pass(subsidiary("nimbus-sg"), subsidiary("nimbus-my"))
    world.run("nimbus-sg", 0, 1000, gpus=5)
    world.run("nimbus-my", 2000, 3000, gpus=5)  # 10 H100s in peaks, never more than 5 at once
    assert world.check(3600) == {"nimbus holdings ltd": pytest.approx(5 * H100)}
    assert world.entries() == []


def test_a_resellers_end_customer_renting_directly_is_summed_with_the_reseller() -> None:
    orbit = tenant("orbit", hq="CN")
    orbit["spec"]["legalName"] = "Orbit AI Co. Ltd."  # the reseller spells it "Co., Ltd."
    world = Pass(reseller("gridline", "Orbit AI Co., Ltd."), orbit)
    world.run("gridline", 0, gpus=4)
    world.run("orbit", 0, gpus=4)
    world.check(60)
    (entry, _) = world.entries()
    assert entry["group"] == "orbit ai co ltd"
    assert {m["tenant"] for m in entry["members"]} == {"gridline", "orbit"}


def test_a_crossing_ends_below_the_tier_and_when_the_group_dissolves() -> None:
    world = Pass(subsidiary("nimbus-sg"), subsidiary("nimbus-my"))
    world.run("nimbus-sg", 0, 1000, gpus=4)
    world.run("nimbus-my", 0, gpus=4)
    world.check(500)
    world.check(900, since=500)  # still 8 in the window: open
    assert not any(e.get("endedAt") for e in world.entries())
    world.check(1500, since=900)  # the window still sees 8 up to 1000
    assert not any(e.get("endedAt") for e in world.entries())
    world.check(1600, since=1500)  # a whole window at 4: ended
    assert {e.get("endedAt") for e in world.entries()} == {b.stamp(at(1600))}

    # A rise again, then one subsidiary's KYC record names another parent: no group any more,
    # so its open crossing ends (no group figure to keep it open).
    world.run("nimbus-sg", 1700, gpus=4)
    world.check(1800, since=1600)
    assert sum(not e.get("endedAt") for e in world.entries()) == 2
    world.world.set_tenant(subsidiary("nimbus-sg", parent="Other Parent Ltd."))
    assert world.check(1900, since=1800) == {}
    assert all(e.get("endedAt") for e in world.entries())


def test_a_group_no_member_of_which_is_watched_crosses_nothing() -> None:
    us = [tenant(n, hq="US") for n in ("us-east", "us-west")]
    for doc in us:
        doc["spec"]["ultimateParent"] = {"name": "Acme Corp", "headquarters": "US"}
    world = Pass(*us)
    for n in range(8):
        world.run(us[n % 2]["metadata"]["name"], 0)
    assert world.check(60) == {"acme corp": pytest.approx(8 * H100)}
    assert world.entries() == []


def test_a_large_group_is_logged_in_full_and_messaged_in_bounds() -> None:
    names = [f"nimbus-{n:02}" for n in range(30)]
    world = Pass(*(subsidiary(n) for n in names))
    for name in names:
        world.run(name, 0)
    world.check(60)
    (crossing,) = group_crossings(world.records.values(), pending=True)
    facts = {n: {"name": n, "known": True} for n in names}
    logged = alerts.group_threshold_record(crossing, facts, 1.0)
    assert logged["tenants"] == names and logged["tenantCount"] == 30
    assert len(logged["runs"]) == 30 and logged["value"] == round(30 * H100)

    def floats(value: Any) -> bool:  # the decision log refuses them
        if isinstance(value, dict):
            return any(floats(v) for v in value.values())
        if isinstance(value, list):
            return any(floats(v) for v in value)
        return isinstance(value, float)

    assert not floats(logged)
    text = alerts.group_message(crossing)
    assert "and 20 more" in text and len(text) <= alerts.MESSAGE_CHARS


# --- the whole path, on the real API server -------------------------------------------------


@pytest.fixture
def group(operator: OperatorHandle, tmp_path: Path) -> Iterator[Tenants]:
    """Two subsidiaries of one parent, a namespace each, one H100 node."""
    cluster = operator.cluster
    suffix = uuid.uuid4().hex[:6]
    names = [f"nimbus-sg-{suffix}", f"nimbus-my-{suffix}"]
    for name in names:
        # A parent name unique to this test: other suites' tenants stay out of the group.
        cluster.apply(subsidiary(name, parent=f"Nimbus Holdings {suffix} Ltd."))
    node = f"h100-{suffix}"
    cluster.apply(b.node(node, b.NODES["h100"]))
    yield Tenants(
        operator, Kube(cluster.api_client()),
        Kube(new_api_client(str(cluster.user_kubeconfig(OPERATOR_USER)))),
        names, {name: operator.tenant_namespace(name) for name in names}, node,
        tmp_path / "decisions.log",
    )  # fmt: skip


def group_marks(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for r in runs for e in (r.get("status") or {}).get("groupCrossings", ())]


@pytest.mark.cluster
def test_two_subsidiaries_cross_the_tier_together_announced_once_across_a_restart(
    group: Tenants,
) -> None:
    sg, my = group.names
    group.start_jobs(sg, 4, first=0)
    group.start_jobs(my, 4, first=0)  # 8 H100s from +300: 4 per tenant, under the tier each
    registry = CollectorRegistry()
    app, accounting = group.operator_process(registry)
    group.pass_at(3600, accounting)

    runs = group.runs(sg) + group.runs(my)
    assert not any((r["status"]).get("tenantCrossings") for r in runs)  # none per tenant
    marks = group_marks(runs)
    assert len(marks) == 8 and {m["notified"] for m in marks} == {True}
    assert len({m["decisionId"] for m in marks}) == 1
    mark = marks[0]
    key = mark["group"]
    assert mark["scope"] == "group" and mark["tier"] == TIER and mark["tenantCount"] == 2
    assert mark["value"] == pytest.approx(8 * H100) and mark["at"] == b.stamp(at(300))
    assert THRESHOLD > 4 * H100

    for name in (sg, my):  # a Warning Event on each member Tenant, with the decision id
        (event,) = group.tenant_events(name, "ComputeThreshold")
        assert event["type"] == "Warning" and mark["decisionId"] in event["message"]
        assert "Tenant group" in event["message"]
        report = group.admin.request(
            "GET", f"/apis/wgpolicyk8s.io/v1alpha2/namespaces/{group.namespaces[name]}/"
                   "policyreports/exportgate-compute")  # fmt: skip
        (result,) = report["results"]
        assert result["properties"]["scope"] == "group" and result["properties"]["group"] == key
        assert set(result["properties"]["groupTenants"].split(",")) == {sg, my}
        assert len(result["resources"]) == 4  # this namespace's runs; the log names all
    assert (
        registry.get_sample_value(
            "exportgate_compute_group_threshold_crossings_total",
            {"group": key, "tier": TIER, "level": "report"},
        )
        == 1
    )
    assert registry.get_sample_value(
        "exportgate_compute_group_capacity_ops_per_second", {"group": key}
    ) == pytest.approx(8 * H100)

    (logged,) = group.logged("compute-threshold")
    assert logged["id"] == mark["decisionId"] and logged["scope"] == "group"
    assert logged["group"] == key and sorted(logged["tenants"]) == sorted([sg, my])
    assert {m["tenant"]: m["acceleratorsAtCrossing"] for m in logged["members"]} == {
        sg: 4, my: 4}  # fmt: skip
    assert {m["tenantRecord"]["kycEvidenceRef"] for m in logged["members"]} == {
        f"kyc-{sg}", f"kyc-{my}"}  # fmt: skip
    assert logged["value"] == round(8 * H100) and len(logged["runs"]) == 8
    assert verify_file(group.log).ok  # the verifier accepts the new record

    app.close()
    app, restarted = group.operator_process()  # a restart: nothing in memory but the records
    group.pass_at(3700, restarted)
    assert len(group.logged("compute-threshold")) == 1
    for name in (sg, my):
        assert len(group.tenant_events(name, "ComputeThreshold")) == 1

    for name in [n for n, t in group.jobs.items() if t == sg]:
        group.finish(name, 3800)  # 4 left from +3800: a whole window below ends the crossing
    group.pass_at(3900, restarted)
    group.pass_at(4000, restarted)
    app.close()
    assert {m.get("endedAt") for m in group_marks(group.runs(sg) + group.runs(my))} == {
        b.stamp(at(4000))}  # fmt: skip
    assert len(group.logged("compute-threshold")) == 1
