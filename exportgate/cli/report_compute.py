"""`exportgate report compute`: tenants and runs with their compute figures, for compliance.

Input: one export per cluster, each the output of

    kubectl get computeruns --all-namespaces -o json > cluster-a.json

(a List of ComputeRun objects; YAML works too). `--cluster NAME=FILE` names the cluster, a bare
FILE is named after the file. Figures for a period come from each run's accelerator-seconds per
UTC day; a run's estimated operations in the period are its daily accelerator-seconds times the
run's operations per accelerator-second (its product mix), so the report and the run agree
when the period covers the whole run. Thresholds apply to whole runs: the report shows the
crossings each run recorded, whenever they happened. The capacity tier applies to a tenant's runs
together: each such crossing is kept in every run that made it up (`status.tenantCrossings`) and
listed once per tenant, with the tenant's figures. The same tier over a group of tenants that
answer to one party (`status.groupCrossings`) is listed once per group and cluster, with every
member tenant's share.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import sys
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from exportgate.core.compute import describe_estimate
from exportgate.core.documents import read_documents
from exportgate.core.errors import InputError

EXIT_BAD_INPUT = 2
RUN_KIND = "ComputeRun"


@dataclass
class RunRow:
    cluster: str
    namespace: str
    name: str
    tenant: str
    owner: str
    state: str
    first_seen: str | None
    last_seen: str | None
    accelerator_hours: float
    estimated_operations: float
    run_estimated_operations: float
    peak_capacity: float
    utilisation: float
    products: dict[str, float]  # product -> accelerator-hours (whole run)
    unidentified_hours: float
    crossings: list[str]
    tenant_crossings: list[str] = field(default_factory=list)  # "tier@crossedAt" it was part of
    group_crossings: list[str] = field(default_factory=list)  # "tier@crossedAt@group"


@dataclass
class TenantRow:
    tenant: str
    clusters: list[str] = field(default_factory=list)
    runs: int = 0
    accelerator_hours: float = 0.0
    estimated_operations: float = 0.0
    peak_capacity: float = 0.0
    products: dict[str, float] = field(default_factory=dict)
    crossings: list[str] = field(default_factory=list)
    tenant_crossings: list[dict[str, Any]] = field(default_factory=list)
    """Crossings by the tenant's runs together (the capacity tier), once each."""


def register(subcommands: Any) -> None:
    report = subcommands.add_parser(
        "report",
        help="reports for the compliance team (compute accounting)",
        description="Reports over exported cluster data.",
    )
    kinds = report.add_subparsers(dest="report", metavar="REPORT")
    parser = kinds.add_parser(
        "compute",
        help="tenants and runs with accelerator-hours, estimated operations and crossings",
        description=__doc__.split("\n\n")[0] if __doc__ else None,
    )
    parser.add_argument(
        "exports",
        nargs="*",
        metavar="FILE",
        help="`kubectl get computeruns -A -o json` output of one cluster (named after the file)",
    )
    parser.add_argument(
        "--cluster",
        action="append",
        default=[],
        metavar="NAME=FILE",
        help="an export with its cluster's name (repeatable)",
    )
    parser.add_argument(
        "--since", type=date.fromisoformat, metavar="YYYY-MM-DD", help="first UTC day"
    )
    parser.add_argument(
        "--until", type=date.fromisoformat, metavar="YYYY-MM-DD", help="first UTC day NOT included"
    )
    parser.add_argument("--tenant", action="append", default=[], help="only this tenant")
    parser.add_argument("-o", "--output", choices=["text", "json", "csv"], default="text")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    sources: list[tuple[str, str]] = [(Path(f).stem, f) for f in args.exports]
    for item in args.cluster:
        name, sep, path = item.partition("=")
        if not sep or not name or not path:
            print(f"error: --cluster {item!r}: expected NAME=FILE", file=sys.stderr)
            return EXIT_BAD_INPUT
        sources.append((name, path))
    if not sources:
        print("error: no export given; see `exportgate report compute --help`", file=sys.stderr)
        return EXIT_BAD_INPUT
    rows: list[RunRow] = []
    shared: dict[str, list[dict[str, Any]]] = defaultdict(list)
    groups: dict[tuple[str, str, str, str], dict[str, Any]] = {}
    try:
        for cluster, path in sources:
            for obj in _runs(path):
                found = run_row(cluster, obj, args.since, args.until)
                if found is not None and (not args.tenant or found[0].tenant in args.tenant):
                    rows.append(found[0])
                    shared[found[0].tenant].extend(found[1])
                    for crossing in group_crossings(cluster, obj):
                        key = (
                            cluster,
                            crossing["group"],
                            crossing["tier"],
                            str(crossing["crossed_at"]),
                        )
                        kept = groups.setdefault(key, crossing)
                        kept["ended_at"] = kept["ended_at"] or crossing["ended_at"]
    except InputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    group_list = sorted(groups.values(), key=lambda c: (str(c["crossed_at"]), c["group"]))
    tenants = tenant_rows(rows, shared, group_list)
    period = {"since": _day(args.since), "until": _day(args.until)}
    utilisations = sorted({r.utilisation for r in rows}) or [1.0]
    estimation = "; ".join(describe_estimate(u) for u in utilisations)
    if args.output == "json":
        print(
            json.dumps(
                {
                    "period": period,
                    "estimation": estimation,
                    "tenants": [asdict(t) for t in tenants],
                    "runs": [asdict(r) for r in rows],
                    "group_crossings": group_list,
                },
                indent=2,
            )
        )
    elif args.output == "csv":
        print(to_csv(rows), end="")
    else:
        print(to_text(tenants, rows, period, estimation, group_list), end="")
    return 0


