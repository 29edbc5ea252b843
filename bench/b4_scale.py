"""B4: re-audit-style evaluation of many objects, and memory at scale.

Re-audit: every object is extracted and evaluated once, as a background re-audit does after a
policy or tenant change (no cache can help: each object is distinct). Through the core
in-process; through the operator's re-audit function when the operator provides one.

Memory: the sidecar loads 10k tenants and 1k policies (bench.synthetic) from files, the webhook
serves a few seconds of the review mix with many distinct objects (so the decision cache
fills), then the resident set size (VmRSS) and its peak (VmHWM) of both processes are read
from /proc.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import synthetic
from bench.harness import SidecarOptions, Stack, WebhookOptions
from bench.load import drive
from bench.workloads import example_tenants, objects, tenant_of
from exportgate.core.engine import PolicyEngine
from exportgate.core.extract import AdapterRegistry


def reaudit_core(count: int) -> dict[str, Any]:
    engine = PolicyEngine.build()
    tenants = example_tenants()
    registry = AdapterRegistry.builtin()
    at = datetime.now(UTC)
    objs = list(objects(count))  # built before the clock starts: a re-audit lists them first
    actions: dict[str, int] = {}
    began = time.perf_counter()
    for obj in objs:
        decision = engine.evaluate(registry.extract(obj), tenants.get(tenant_of(obj)), at)
        actions[decision.action.value] = actions.get(decision.action.value, 0) + 1
    elapsed = time.perf_counter() - began
    return {
        "objects": count,
        "seconds": round(elapsed, 2),
        "per_s": round(count / elapsed),
        "actions": actions,
        "extrapolated_100k_s": round(elapsed / count * 100_000, 1),
    }


def reaudit_operator(count: int, directory: Path) -> dict[str, Any] | None:
    """The operator's own decision step of a re-audit: its `World` (tenants as the operator
    holds them, the snapshot the shared world module makes of them) and `decide.decide`, which
    extracts, evaluates and writes every verdict to a real, fsynced decision log in one batch.

    What is left out is the API server: listing the objects (collect) and patching annotations
    (publish), which depend on the cluster, not on exportgate (None: the operator is not
    importable here).
    """
    import asyncio

    import yaml

    try:
        from exportgate_operator.collect import Collected
        from exportgate_operator.decide import decide
        from exportgate_operator.decisions import DecisionRecorder
        from exportgate_operator.world import World
    except ImportError:
        return None
    from bench.harness import EXAMPLE_TENANTS

    world = World()
    for doc in yaml.safe_load_all(EXAMPLE_TENANTS.read_text()):
        if doc:
            world.set_tenant(doc)
    registry = AdapterRegistry.builtin()
    collected = Collected(objects=[(obj, tenant_of(obj)) for obj in objects(count)])
    directory.mkdir(parents=True, exist_ok=True)
    recorder = DecisionRecorder(str(directory / "operator-audit.log"))
    logging_s = 0.0
    record = recorder.record

    async def timed_record(*args: Any, **kwargs: Any) -> list[str]:
        nonlocal logging_s
        started = time.perf_counter()
        try:
            return await record(*args, **kwargs)
        finally:
            logging_s += time.perf_counter() - started

    recorder.record = timed_record  # type: ignore[method-assign]
    outcomes: list[Any] = []

    async def audit() -> None:
        # The outcome is kept out of the task's result: asyncio.run restores the SIGINT handler
        # at exit, and Python's signal module then formats a ValueError holding repr(task),
        # which includes a finished task's result: 100k audited items cost 15 s to repr.
        outcomes.append(
            await decide(
                collected,
                world.snapshot,
                registry,
                recorder,
                tenants=world.tenant_names(),
                at=datetime.now(UTC),
                reason="bench",
            )
        )

    began = time.perf_counter()
    asyncio.run(audit())
    outcome = outcomes[0]
    elapsed = time.perf_counter() - began
    recorder.close()
    return {
        "objects": count,
        "seconds": round(elapsed, 2),
        "per_s": round(count / elapsed),
        "evaluate_s": round(elapsed - logging_s, 2),
        "decision_log_s": round(logging_s, 2),
        "records": len(outcome.items),
        "extrapolated_100k_s": round(elapsed / count * 100_000, 1),
    }


def _rss(pid: int) -> dict[str, float]:
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            fields[key] = round(int(value.split()[0]) / 1024, 1)  # kB -> MiB
    return fields


def memory(workdir: Path, *, tenants: int, policies: int, load_s: float) -> dict[str, Any]:
    """Peak memory of the chart's default shape (the service embedded in the webhook: one
    process), and of the sidecar shape (webhook + sidecar) under the same load as
    ``sidecar_shape``."""
    tenant_file, policy_file = synthetic.write(workdir / "inputs", tenants, policies)
    result = _memory(workdir / "embedded", tenant_file, policy_file, load_s, embedded=True)
    result["sidecar_shape"] = _memory(
        workdir / "sidecar", tenant_file, policy_file, load_s, embedded=False
    )
    return {"tenants": tenants, "policies": policies, **result}


def _memory(
    workdir: Path, tenant_file: Path, policy_file: Path, load_s: float, *, embedded: bool
) -> dict[str, Any]:
    # Bind the replayed namespaces to synthetic tenants so lookups hit the big table.
    namespaces = {
        "acme-ml": "tenant-00001",
        "nimbus-ml": "tenant-00042",
        "orbit-ml": "tenant-09999",
    }
    began = time.perf_counter()
    stack = Stack(
        workdir / "stack",
        sidecar=SidecarOptions(tenants=(tenant_file,), policies=(policy_file,)),
        webhook=WebhookOptions(namespace_tenants=namespaces),
        embedded=embedded,
    )
    with stack:
        ready_s = time.perf_counter() - began
        idle = {name: _rss(pid) for name, pid in stack.pids.items()}
        load = drive(
            stack.url + "/validate",
            stack.tls.ca_path,
            concurrency=16,
            duration=load_s,
            warmup=0.5,
            distinct=10**9,
            corpus_size=20_000,
            guarded_only=True,
        )
        loaded = {name: _rss(pid) for name, pid in stack.pids.items()}
    total = sum(readings["VmHWM"] for readings in loaded.values())
    return {
        "shape": "embedded" if embedded else "sidecar",
        "startup_to_ready_s": round(ready_s, 1),
        "idle_mib": idle,
        "after_load_mib": loaded,
        "load_requests": load.ok + load.failed,
        "load_failures": load.failed,
        "peak_total_mib": round(total, 1),
    }


def run(
    workdir: Path, *, reaudit_objects: int, tenants: int, policies: int, load_s: float
) -> dict[str, Any]:
    return {
        "reaudit_core": reaudit_core(reaudit_objects),
        "reaudit_operator": reaudit_operator(reaudit_objects, workdir / "b4-operator"),
        "memory": memory(workdir / "b4", tenants=tenants, policies=policies, load_s=load_s),
    }
