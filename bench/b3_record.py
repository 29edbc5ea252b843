"""CPU per decision record, in-process: what the policy service pays to log one decision.

`python -m bench.b3_record [--records 400] [--rounds 9]` builds sidecar-shaped entries (a real
`Decision` from the engine over the bench mix, its workload and tenant record, and the extra
fields the service adds, exactly as `exportgate/service/evaluate.py` builds its `LogEntry`),
then writes them one at a time, as a lone review is written, through:

* ``sync``: `DecisionLog.record_many` (render, write, and the fsync on the caller's thread);
* ``journal1`` / ``journal8``: `DecisionJournal.write` from an asyncio loop, the service's own
  path (the fsync handed to the log's thread and awaited), by one caller at a time or by eight
  concurrent callers (which share group commits, as concurrent reviews do);
* ``service1`` / ``service8``: a whole question through `PolicyService.evaluate`, as the
  embedded webhook asks it (decide with the cache off, log fsynced, answer).

Each mode runs with fsync off and on. The figure is process CPU time (every thread, so the
fsync thread's hand-off counts too) per record, best and median of `rounds` repetitions,
rounds interleaved: on a shared, noisy machine CPU time moves far less than wall time, and the
best of several rounds is the least disturbed one. Parts of the record path (body, check,
render) are timed alone too, so a change can be traced to the step it moved.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.harness import EXAMPLE_TENANTS
from bench.workloads import example_tenants, extracted
from exportgate.core.engine import PolicyEngine
from exportgate.decisionlog import DecisionLog, LogEntry
from exportgate.decisionlog.canonical import canonical_line, check_values
from exportgate.decisionlog.record import decision_body
from exportgate.decisionlog.snapshots import keep_policy_snapshot
from exportgate.service.config import CacheConfig, SidecarConfig, SourceConfig
from exportgate.service.evaluate import PolicyService
from exportgate.service.host import PolicyHost
from exportgate.service.journal import DecisionJournal
from exportgate.wire.convert import item_to_question, workload_to_item
from exportgate.wire.question import Question


def entries(count: int) -> list[LogEntry]:
    """`count` distinct entries shaped like the policy service's (see `_log` there)."""
    engine = PolicyEngine.build()
    keep_policy_snapshot(engine)  # as the service's world assembly does for every engine
    tenants = example_tenants()
    at = datetime.now(UTC)
    built = []
    for i, (workload, tenant_name) in enumerate(extracted(count)):
        tenant = tenants.get(tenant_name)
        decision = engine.evaluate(workload, tenant, at, tenant_name=tenant_name or None)
        built.append(
            LogEntry(
                decision=decision,
                user="system:serviceaccount:team-a:deployer",
                request_uid=f"7d6c3a52-0000-4000-8000-{i:012d}",
                operation="CREATE",
                extra={
                    "policyVersion": engine.version,
                    "objectUid": f"0b5e8f2c-0000-4000-8000-{i:012d}",
                    "groups": ["system:serviceaccounts", "system:authenticated"],
                },
                workload=workload,
                tenant_record=tenant,
            )
        )
    return built


def _cpu_per_item(run: Callable[[], int]) -> float:
    began = time.process_time()
    done = run()
    return (time.process_time() - began) / done * 1e6


def _timed_sync(directory: Path, batch: list[LogEntry], fsync: bool) -> float:
    with DecisionLog(directory / f"s-{time.monotonic_ns()}.jsonl", fsync=fsync) as log:
        log.record_many(batch[:5])  # the snapshot files and the first-record work
        began = time.process_time()
        for entry in batch:
            log.record_many([entry])
        return (time.process_time() - began) / len(batch) * 1e6


def _timed_journal(directory: Path, batch: list[LogEntry], fsync: bool, callers: int) -> float:
    """`callers` coroutines writing one entry at a time each: 1 is a lone review, more are
    concurrent reviews sharing group commits."""

    async def caller(journal: DecisionJournal, mine: list[LogEntry]) -> None:
        for entry in mine:
            await journal.write([entry])

    async def main() -> float:
        journal = DecisionJournal.open(directory / f"j-{time.monotonic_ns()}.jsonl", fsync=fsync)
        try:
            await journal.write(batch[:5])
            began = time.process_time()
            await asyncio.gather(*(caller(journal, batch[i::callers]) for i in range(callers)))
            return (time.process_time() - began) / len(batch) * 1e6
        finally:
            await journal.close()

    return asyncio.run(main())


