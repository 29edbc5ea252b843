"""Telling someone: what a threshold crossing or a usage jump produces.

For a crossing, in this order (the record in the decision log first, so every other signal
can carry its id):

1. a `compute-threshold` record in the tamper-evident decision log, carrying what a report to
   an authority would need (tenant legal name, jurisdictions, KYC evidence reference, reseller
   end customers, the run and its owner, accelerators by product and class, first/last seen,
   estimated operations and how they were estimated);
2. a Warning Event on the run's owner and one on the Tenant;
3. a result in the namespace's `exportgate-compute` PolicyReport (rebuilt from every crossing
   of runs in that namespace, so re-audits of the `exportgate` report never erase it);
4. the crossings counter.

A tenant crossing (the capacity tier over all the tenant's runs, see tenants.py) gives the same
four, with the Event on the Tenant only and the log record naming every run that made it up.
A group crossing (the same tier over a group of tenants that answer to one party, see
groups.py) gives a log record with `scope: group` naming the group, every member tenant with
its share and every run, an Event on each member Tenant, a result per namespace, and its own
counter.

For a usage jump: a Warning Event on the Tenant, a `compute-usage-jump` log record, a metric.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from exportgate.core.compute import describe_estimate
from exportgate.core.compute_policy import UsageJump
from exportgate.core.tenants import jurisdictions
from exportgate.core.types import Tenant
from exportgate_operator.accounting.carried import CarriedCrossing
from exportgate_operator.accounting.groups import GROUP_SCOPE, GroupCrossing, group_key
from exportgate_operator.accounting.records import RunRecord, product_fields
from exportgate_operator.accounting.tenants import TENANT_SCOPE, TenantCrossing, crossing_key
from exportgate_operator.conditions import timestamp
from exportgate_operator.reports import MANAGED_LABELS, SOURCE, write_report
from exportgate_operator.world import World

THRESHOLD_RECORD = "compute-threshold"
JUMP_RECORD = "compute-usage-jump"
REPORT_NAME = "exportgate-compute"
REPORT_POLICY = "compute-thresholds"
MESSAGE_CHARS = 4096  # a crossing's stored `message` (the ComputeRun status schema's bound)
RESOURCES_KEPT = 20  # resources named per report result (a tenant crossing may have thousands)


def tenant_facts(
    tenant: Tenant | None, name: str | None, world: World, at: datetime | None = None
) -> dict[str, Any]:
    """Who the tenant is, as a report to an authority would name it."""
    if tenant is None:
        return {"name": name, "known": False}
    return {
        "name": tenant.name,
        "known": True,
        "legalName": tenant.legal_name,
        "incorporation": tenant.incorporation,
        "headquarters": tenant.headquarters,
        "ultimateParent": (
            {
                "name": tenant.ultimate_parent.name,
                "headquarters": tenant.ultimate_parent.headquarters,
            }
            if tenant.ultimate_parent
            else None
        ),
        "jurisdictions": [
            {"country": j.country, "role": j.role.value, "via": j.via or None}
            for j in jurisdictions(tenant, world.engine.groups, at.date() if at else None)
        ],
        "kycEvidenceRef": tenant.verification.evidence_ref,
        "verification": tenant.verification.state.value,
        "endCustomers": [
            {"name": c.name, "country": c.country, "headquarters": c.headquarters}
            for c in tenant.end_customers
        ],
    }


def run_facts(record: RunRecord, utilisation: float) -> dict[str, Any]:
    return {
        "record": f"{record.namespace}/{record.name}",
        "owner": dict(record.owner),
        "state": record.state,
        "firstSeen": _stamp(record.first_seen),
        "lastSeen": _stamp(record.last_seen),
        "accelerators": [
            product_fields(p) for p in sorted(record.products.values(), key=lambda p: p.product)
        ],
        "acceleratorSeconds": round(record.accelerator_seconds, 3),
        "peakAccelerators": record.peak_accelerators,
        "peakCapacityOpsPerSecond": record.peak_capacity,
        "estimatedOperations": record.operations(utilisation),
        "utilisation": f"{utilisation:g}",  # a string: the log holds no floats
        "estimation": describe_estimate(utilisation),
    }


def loggable(value: Any) -> Any:
    """`value` with its floats made exact for the decision log, which holds no floats (their text
    differs between JSON libraries): whole figures (operations, seconds, ops/s) become integers,
    fractions (utilisation) strings."""
    if isinstance(value, float):
        if value.is_integer() or abs(value) >= 1:
            return round(value)
        return f"{value:g}"
    if isinstance(value, Mapping):
        return {str(k): loggable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [loggable(v) for v in value]
    return value


def _crossing_fields(crossing: Mapping[str, Any], scope: str | None = None) -> dict[str, Any]:
    """What every `compute-threshold` record says of the crossing itself (a run's has no
    `scope`; a tenant's or a group's names it)."""
    return {
        "type": THRESHOLD_RECORD,
        **({"scope": scope} if scope is not None else {}),
        "tier": crossing["tier"],
        "level": crossing["level"],
        "metric": crossing["metric"],
        "threshold": crossing["threshold"],
        "value": crossing["value"],
        "crossedAt": crossing["at"],
        "policy": crossing["policy"],
        "appliesBecause": crossing["appliesBecause"],
    }


def _runs_fields(
    crossing: CarriedCrossing, utilisation: float, *, with_tenant: bool = False
) -> dict[str, Any]:
    """The runs that made a tenant or group crossing up, the largest share at the peak first,
    each with the capacity it held at that instant (`with_tenant`: and whose run it is)."""
    entry = crossing.entry
    runs = crossing.by_share()
    return {
        "accelerators": entry.get("accelerators", 0),
        "runCount": entry.get("runCount", len(runs)),
        "runs": [
            {
                **run_facts(record, utilisation),
                **({"tenant": record.tenant} if with_tenant else {}),
                "capacityAtCrossingOpsPerSecond": share.get("runValue", 0.0),
                "acceleratorsAtCrossing": share.get("runAccelerators", 0),
            }
            for record, share in runs
        ],
    }


def threshold_record(
    record: RunRecord, crossing: Mapping[str, Any], tenant: dict[str, Any], utilisation: float
) -> dict[str, Any]:
    """The decision-log fields of one crossing (type `compute-threshold`)."""
    fields: dict[str, Any] = loggable(
        {
            **_crossing_fields(crossing),
            # As in decision records, `tenant` is the name; who the tenant is sits beside it.
            "tenant": tenant.get("name"),
            "tenantRecord": tenant,
            "run": run_facts(record, utilisation),
        }
    )
    return fields


def tenant_threshold_record(
    crossing: TenantCrossing, tenant: dict[str, Any], utilisation: float
) -> dict[str, Any]:
    """The decision-log fields of one tenant crossing: the tenant's figures and every run that
    made them up, with the capacity each held at the instant of the peak."""
    fields: dict[str, Any] = loggable(
        {
            **_crossing_fields(crossing.entry, TENANT_SCOPE),
            "tenant": tenant.get("name"),
            "tenantRecord": tenant,
            **_runs_fields(crossing, utilisation),
        }
    )
    return fields


def group_threshold_record(
    crossing: GroupCrossing, tenants: Mapping[str, dict[str, Any]], utilisation: float
) -> dict[str, Any]:
    """The decision-log fields of one group crossing: the group's figures, every member tenant
    (who it is and its share at the instant of the peak), why they are one group, and every
    run that made the figure up. `tenants`: member name -> `tenant_facts`."""
    entry = crossing.entry
    members = [
        {
            "tenant": share["tenant"],
            "tenantRecord": tenants.get(share["tenant"])
            or {"name": share["tenant"], "known": False},
            "capacityAtCrossingOpsPerSecond": share.get("value", 0.0),
            "acceleratorsAtCrossing": share.get("accelerators", 0),
            "runsAtCrossing": share.get("runCount", 0),
        }
        for share in entry.get("members") or ()
    ]
    fields: dict[str, Any] = loggable(
        {
            **_crossing_fields(entry, GROUP_SCOPE),
            # No single `tenant`: a group record names all of them in `tenants` and `members`.
            "group": entry["group"],
            "groupName": entry.get("groupName", entry["group"]),
            "tenants": [m["tenant"] for m in members],
            "tenantCount": entry.get("tenantCount", len(members)),
            "members": members,
            "links": entry.get("links") or [],
            **_runs_fields(crossing, utilisation, with_tenant=True),
        }
    )
    return fields


def group_message(crossing: GroupCrossing) -> str:
    entry = crossing.entry
    held = [m for m in entry.get("members") or () if m.get("accelerators")]
    shares = ", ".join(
        f"{m['tenant']} {m['accelerators']} ({float(m['value']):.3g} ops/s)" for m in held[:10]
    ) + (f" and {len(held) - 10} more" if len(held) > 10 else "")
    text = (
        f"Tenant group {entry.get('groupName', crossing.group)} ({entry.get('tenantCount', 0)} "
        f"Tenant records answering to one party) crossed {entry['tier']} ({entry['level']}, "
        f"{entry['threshold']:.0e}) over all its tenants' runs together: "
        f"{entry.get('accelerators', 0)} accelerators in {entry.get('runCount', 0)} runs held a "
        f"peak capacity of {entry['value']:.3g} operations/s at {entry['at']} (theoretical "
        f"peak, utilisation not applied); by tenant: {shares}. House policy, not a legal duty; "
        "see status.groupCrossings of the members' ComputeRuns."
    )
    return text[:MESSAGE_CHARS]


def tenant_message(crossing: TenantCrossing) -> str:
    entry = crossing.entry
    return (
        f"Tenant {crossing.tenant or 'unknown'} crossed {entry['tier']} ({entry['level']}, "
        f"{entry['threshold']:.0e}) over all its runs together: {entry.get('accelerators', 0)} "
        f"accelerators in {entry.get('runCount', len(crossing.records))} runs held a peak "
        f"capacity of {entry['value']:.3g} operations/s at {entry['at']} (theoretical peak, "
        "utilisation not applied). House policy, not a legal duty; see status.tenantCrossings "
        "of the tenant's ComputeRuns."
    )


def message(record: RunRecord, crossing: Mapping[str, Any], utilisation: float) -> str:
    owner = record.owner
    what = (
        f"estimated {crossing['value']:.3g} operations"
        if crossing["metric"] == "operations"
        else f"peak capacity {crossing['value']:.3g} operations/s"
    )
    return (
        f"{owner.get('kind')}/{owner.get('name')} (tenant {record.tenant or 'unknown'}) crossed "
        f"{crossing['tier']} ({crossing['level']}, {crossing['threshold']:.0e}): {what}, "
        f"{describe_estimate(utilisation)}. House policy, not a legal duty; see ComputeRun "
        f"{record.name}."
    )


def jump_message(tenant: str, jump: UsageJump, factor: float) -> str:
    baseline = f"{jump.baseline:.1f} a day" if jump.baseline else "no earlier use"
    return (
        f"Tenant {tenant} used {jump.hours:.1f} accelerator-hours on {jump.day.isoformat()}, "
        f"more than {factor:g}x its trailing baseline ({baseline})."
    )


def compute_report(
    namespace: str, records: Iterable[RunRecord], now: datetime, max_chars: int = 1024
) -> dict[str, Any]:
    """The namespace's `exportgate-compute` PolicyReport: one result per crossing."""
    results: list[dict[str, Any]] = []
    records = list(records)
    for record in records:
        for crossing in record.crossings:
            results.append(_result(crossing, [record], now, max_chars, namespace))
    groups: dict[tuple[str, str], list[RunRecord]] = {}
    firsts: dict[tuple[str, str], dict[str, Any]] = {}
    for record in records:
        for entry in record.tenant_crossings:
            groups.setdefault(crossing_key(entry), []).append(record)
            firsts.setdefault(crossing_key(entry), entry)
    for key, members in sorted(groups.items()):
        results.append(_result(firsts[key], members, now, max_chars, namespace))
    by_group: dict[tuple[str, str, str], list[RunRecord]] = {}
    group_firsts: dict[tuple[str, str, str], dict[str, Any]] = {}
    for record in records:
        for entry in record.group_crossings:
            by_group.setdefault(group_key(entry), []).append(record)
            group_firsts.setdefault(group_key(entry), entry)
    for gkey, members in sorted(by_group.items()):
        results.append(_result(group_firsts[gkey], members, now, max_chars, namespace))
    summary = {"pass": 0, "fail": 0, "warn": len(results), "error": 0, "skip": 0}
    return {
        "apiVersion": "wgpolicyk8s.io/v1alpha2",
        "kind": "PolicyReport",
        "metadata": {"name": REPORT_NAME, "namespace": namespace, "labels": dict(MANAGED_LABELS)},
        "summary": summary,
        "results": results[:100],
    }


