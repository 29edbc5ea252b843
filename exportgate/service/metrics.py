"""Prometheus metrics of the policy service (named `exportgate_sidecar_*` in both shapes).

Names are stable API (dashboards and alerts depend on them); add, never rename. Each server
gets its own registry so that several servers can run in one process (tests) without clashing,
and the sidecar's HTTP endpoint (`exportgate_sidecar.metrics_endpoint`) is optional; embedded,
the webhook serves them on its own /metrics.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

# Latency buckets around the budget that matters: an uncached decision including the gRPC hop
# should stay under 3 ms at p99; the admission webhook as a whole has seconds.
_LATENCY_BUCKETS = (
    0.0002, 0.0005, 0.001, 0.002, 0.003, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0,
)  # fmt: skip


@dataclass
class SidecarMetrics:
    registry: CollectorRegistry = field(
        default_factory=lambda: CollectorRegistry(auto_describe=True)
    )

    def __post_init__(self) -> None:
        r = self.registry
        self.decisions = Counter(
            "exportgate_sidecar_decisions",
            "Decisions answered, by action.",
            ["action"],
            registry=r,
        )
        self.evaluate_seconds = Histogram(
            "exportgate_sidecar_evaluate_seconds",
            "Time to answer one Evaluate call, including the decision-log write.",
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.batch_items = Histogram(
            "exportgate_sidecar_batch_items",
            "Items per Evaluate call.",
            buckets=(1, 2, 5, 10, 50, 100, 500, 1000),
            registry=r,
        )
        self.cache_hits = Counter(
            "exportgate_sidecar_cache_hits", "Decisions served from the cache.", registry=r
        )
        self.cache_misses = Counter(
            "exportgate_sidecar_cache_misses", "Decisions the engine had to make.", registry=r
        )
        self.decisions_reused = Counter(
            "exportgate_sidecar_decisions_reused",
            "Earlier decisions answered again for the same item (reuse_decision_id), with no new "
            "log record: the validating phase of an admission the mutating phase decided.",
            registry=r,
        )
        self.reuse_refused = Counter(
            "exportgate_sidecar_decision_reuse_refused",
            "Items naming a decision to reuse that were decided afresh instead (unknown id, "
            "another replica's id, different item, or policy/tenant changed).",
            registry=r,
        )
        self.log_failures = Counter(
            "exportgate_sidecar_decision_log_failures",
            "Evaluate calls refused because the decision log could not be written.",
            registry=r,
        )
        self.rejected = Counter(
            "exportgate_sidecar_rejected_calls",
            "Evaluate calls answered with an error, by gRPC status code.",
            ["code"],
            registry=r,
        )
        self.snapshot_generation = Gauge(
            "exportgate_sidecar_snapshot_generation",
            "Generation of the snapshot being served; increases on every tenant or policy change.",
            registry=r,
        )
        self.tenants = Gauge("exportgate_sidecar_tenants", "Tenants known.", registry=r)
        self.policies = Gauge("exportgate_sidecar_policies", "Policy documents loaded.", registry=r)
        self.source_errors = Gauge(
            "exportgate_sidecar_source_errors",
            "Inputs (files or custom resources) currently refused as malformed.",
            registry=r,
        )
        self.policy_info = Gauge(
            "exportgate_sidecar_policy_info",
            "The policy version being served (value is always 1).",
            ["policy_version"],
            registry=r,
        )
        self._served_version: str | None = None

    def observe_snapshot(self, generation: int, tenants: int, policies: int, version: str) -> None:
        self.snapshot_generation.set(generation)
        self.tenants.set(tenants)
        self.policies.set(policies)
        if version != self._served_version:
            if self._served_version is not None:
                self.policy_info.remove(self._served_version)
            self.policy_info.labels(policy_version=version).set(1)
            self._served_version = version
