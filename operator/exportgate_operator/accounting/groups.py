"""What one pass decides per group of tenants: the capacity tier over a group's runs at once.

A party that spreads one cluster over several verified Tenant records (subsidiaries of one
ultimate parent, a reseller and its end customer that also rents directly) stays under the
capacity tier per record. So, besides each tenant's figure (tenants.py), every group of two or
more Tenant records (the core's `tenant_groups`: the one definition of a group) is judged by
what all its tenants' Pods held at one instant, with the tenant check's window and peak
semantics (the core's `concurrency` over the group's spans, not a sum of separate peaks).

The lifecycle is the tenant crossing's: a group at or above a tier with no crossing of it open
is a new crossing, stored before it is announced (`status.groupCrossings` of every run that
made it up, `notified: false`), announced once, kept open while each pass finds the group at
or above, ended by the first pass whose whole window stays below. A group that no longer
exists (a member's KYC record changed, a member left) or is no longer watched ends its open
crossings. A group is watched when any of its members is (fail closed).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from exportgate.core.compute import Span, concurrency
from exportgate.core.compute_policy import Applies, ComputePolicy, capacity_change, tenant_tiers
from exportgate.core.tenant_groups import TenantGroup, tenant_groups
from exportgate_operator.accounting.carried import CarriedCrossing, end, gather
from exportgate_operator.accounting.records import KEPT, RunRecord
from exportgate_operator.accounting.tenants import tenant_of, watched
from exportgate_operator.conditions import timestamp as stamp
from exportgate_operator.world import World

GROUP_SCOPE = "group"


def groups_of(world: World) -> tuple[TenantGroup, ...]:
    """The groups among the Tenant records the operator knows (unparsable ones are in none)."""
    tenants = [t for name in world.tenant_names() if (t := world.tenant(name)) is not None]
    return tenant_groups(tenants)


def group_key(entry: Mapping[str, Any]) -> tuple[str, str, str]:
    """One group crossing, whichever run record holds a copy of it."""
    return str(entry.get("group")), str(entry.get("tier")), str(entry.get("at"))


class GroupCrossing(CarriedCrossing):
    """One group crossing and the run records that carry it (the runs that made it up)."""

    __slots__ = ()

    @staticmethod
    def copies(record: RunRecord) -> list[dict[str, Any]]:
        return record.group_crossings

    @staticmethod
    def key_of(entry: Mapping[str, Any]) -> tuple[str, ...]:
        return group_key(entry)

    @property
    def group(self) -> str:
        return self.key[0]


def group_crossings(records: Iterable[RunRecord], *, pending: bool) -> list[GroupCrossing]:
    """Group crossings found in `records`; `pending`: only those not yet announced."""
    return gather(GroupCrossing, records, pending=pending)


def group_watched(
    world: World, group: TenantGroup, policy: ComputePolicy, now: datetime
) -> Applies:
    """Watched when any member is; why, member by member (an auditor sees who made it so)."""
    reasons = []
    for member in group.members:
        applies = watched(world, member, policy, now)
        if applies.watched:
            reasons.append(f"{member}: {applies.reason}")
    if reasons:
        return Applies(True, "group member " + "; ".join(reasons))
    return Applies(False, "no member of the group is watched")


def links(group: TenantGroup) -> list[dict[str, Any]]:
    """Why the tenants are one group, as the records and the log keep it."""
    return [
        {
            "party": link.party,
            "namedBy": [{"tenant": n.tenant, "role": n.role} for n in link.named_by],
        }
        for link in group.links
    ]


def check_group_capacity(
    world: World,
    records: Mapping[str, RunRecord],
    spans: Iterable[Span],
    since: Mapping[str, datetime | None],
    policy: ComputePolicy,
    now: datetime,
) -> dict[str, float]:
    """Open and end group crossings of the capacity tiers. `records`: run key (the spans'
    `run`) -> record; `since`: per tenant, the checkpoint its records were counted up to (a
    group's window starts at the latest of its members'). Returns each group's concurrent
    capacity in this pass's window (ops/s), by group key."""
    groups = {g.key: g for g in groups_of(world)}
    member_of = {m: g.key for g in groups.values() for m in g.members}
    by_group: dict[str, list[Span]] = defaultdict(list)
    for span in spans:
        key = member_of.get(tenant_of(records[span.run]))
        if key is not None:
            by_group[key].append(span)
    opened: dict[str, dict[str, tuple[str, str, str]]] = defaultdict(dict)
    for record in records.values():
        for entry in record.group_crossings:
            if not entry.get("endedAt"):
                opened[group_key(entry)[0]][group_key(entry)[1]] = group_key(entry)
    tiers = tenant_tiers(policy.in_force(now.date()))
    figures: dict[str, float] = {}
    for key in sorted(set(groups) | set(opened)):
        group, mine = groups.get(key), opened.get(key, {})
        if group is None:  # the group no longer exists: its open crossings end
            end(GroupCrossing, records.values(), mine.values(), now)
            continue
        if not mine and not by_group.get(key):
            continue
        applies = group_watched(world, group, policy, now)
        marks = [m for m in (since.get(t) for t in group.members) if m is not None]
        held = concurrency(by_group.get(key, ()), max(marks) if marks else None, now)
        figures[key] = held.peak
        change = capacity_change(tiers if applies.watched else (), held.peak, mine)
        end(GroupCrossing, records.values(), [mine[tier] for tier in change.ended], now)
        if held.at is None:
            continue  # nothing held in the window: nothing to open
        shares: dict[str, dict[str, Any]] = {
            m: {"tenant": m, "value": 0.0, "accelerators": 0, "runCount": 0} for m in group.members
        }
        for run, (ops, count) in held.runs.items():
            share = shares[tenant_of(records[run])]
            share["value"] += ops
            share["accelerators"] += count
            share["runCount"] += 1
        for tier in change.crossed:
            shared = {
                "tier": tier.id,
                "level": tier.level,
                "metric": tier.metric,
                "scope": GROUP_SCOPE,
                "group": group.key,
                "groupName": group.name,
                "threshold": tier.threshold,
                "value": held.peak,
                "at": stamp(held.at),
                "policy": f"{tier.policy}@{tier.policy_version}",
                "appliesBecause": applies.reason,
                "tenantCount": len(group.members),
                "runCount": len(held.runs),
                "accelerators": held.accelerators,
                "members": sorted(
                    ({**s} for s in shares.values()), key=lambda s: (-s["value"], s["tenant"])
                ),
                "links": links(group),
                "notified": False,
            }
            for run, (ops, count) in held.runs.items():
                record = records[run]
                record.group_crossings.append({**shared, "runValue": ops, "runAccelerators": count})
                del record.group_crossings[:-KEPT]
    return figures