def _runs(path: str) -> Iterable[Mapping[str, Any]]:
    for document in read_documents(path):
        data = document.data
        items = data.get("items") if isinstance(data, Mapping) and "items" in data else [data]
        for item in items or ():
            if not isinstance(item, Mapping) or item.get("kind", RUN_KIND) != RUN_KIND:
                found = item.get("kind") if isinstance(item, Mapping) else type(item).__name__
                raise InputError(
                    f"expected ComputeRun objects, found {found}",
                    source=document.source,
                    hint="export with `kubectl get computeruns -A -o json`",
                )
            yield item


def run_row(
    cluster: str, obj: Mapping[str, Any], since: date | None, until: date | None
) -> tuple[RunRow, list[dict[str, Any]]] | None:
    """One run's figures in the period and the tenant crossings it was part of; None when it
    used nothing in the period."""
    meta, spec, status = obj.get("metadata") or {}, obj.get("spec") or {}, obj.get("status") or {}
    total_seconds = float(status.get("acceleratorSeconds") or 0.0)
    total_ops = float(status.get("estimatedOperations") or 0.0)
    seconds = 0.0
    for entry in status.get("daily") or ():
        day = date.fromisoformat(str(entry["day"]))
        if (since is None or day >= since) and (until is None or day < until):
            seconds += float(entry.get("acceleratorSeconds") or 0.0)
    if since is None and until is None:
        seconds = total_seconds  # the daily list keeps 62 days; the totals keep everything
    if seconds <= 0 and (since is not None or until is not None):
        return None
    owner = spec.get("owner") or {}
    products: dict[str, float] = defaultdict(float)
    unidentified = 0.0
    for p in status.get("products") or ():
        hours = float(p.get("acceleratorSeconds") or 0.0) / 3600
        products[str(p["product"])] += hours
        if not p.get("identified", True):
            unidentified += hours
    return RunRow(
        cluster=cluster,
        namespace=str(meta.get("namespace", "")),
        name=str(meta.get("name", "")),
        tenant=str(spec.get("tenant") or ""),
        owner=f"{owner.get('kind', '?')}/{owner.get('name', '?')}",
        state=str(status.get("state") or ""),
        first_seen=status.get("firstSeen"),
        last_seen=status.get("lastSeen"),
        accelerator_hours=round(seconds / 3600, 3),
        estimated_operations=total_ops * seconds / total_seconds if total_seconds else 0.0,
        run_estimated_operations=total_ops,
        peak_capacity=float(status.get("peakCapacityOpsPerSecond") or 0.0),
        utilisation=float(status.get("utilisation") or 1.0),
        products={k: round(v, 3) for k, v in sorted(products.items())},
        unidentified_hours=round(unidentified, 3),
        crossings=[str(c.get("tier")) for c in status.get("crossings") or ()],
        tenant_crossings=[
            f"{c.get('tier')}@{c.get('at')}" for c in status.get("tenantCrossings") or ()
        ],
        group_crossings=[
            f"{c.get('tier')}@{c.get('at')}@{c.get('group')}"
            for c in status.get("groupCrossings") or ()
        ],
    ), [tenant_crossing(cluster, c) for c in status.get("tenantCrossings") or ()]


