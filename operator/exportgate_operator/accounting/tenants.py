"""What one pass decides per tenant rather than per run: the capacity tier and usage jumps.

**Capacity.** EO 14110's 10^20 operations/s figure is about a computing cluster a person holds,
so the tier is compared with the tenant's concurrent capacity: the most its Pods held at one
instant since its last checkpoint, summed over all its runs (the core's `concurrency`). Per
run, a tenant could stay under it by splitting one cluster's worth of accelerators into many
small runs. A crossing stays open while every pass finds the tenant at or above the tier and
ends at the first pass that finds it below; it is announced once.

**Usage jumps.** The tenant's accelerator-hours today against its trailing baseline (the
core's `usage_jump`), once per tenant and day.

**Durable, like run crossings.** Both are stored in ComputeRun records before they are
announced (`notified: false`), so a restarted operator neither announces one twice nor loses
one: a tenant crossing in `status.tenantCrossings` of every run that made it up (each with its
own share), a usage jump in `status.usageJumps` of the run that used the most that day. The
tenant of a run without one (a namespace bound to no tenant) is `""`: such runs are summed as
one unknown party, which errs towards announcing (fail closed).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from exportgate.core.compute import Span, concurrency
from exportgate.core.compute_policy import (
    Applies,
    ComputePolicy,
    applies_to,
    capacity_change,
    tenant_tiers,
    usage_jump,
)
from exportgate.core.tenants import jurisdictions
from exportgate_operator.accounting.carried import CarriedCrossing, end, gather
from exportgate_operator.accounting.records import KEPT, RunRecord
from exportgate_operator.conditions import timestamp as stamp
from exportgate_operator.world import World

TENANT_SCOPE = "tenant"


def tenant_of(record: RunRecord) -> str:
    return record.tenant or ""


def watched(world: World, tenant_name: str | None, policy: ComputePolicy, now: datetime) -> Applies:
    """Whether the tiers apply to this tenant on `now`'s day, and why (unknown: watched)."""
    tenant = world.tenant(tenant_name) if tenant_name else None
    day = now.date()
    groups = world.engine.groups
    found = jurisdictions(tenant, groups, day) if tenant else None
    return applies_to(found, policy.applies, groups, day)


def crossing_key(entry: Mapping[str, Any]) -> tuple[str, str]:
    """One tenant crossing, whichever run record holds a copy of it."""
    return str(entry.get("tier")), str(entry.get("at"))


class TenantCrossing(CarriedCrossing):
    """One tenant crossing and the run records that carry it (the runs that made it up)."""

    __slots__ = ()

    @staticmethod
    def copies(record: RunRecord) -> list[dict[str, Any]]:
        return record.tenant_crossings

    @staticmethod
    def key_of(entry: Mapping[str, Any]) -> tuple[str, ...]:
        return crossing_key(entry)

    @classmethod
    def found_by(cls, record: RunRecord, entry: Mapping[str, Any]) -> Any:
        return tenant_of(record), crossing_key(entry)  # one tenant's crossing, by tenant

    @property
    def tenant(self) -> str:
        return tenant_of(self.records[0])


def tenant_crossings(records: Iterable[RunRecord], *, pending: bool) -> list[TenantCrossing]:
    """Tenant crossings found in `records`; `pending`: only those not yet announced."""
    return gather(TenantCrossing, records, pending=pending)


def check_capacity(
    world: World,
    records: Mapping[str, RunRecord],
    spans: Iterable[Span],
    since: Mapping[str, datetime | None],
    policy: ComputePolicy,
    now: datetime,
) -> dict[str, float]:
    """Open and end tenant crossings of the capacity tiers. `records`: run key (the spans'
    `run`) -> record; `since`: per tenant, the checkpoint its records were counted up to.
    Returns each tenant's concurrent capacity in this pass's window (ops/s)."""
    by_tenant: dict[str, list[Span]] = defaultdict(list)
    for span in spans:
        by_tenant[tenant_of(records[span.run])].append(span)
    runs_of: dict[str, list[RunRecord]] = defaultdict(list)
    for record in records.values():
        runs_of[tenant_of(record)].append(record)
    tiers = tenant_tiers(policy.in_force(now.date()))
    figures: dict[str, float] = {}
    for tenant, mine in runs_of.items():
        opened = {
            crossing_key(e)[0]: crossing_key(e)
            for r in mine
            for e in r.tenant_crossings
            if not e.get("endedAt")
        }
        if not opened and not by_tenant.get(tenant):
            continue
        applies = watched(world, tenant or None, policy, now)
        held = concurrency(by_tenant.get(tenant, ()), since.get(tenant), now)
        figures[tenant] = held.peak
        change = capacity_change(tiers if applies.watched else (), held.peak, opened)
        end(TenantCrossing, mine, [opened[tier_id] for tier_id in change.ended], now)
        if held.at is None:
            continue  # nothing held in the window: nothing to open (even for a tier of 0)
        for tier in change.crossed:
            shared = {
                "tier": tier.id,
                "level": tier.level,
                "metric": tier.metric,
                "scope": TENANT_SCOPE,
                "threshold": tier.threshold,
                "value": held.peak,
                "at": stamp(held.at),
                "policy": f"{tier.policy}@{tier.policy_version}",
                "appliesBecause": applies.reason,
                "runCount": len(held.runs),
                "accelerators": held.accelerators,
                "notified": False,
            }
            for run, (ops, count) in held.runs.items():
                record = records[run]
                record.tenant_crossings.append(
                    {**shared, "runValue": ops, "runAccelerators": count}
                )
                del record.tenant_crossings[:-KEPT]
    return figures


@dataclass(slots=True)
class Jump:
    tenant: str
    record: RunRecord
    entry: dict[str, Any]


def check_usage(records: Iterable[RunRecord], policy: ComputePolicy, now: datetime) -> None:
    """Store today's usage jump of every tenant that has one and has none stored yet."""
    today = now.date()
    daily: dict[str, dict[date, float]] = defaultdict(lambda: defaultdict(float))
    runs_of: dict[str, list[RunRecord]] = defaultdict(list)
    for record in records:
        runs_of[tenant_of(record)].append(record)
        for day, seconds in record.daily.items():
            daily[tenant_of(record)][day] += seconds / 3600
    settings = policy.usage
    for tenant, mine in runs_of.items():
        jump = usage_jump(daily[tenant], today, settings)
        if jump is None or any(
            j.get("day") == today.isoformat() for r in mine for j in r.usage_jumps
        ):
            continue
        top = max(mine, key=lambda r: (r.daily.get(today, 0.0), r.namespace, r.name))
        top.usage_jumps.append(
            {
                "day": today.isoformat(),
                "acceleratorSeconds": round(jump.hours * 3600, 3),
                "baselineSecondsPerDay": round(jump.baseline * 3600, 3),
                "baselineDays": settings.baseline_days,
                "jumpFactor": settings.jump_factor,
                "at": stamp(now),
                "notified": False,
            }
        )
        del top.usage_jumps[:-KEPT]


def pending_jumps(records: Iterable[RunRecord]) -> list[Jump]:
    return [
        Jump(tenant_of(r), r, j) for r in records for j in r.usage_jumps if not j.get("notified")
    ]
