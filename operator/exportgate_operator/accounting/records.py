"""ComputeRun records: a run's figures, durable in the cluster.

One `ComputeRun` (exportgate.dev/v1alpha1, namespaced, in the run's namespace) per run. Its
status is the only memory the accounting has:

* `countedUntil`: every Pod of the run has been counted up to this instant, and no further.
  The next pass counts [countedUntil, now) from the Pods' own start/finish times, so a restart
  (or a new leader) resumes exactly where the last checkpoint stopped: nothing counts twice.
* per product: accelerator-seconds (unidentified time kept apart), the per-accelerator peak,
  and the estimate built from them; accelerator-seconds per UTC day (usage patterns);
* `crossings`: tiers crossed, each with `notified` so an alert interrupted by a crash is sent
  again (at least once) and one already sent is not.
* `tenantCrossings`: the tenant-level crossings (the capacity tier, over all the tenant's runs)
  this run was part of, one entry per crossing in every run that made it up, with the same
  `notified` marker and `endedAt` once a pass finds the tenant below the tier again;
* `groupCrossings`: the same for a group of tenants (Tenant records that answer to one party,
  see exportgate.core.tenant_groups): the capacity tier over all the group's runs at once,
  one entry per crossing in every run that made it up;
* `usageJumps`: the tenant's usage jumps, kept in the run that used the most that day, with
  `notified`: so neither is announced twice, nor lost, across a restart.

Writes carry the resourceVersion read, so two operators that both think they are active cannot
both add the same window: the second write fails with a conflict and is recomputed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from exportgate.core.compute import Accrual, ProductFigures, describe_estimate
from exportgate_operator.accounting.owners import Owner
from exportgate_operator.conditions import timestamp as stamp
from exportgate_operator.kinds import Resource

RUNS = Resource("exportgate.dev", "v1alpha1", "computeruns", "ComputeRun")
DAYS_KEPT = 62  # per-day figures older than this are dropped (totals keep them)
KEPT = 64  # tenant and group crossings, usage jumps a record keeps (the newest; the log keeps all)
RUNNING = "Running"
FINISHED = "Finished"


def parse_stamp(value: Any) -> datetime | None:
    if not value:
        return None
    return datetime.fromisoformat(str(value).replace("Z", "+00:00"))


def product_fields(figures: ProductFigures) -> dict[str, Any]:
    """One product's use as a ComputeRun's status and the decision log's records both show it."""
    return {
        "product": figures.product,
        "classification": figures.classification,
        "identified": figures.identified,
        "acceleratorSeconds": round(figures.accelerator_seconds, 3),
        "peakOpsPerSecond": figures.ops_per_second,
    }