def _timed_service(directory: Path, count: int, callers: int) -> float:
    """CPU per question through `PolicyService.evaluate` as the embedded webhook asks it: one
    question per call, the decision cache and reuse off (every decision fresh, as in B3), the
    example tenants, a fsynced log; `callers` concurrent askers."""
    questions = [
        item_to_question(
            workload_to_item(
                workload,
                tenant=tenant,
                operation="CREATE",
                username="system:serviceaccount:team-a:deployer",
                request_uid=f"7d6c3a52-0000-4000-8000-{i:012d}",
            )
        )
        for i, (workload, tenant) in enumerate(extracted(count + 5))
    ]

    async def caller(service: PolicyService, mine: list[Question]) -> None:
        for question in mine:
            await service.evaluate([question])

    async def main() -> float:
        config = SidecarConfig(
            decision_log=directory / f"svc-{time.monotonic_ns()}.jsonl",
            source=SourceConfig(kind="files", tenant_paths=(EXAMPLE_TENANTS,)),
            cache=CacheConfig(max_entries=0),
            reuse_window=0,
        )
        host = PolicyHost(config)
        await host.start()
        try:
            await host.wait_ready(timeout=30)
            service = host.service
            assert service is not None
            await caller(service, questions[:5])
            rest = questions[5:]
            began = time.process_time()
            await asyncio.gather(*(caller(service, rest[i::callers]) for i in range(callers)))
            return (time.process_time() - began) / len(rest) * 1e6
        finally:
            await host.stop(grace=0)

    return asyncio.run(main())


def _parts(batch: list[LogEntry]) -> dict[str, float]:
    """The steps alone, per record, no file: body, value check, line render."""
    bodies = [decision_body(e) for e in batch]
    stamped = [
        {
            **b,
            "id": "0190f1e4-0000-7000-8000-000000000000",
            "time": "2026-11-30T12:00:00.000Z",
            "component": "exportgate-sidecar@bench/1",
            "type": "decision",
            "v": 1,
            "chain": "0190f1e4-0000-7000-8000-000000000001",
            "seq": 1,
            "prev": "sha256:" + "0" * 64,
        }
        for b in bodies
    ]

    def body() -> int:
        for e in batch:
            decision_body(e)
        return len(batch)

    def check() -> int:
        for r in stamped:
            check_values(r)
        return len(batch)

    def render() -> int:
        for r in stamped:
            canonical_line(r)
        return len(batch)

    return {
        "body": _cpu_per_item(body),
        "check": _cpu_per_item(check),
        "render": _cpu_per_item(render),
    }


def run(records: int, rounds: int, where: str | None = None) -> dict[str, Any]:
    batch = entries(records)
    samples: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory(prefix="b3-record-", dir=where) as tmp:
        directory = Path(tmp)
        for _ in range(rounds):
            for fsync in (False, True):
                tag = "fsync" if fsync else "nofsync"
                samples.setdefault(f"sync_{tag}", []).append(_timed_sync(directory, batch, fsync))
                for callers in (1, 8):
                    samples.setdefault(f"journal{callers}_{tag}", []).append(
                        _timed_journal(directory, batch, fsync, callers)
                    )
            for callers in (1, 8):
                samples.setdefault(f"service{callers}_fsync", []).append(
                    _timed_service(directory, records, callers)
                )
            for name, value in _parts(batch).items():
                samples.setdefault(f"part_{name}", []).append(value)
    return {
        name: {"best_us": round(min(v), 1), "median_us": round(statistics.median(v), 1)}
        for name, v in samples.items()
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--records", type=int, default=400)
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument(
        "--dir",
        help="where the logs go (default: the temp directory); /dev/shm makes fsync nearly "
        "free, which leaves the hand-off to the fsync thread measurable alone",
    )
    args = parser.parse_args()
    for name, figures in run(args.records, args.rounds, args.dir).items():
        print(
            f"{name:18} best {figures['best_us']:8.1f} us   median {figures['median_us']:8.1f} us"
        )


if __name__ == "__main__":
    main()
