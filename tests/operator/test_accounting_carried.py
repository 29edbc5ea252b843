"""Crossings carried by run records (carried.py): one tenant or group crossing is a copy in every
run record that made it up; gathering them back finds each crossing once, with its records."""

from __future__ import annotations

from typing import Any

from exportgate_operator.accounting.carried import end, gather
from exportgate_operator.accounting.groups import GroupCrossing
from exportgate_operator.accounting.owners import Owner
from exportgate_operator.accounting.records import RunRecord
from exportgate_operator.accounting.tenants import TenantCrossing

from tests.operator.accounting_builders import at, stamp


def record(n: int, tenant: str | None) -> RunRecord:
    return RunRecord.new(Owner("batch/v1", "Job", f"job-{n}", f"uid-{n}", "ns"), tenant)


def copy(tier: str, at_: str, **more: Any) -> dict[str, Any]:
    return {"tier": tier, "at": at_, "notified": False, **more}


def test_one_crossing_carried_by_several_records_is_gathered_once_per_tenant() -> None:
    a, b, c = record(0, "acme"), record(1, "acme"), record(2, None)
    a.tenant_crossings.append(copy("t", "10:00", runValue=2.0))
    b.tenant_crossings.append(copy("t", "10:00", runValue=1.0))
    # The same tier and instant for another tenant is another crossing.
    c.tenant_crossings.append(copy("t", "10:00"))
    found = gather(TenantCrossing, [a, b, c], pending=True)
    assert [(x.tenant, x.key, len(x.records)) for x in found] == [
        ("", ("t", "10:00"), 1),
        ("acme", ("t", "10:00"), 2),
    ]
    assert [e["runValue"] for e in found[1].entries()] == [2.0, 1.0]
    assert found[1].entry is a.tenant_crossings[0]


def test_pending_leaves_out_announced_copies() -> None:
    a = record(0, "acme")
    a.group_crossings += [copy("t", "1", group="g", notified=True), copy("t", "2", group="g")]
    assert [x.key for x in gather(GroupCrossing, [a], pending=True)] == [("g", "t", "2")]
    assert [x.group for x in gather(GroupCrossing, [a], pending=False)] == ["g", "g"]


def test_end_stamps_only_the_open_copies_of_the_named_crossings() -> None:
    a, b = record(0, "acme"), record(1, "acme")
    a.tenant_crossings += [copy("t", "1"), copy("t", "2"), copy("u", "1", endedAt="earlier")]
    b.tenant_crossings += [copy("t", "1")]
    end(TenantCrossing, [a, b], [("t", "1"), ("u", "1")], at(60))
    ended = stamp(at(60))
    assert [e.get("endedAt") for e in a.tenant_crossings + b.tenant_crossings] == [
        ended,
        None,
        "earlier",
        ended,
    ]
