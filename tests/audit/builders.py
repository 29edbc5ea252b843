"""Real decision logs for audit tests: real engine decisions, written by the real writer.

`write_log` decides a rotating mix of workloads for a mix of tenants with the built-in packs
(the engine the sidecar would build) and records each with its inputs and tenant record, as
the sidecar does, so the logs can be reported on and replayed.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from exportgate.core.engine import PolicyEngine
from exportgate.core.types import Tenant, Workload
from exportgate.decisionlog import DecisionLog, LogEntry
from exportgate.decisionlog.snapshots import keep_policy_snapshot
from tests.core.builders import NOW, make_tenant, model, pinned, workload

H100 = "NVIDIA-H100-80GB-HBM3"
L4 = "NVIDIA-L4"

TENANTS: dict[str, Tenant] = {
    "acme": make_tenant("acme", incorporation="SG"),
    "dragon": make_tenant("dragon", incorporation="CN"),
    "lapsed": make_tenant("lapsed", incorporation="SG", expires_at="2026-03-01T00:00:00Z"),
    "berlin": make_tenant("berlin", incorporation="DE"),
}

WORKLOADS: list[Workload] = [
    workload(pinned(H100), name="train"),
    workload(pinned(L4), name="infer"),
    model("claude-sonnet-4"),
    workload(pinned(H100), models=["gpt-4o"], name="agent"),
]


class StepClock:
    """A clock that moves on by `step` each time it is read: a log spread over time."""

    def __init__(self, start: datetime = NOW, step: timedelta = timedelta(minutes=7)) -> None:
        self.now = start
        self.step = step

    def __call__(self) -> datetime:
        self.now += self.step
        return self.now


def entries(engine: PolicyEngine, count: int, clock: StepClock) -> Iterator[LogEntry]:
    names = list(TENANTS)
    for i in range(count):
        tenant = TENANTS[names[i % len(names)]]
        work = WORKLOADS[(i // len(names)) % len(WORKLOADS)]
        decision = engine.evaluate(work, tenant, clock.now)
        yield LogEntry(
            decision,
            user=f"user-{tenant.name}",
            operation="CREATE",
            extra={"policyVersion": engine.version},
            workload=work,
            tenant_record=tenant,
        )


def write_log(
    path: Path,
    count: int,
    *,
    clock: StepClock | None = None,
    cluster: str = "eu-1",
    component: str = "sidecar@replica-0",
    max_bytes: int | None = None,
    engine: PolicyEngine | None = None,
) -> list[dict[str, Any]]:
    """`count` decisions in `path` (rotating when `max_bytes` is given); returns the records."""
    clock = clock or StepClock()
    engine = engine or PolicyEngine.build()
    keep_policy_snapshot(engine)
    path.parent.mkdir(parents=True, exist_ok=True)
    records: list[dict[str, Any]] = []
    with DecisionLog(
        path, fsync=False, clock=clock, component=component, cluster=cluster, max_bytes=max_bytes
    ) as log:
        for entry in entries(engine, count, clock):
            records.extend(log.record_many([entry]))
    return records