def _result(
    crossing: Mapping[str, Any],
    records: list[RunRecord],
    now: datetime,
    max_chars: int,
    namespace: str,
) -> dict[str, Any]:
    """One PolicyReport result: a run crossing (one record) or, in this namespace, a tenant
    or group crossing (the namespace's runs that made it up; the log record names them all)."""
    scope = crossing.get("scope")
    first = records[0]
    extra: dict[str, str] = {}
    if scope == TENANT_SCOPE:
        extra = {"scope": TENANT_SCOPE, "runCount": str(crossing.get("runCount", ""))}
    elif scope == GROUP_SCOPE:
        extra = {
            "scope": GROUP_SCOPE,
            "runCount": str(crossing.get("runCount", "")),
            "group": str(crossing.get("group", "")),
            "groupTenants": ",".join(str(m.get("tenant")) for m in crossing.get("members") or ())[
                :max_chars
            ],
        }
    return {
        "source": SOURCE,
        "policy": REPORT_POLICY,
        "rule": str(crossing["tier"]),
        "category": "Compute Accounting",
        "severity": "high" if crossing["level"] == "report" else "medium",
        "result": "warn",
        "scored": False,
        "timestamp": {"seconds": int(now.timestamp()), "nanos": 0},
        "message": str(crossing.get("message") or crossing["tier"])[:max_chars],
        "resources": [
            {
                "apiVersion": str(r.owner.get("apiVersion", "")),
                "kind": str(r.owner.get("kind", "")),
                "name": str(r.owner.get("name", "")),
                "namespace": namespace,
                **({"uid": str(r.owner["uid"])} if r.owner.get("uid") else {}),
            }
            for r in records[:RESOURCES_KEPT]
        ],
        "properties": {
            "tenant": first.tenant or "",
            "computeRun": ",".join(r.name for r in records[:RESOURCES_KEPT]),
            "value": f"{crossing['value']:.6e}",
            "threshold": f"{crossing['threshold']:.0e}",
            "crossedAt": str(crossing["at"]),
            "decisionId": str(crossing.get("decisionId") or ""),
            **extra,
        },
    }


__all__ = ["compute_report", "jump_message", "message", "threshold_record", "write_report"]


def _stamp(moment: datetime | None) -> str | None:
    return timestamp(moment) if moment else None
