"""Prometheus metrics of compute accounting (names are stable API: add, never rename).

The per-tenant figures are read from the run records at scrape time (a custom collector), so
they are the durable totals and survive restarts as counters should: a restarted operator
reports the same totals, not zero. Estimated operations are labelled with the utilisation
factor they assume (1.0 = upper bound).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from exportgate_operator.accounting.records import RUNNING, RunRecord


class RecordCollector(Collector):
    def __init__(
        self, records: Callable[[], Iterable[RunRecord]], utilisation: Callable[[], float]
    ) -> None:
        self._records = records
        self._utilisation = utilisation

    def collect(self) -> Iterator[Any]:
        utilisation = self._utilisation()
        seconds = CounterMetricFamily(
            "exportgate_compute_accelerator_seconds",
            "Accelerator-seconds recorded, per tenant, product and export class "
            "(unidentified: the node did not say; counted as the most restrictive product).",
            labels=["tenant", "product", "classification", "identified"],
        )
        operations = CounterMetricFamily(
            "exportgate_compute_estimated_operations",
            "Estimated operations (accelerator-seconds x peak dense ops/s x utilisation; "
            "utilisation 1.0 is an upper bound), per tenant and product.",
            labels=["tenant", "product", "utilisation"],
        )
        running = GaugeMetricFamily(
            "exportgate_compute_running_accelerators",
            "Accelerators held by running Pods at the last pass, per tenant.",
            labels=["tenant"],
        )
        capacity = GaugeMetricFamily(
            "exportgate_compute_peak_capacity_ops_per_second",
            "Largest peak concurrent capacity (ops/s) of any of the tenant's runs.",
            labels=["tenant"],
        )
        totals: dict[tuple[str, str, str, str], float] = defaultdict(float)
        ops: dict[tuple[str, str], float] = defaultdict(float)
        held: dict[str, int] = defaultdict(int)
        peak: dict[str, float] = defaultdict(float)
        for record in self._records():
            tenant = record.tenant or ""
            for p in record.products.values():
                key = (tenant, p.product, p.classification, str(p.identified).lower())
                totals[key] += p.accelerator_seconds
                ops[(tenant, p.product)] += p.operations(utilisation)
            if record.state == RUNNING:
                held[tenant] += record.accelerators
            peak[tenant] = max(peak[tenant], record.peak_capacity)
        for key, value in sorted(totals.items()):
            seconds.add_metric(list(key), value)
        for (tenant, product), value in sorted(ops.items()):
            operations.add_metric([tenant, product, f"{utilisation:g}"], value)
        for tenant, count in sorted(held.items()):
            running.add_metric([tenant], count)
        for tenant, value in sorted(peak.items()):
            capacity.add_metric([tenant], value)
        yield from (seconds, operations, running, capacity)


class AccountingMetrics:
    def __init__(
        self,
        registry: CollectorRegistry,
        records: Callable[[], Iterable[RunRecord]],
        utilisation: Callable[[], float],
    ) -> None:
        registry.register(RecordCollector(records, utilisation))
        self.crossings = Counter(
            "exportgate_compute_threshold_crossings",
            "Compute thresholds crossed by a run, per tenant, tier and level.",
            ["tenant", "tier", "level"],
            registry=registry,
        )
        self.usage_jumps = Counter(
            "exportgate_compute_usage_jumps",
            "Days on which a tenant's accelerator-hours jumped beyond its baseline factor.",
            ["tenant"],
            registry=registry,
        )
        self.usage_ratio = Gauge(
            "exportgate_compute_usage_ratio",
            "Today's accelerator-hours over the tenant's trailing daily mean (Inf: no baseline).",
            ["tenant"],
            registry=registry,
        )
        self.tenant_capacity = Gauge(
            "exportgate_compute_tenant_capacity_ops_per_second",
            "Most a tenant's accelerators held at once over all its runs since the previous "
            "pass (theoretical peak ops/s, utilisation not applied): the capacity tier's figure.",
            ["tenant"],
            registry=registry,
        )
        # A group of tenants that answer to one party (exportgate.core.tenant_groups): its own
        # metrics, labelled by the group key, so the per-tenant series keep their meaning.
        self.group_crossings = Counter(
            "exportgate_compute_group_threshold_crossings",
            "Capacity tiers crossed by a group of tenants (Tenant records answering to one "
            "party) together, per group key, tier and level.",
            ["group", "tier", "level"],
            registry=registry,
        )
        self.group_capacity = Gauge(
            "exportgate_compute_group_capacity_ops_per_second",
            "Most a group of tenants' accelerators held at once over all their runs since the "
            "previous pass (theoretical peak ops/s): the capacity tier's figure for the group.",
            ["group"],
            registry=registry,
        )
        self.pass_seconds = Gauge(
            "exportgate_compute_pass_seconds", "Duration of the last accounting pass.",
            registry=registry,
        )
        self.unidentified_pods = Gauge(
            "exportgate_compute_unidentified_pods",
            "Accelerator Pods at the last pass whose node did not identify the product.",
            registry=registry,
        )
        self.last_pass = Gauge(
            "exportgate_compute_last_pass_timestamp_seconds",
            "When the last accounting pass counted up to (Unix time).",
            registry=registry,
        )