def group_crossings(cluster: str, obj: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The group crossings one run's record holds, without the run's own share: each names the
    group, the group's figures and every member tenant's share."""
    status = obj.get("status") or {}
    return [
        _crossing_row(
            cluster,
            entry,
            who={
                "group": str(entry.get("group")),
                "group_name": str(entry.get("groupName") or entry.get("group")),
            },
            split={
                "tenant_count": int(entry.get("tenantCount") or 0),
                "tenants": [
                    {
                        "tenant": str(m.get("tenant")),
                        "value": float(m.get("value") or 0.0),
                        "accelerators": int(m.get("accelerators") or 0),
                        "runs": int(m.get("runCount") or 0),
                    }
                    for m in entry.get("members") or ()
                ],
            },
        )
        for entry in status.get("groupCrossings") or ()
    ]


def tenant_crossing(cluster: str, entry: Mapping[str, Any]) -> dict[str, Any]:
    """A tenant crossing as one run's record holds it, without the run's own share."""
    return _crossing_row(cluster, entry)


def _crossing_row(
    cluster: str,
    entry: Mapping[str, Any],
    who: Mapping[str, Any] | None = None,
    split: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The figures every tenant or group crossing row has, in the report's key order: a group's
    own fields go after the cluster (`who` crossed) and after the threshold (how it `split`)."""
    return {
        "cluster": cluster,
        **(who or {}),
        "tier": str(entry.get("tier")),
        "level": str(entry.get("level", "")),
        "crossed_at": entry.get("at"),
        "ended_at": entry.get("endedAt"),
        "value": float(entry.get("value") or 0.0),
        "threshold": float(entry.get("threshold") or 0.0),
        **(split or {}),
        "runs": int(entry.get("runCount") or 0),
        "accelerators": int(entry.get("accelerators") or 0),
        "decision_id": str(entry.get("decisionId") or ""),
    }


def tenant_rows(
    rows: Iterable[RunRow],
    shared: Mapping[str, Iterable[dict[str, Any]]] | None = None,
    groups: Iterable[Mapping[str, Any]] = (),
) -> list[TenantRow]:
    """Per tenant; `shared`: the tenant crossings its runs carry (each run has a copy);
    `groups`: group crossings, named in CROSSED of every member tenant in the report."""
    found: dict[str, TenantRow] = {}
    for row in rows:
        tenant = found.setdefault(row.tenant, TenantRow(row.tenant))
        if row.cluster not in tenant.clusters:
            tenant.clusters.append(row.cluster)
        tenant.runs += 1
        tenant.accelerator_hours += row.accelerator_hours
        tenant.estimated_operations += row.estimated_operations
        tenant.peak_capacity = max(tenant.peak_capacity, row.peak_capacity)
        for product, hours in row.products.items():
            tenant.products[product] = round(tenant.products.get(product, 0.0) + hours, 3)
        tenant.crossings.extend(f"{c} ({row.owner})" for c in row.crossings)
    for name, crossings in (shared or {}).items():
        if name not in found:
            continue
        seen = {(c["cluster"], c["tier"], c["crossed_at"]) for c in found[name].tenant_crossings}
        for crossing in crossings:
            key = (crossing["cluster"], crossing["tier"], crossing["crossed_at"])
            if key not in seen:
                seen.add(key)
                found[name].tenant_crossings.append(crossing)
                found[name].crossings.append(
                    f"{crossing['tier']} (tenant, {crossing['runs']} runs)"
                )
    for joint in groups:
        for member in joint["tenants"]:
            if member["tenant"] in found:
                found[member["tenant"]].crossings.append(
                    f"{joint['tier']} (group {joint['group_name']}, "
                    f"{joint['tenant_count']} tenants)"
                )
    return sorted(found.values(), key=lambda t: (-t.estimated_operations, t.tenant))


CSV_FIELDS = [
    "cluster",
    "namespace",
    "name",
    "tenant",
    "owner",
    "state",
    "first_seen",
    "last_seen",
    "accelerator_hours",
    "estimated_operations",
    "run_estimated_operations",
    "peak_capacity",
    "utilisation",
    "products",
    "unidentified_hours",
    "crossings",
    "tenant_crossings",
    "group_crossings",
]


def to_csv(rows: Iterable[RunRow]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CSV_FIELDS, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        data = asdict(row)
        data["products"] = ";".join(f"{k}={v}" for k, v in row.products.items())
        data["crossings"] = ";".join(row.crossings)
        data["tenant_crossings"] = ";".join(row.tenant_crossings)
        data["group_crossings"] = ";".join(row.group_crossings)
        writer.writerow(data)
    return out.getvalue()


def to_text(
    tenants: list[TenantRow],
    rows: list[RunRow],
    period: Mapping[str, str | None],
    estimation: str,
    groups: Iterable[Mapping[str, Any]] = (),
) -> str:
    lines = [
        f"Compute report, period {period['since'] or 'start'} .. {period['until'] or 'now'}",
        f"Estimated operations: {estimation}.",
        "",
        f"{'TENANT':24} {'CLUSTERS':16} {'RUNS':>4} {'ACC-HOURS':>10} {'EST-OPS':>9} "
        f"{'PEAK-OPS/S':>10}  CROSSED",
    ]
    for t in tenants:
        lines.append(
            f"{t.tenant or '(none)':24} {','.join(t.clusters):16} {t.runs:>4} "
            f"{t.accelerator_hours:>10.2f} {t.estimated_operations:>9.2e} "
            f"{t.peak_capacity:>10.2e}  {', '.join(t.crossings) or '-'}"
        )
    tenant_wide = [(t.tenant, c) for t in tenants for c in t.tenant_crossings]
    if tenant_wide:
        lines += [
            "",
            "Crossed by a tenant's runs together (concurrent capacity, theoretical peak):",
        ]
        for name, c in tenant_wide:
            lines.append(_crossing_line(name or "(none)", c))
    joint = list(groups)
    if joint:
        lines += [
            "",
            "Crossed by a group of tenants together (Tenant records answering to one "
            "party; concurrent capacity, theoretical peak):",
        ]
        for g in joint:
            shares = ", ".join(
                f"{m['tenant']} {m['accelerators']} ({m['value']:.2e} ops/s)" for m in g["tenants"]
            )
            lines.append(_crossing_line(g["group_name"], g, f" of {g['tenant_count']} tenants"))
            lines.append(f"    by tenant: {shares or '-'}")
    lines += [
        "",
        f"{'CLUSTER':10} {'RUN':40} {'TENANT':16} {'STATE':9} {'ACC-HOURS':>10} "
        f"{'EST-OPS':>9}  PRODUCTS (acc-hours, whole run)",
    ]
    for r in sorted(rows, key=lambda r: (-r.estimated_operations, r.cluster, r.name)):
        products = ", ".join(f"{k} {v:g}" for k, v in r.products.items())
        lines.append(
            f"{r.cluster:10} {r.namespace + '/' + r.owner:40} {r.tenant or '(none)':16} "
            f"{r.state:9} {r.accelerator_hours:>10.2f} {r.estimated_operations:>9.2e}  {products}"
        )
    return "\n".join(lines) + "\n"


def _crossing_line(who: str, c: Mapping[str, Any], runs_of: str = "") -> str:
    """One tenant or group crossing row (`_crossing_row`) as a line of the text report."""
    ended = f", ended {c['ended_at']}" if c["ended_at"] else ", still open"
    return (
        f"  {who} {c['cluster']}: {c['tier']} ({c['level']}, "
        f"{c['threshold']:.0e}) at {c['crossed_at']}: {c['value']:.2e} ops/s from "
        f"{c['accelerators']} accelerators in {c['runs']} runs{runs_of}{ended}; "
        f"decision {c['decision_id'] or '-'}"
    )


def _day(value: date | None) -> str | None:
    return value.isoformat() if value else None