@dataclass(slots=True)
class RunRecord:
    """A ComputeRun as the accountant keeps it between passes."""

    name: str
    namespace: str
    owner: dict[str, str]
    tenant: str | None
    resource_version: str | None = None
    counted_until: datetime | None = None
    first_seen: datetime | None = None
    last_seen: datetime | None = None
    state: str = RUNNING
    accelerators: int = 0
    pods: int = 0
    peak_accelerators: int = 0
    peak_capacity: float = 0.0
    products: dict[str, ProductFigures] = field(default_factory=dict)
    daily: dict[date, float] = field(default_factory=dict)
    crossings: list[dict[str, Any]] = field(default_factory=list)
    tenant_crossings: list[dict[str, Any]] = field(default_factory=list)
    group_crossings: list[dict[str, Any]] = field(default_factory=list)
    usage_jumps: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def new(cls, owner: Owner, tenant: str | None) -> RunRecord:
        return cls(owner.record_name, owner.namespace, owner.to_dict(), tenant)

    @classmethod
    def from_object(cls, obj: Mapping[str, Any]) -> RunRecord:
        meta = obj.get("metadata") or {}
        spec = obj.get("spec") or {}
        status = obj.get("status") or {}
        products = {}
        for entry in status.get("products") or ():
            figures = ProductFigures(
                str(entry["product"]),
                str(entry.get("classification", "")),
                bool(entry.get("identified", True)),
                float(entry.get("peakOpsPerSecond", 0.0)),
                float(entry.get("acceleratorSeconds", 0.0)),
            )
            key = figures.product if figures.identified else f"unidentified:{figures.product}"
            products[key] = figures
        return cls(
            name=str(meta.get("name")),
            namespace=str(meta.get("namespace")),
            owner=dict(spec.get("owner") or {}),
            tenant=spec.get("tenant"),
            resource_version=meta.get("resourceVersion"),
            counted_until=parse_stamp(status.get("countedUntil")),
            first_seen=parse_stamp(status.get("firstSeen")),
            last_seen=parse_stamp(status.get("lastSeen")),
            state=str(status.get("state") or RUNNING),
            accelerators=int(status.get("accelerators") or 0),
            pods=int(status.get("pods") or 0),
            peak_accelerators=int(status.get("peakAccelerators") or 0),
            peak_capacity=float(status.get("peakCapacityOpsPerSecond") or 0.0),
            products=products,
            daily={
                date.fromisoformat(d["day"]): float(d["acceleratorSeconds"])
                for d in status.get("daily") or ()
            },
            crossings=[dict(c) for c in status.get("crossings") or ()],
            tenant_crossings=[dict(c) for c in status.get("tenantCrossings") or ()],
            group_crossings=[dict(c) for c in status.get("groupCrossings") or ()],
            usage_jumps=[dict(j) for j in status.get("usageJumps") or ()],
        )

    # --- arithmetic -----------------------------------------------------------------------

    def add(self, accrual: Accrual) -> None:
        for key, found in accrual.products.items():
            mine = self.products.get(key)
            if mine is None:
                self.products[key] = ProductFigures(
                    found.product, found.classification, found.identified, found.ops_per_second
                )
                mine = self.products[key]
            mine.ops_per_second = max(mine.ops_per_second, found.ops_per_second)
            mine.accelerator_seconds += found.accelerator_seconds
        for day, seconds in accrual.by_day.items():
            self.daily[day] = self.daily.get(day, 0.0) + seconds
        for day in sorted(self.daily)[:-DAYS_KEPT]:
            del self.daily[day]
        self.peak_capacity = max(self.peak_capacity, accrual.peak_capacity)
        self.peak_accelerators = max(self.peak_accelerators, accrual.peak_accelerators)

    @property
    def accelerator_seconds(self) -> float:
        return sum(p.accelerator_seconds for p in self.products.values())

    def operations(self, utilisation: float) -> float:
        return sum(p.operations(utilisation) for p in self.products.values())

    def crossed_ids(self) -> list[str]:
        return [str(c["tier"]) for c in self.crossings]

    # --- the object -------------------------------------------------------------------------

    def spec(self) -> dict[str, Any]:
        spec: dict[str, Any] = {"owner": dict(self.owner)}
        if self.tenant:
            spec["tenant"] = self.tenant
        return spec

    def status(self, utilisation: float) -> dict[str, Any]:
        products = sorted(self.products.values(), key=lambda p: (-p.accelerator_seconds, p.product))
        unidentified = sum(p.accelerator_seconds for p in products if not p.identified)
        status: dict[str, Any] = {
            "state": self.state,
            "accelerators": self.accelerators,
            "pods": self.pods,
            "peakAccelerators": self.peak_accelerators,
            "acceleratorSeconds": round(self.accelerator_seconds, 3),
            "gpuHours": round(self.accelerator_seconds / 3600, 2),
            "unidentifiedAcceleratorSeconds": round(unidentified, 3),
            "estimatedOperations": float(f"{self.operations(utilisation):.6e}"),
            "peakCapacityOpsPerSecond": float(f"{self.peak_capacity:.6e}"),
            "utilisation": utilisation,
            "estimation": describe_estimate(utilisation),
            "products": [
                {
                    **product_fields(p),
                    "estimatedOperations": float(f"{p.operations(utilisation):.6e}"),
                }
                for p in products
            ],
            "daily": [
                {"day": day.isoformat(), "acceleratorSeconds": round(seconds, 3)}
                for day, seconds in sorted(self.daily.items())
            ],
            # Copies: a status taken before a pass must not change when the pass marks an
            # entry in place (the accountant compares the two to skip unchanged records).
            "crossings": [dict(c) for c in self.crossings],
        }
        # Only when there are some: records written before these fields existed stay alike.
        if self.tenant_crossings:
            status["tenantCrossings"] = [dict(c) for c in self.tenant_crossings[-KEPT:]]
        if self.group_crossings:
            status["groupCrossings"] = [dict(c) for c in self.group_crossings[-KEPT:]]
        if self.usage_jumps:
            status["usageJumps"] = [dict(j) for j in self.usage_jumps[-KEPT:]]
        for key, moment in (
            ("countedUntil", self.counted_until),
            ("firstSeen", self.first_seen),
            ("lastSeen", self.last_seen),
        ):
            if moment is not None:
                status[key] = stamp(moment)
        return status

    def body(self, utilisation: float) -> dict[str, Any]:
        return {
            "apiVersion": RUNS.api_version,
            "kind": RUNS.kind,
            "metadata": {
                "name": self.name,
                "namespace": self.namespace,
                "labels": {
                    "app.kubernetes.io/managed-by": "exportgate-operator",
                    **({"exportgate.dev/tenant": self.tenant} if self.tenant else {}),
                },
            },
            "spec": self.spec(),
            "status": self.status(utilisation),
        }
