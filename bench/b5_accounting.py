"""B5: compute accounting, one pass over N running accelerator Pods (default 10,000).

    python -m bench.b5_accounting [--pods 10000] [--pods-per-run 8] [--write]

Measures the operator's own work in a pass (`Accountant.decide` and building every run's
status) over Pods as the API server lists them: extraction of each Pod's accelerators (first
pass: uncached; later passes: cached by uid), product from the node's labels, owner climb
(first pass: one GET per Job, answered in-process here; later: cached), the window
arithmetic and the records. Not included: the LIST of Pods and the status writes over HTTP,
which cost what any client pays the API server (see B2 for its throughput). Memory is the
tracemalloc peak of the pass, and the retained size of the accountant's caches after it.

`--write` replaces the "B5" section of bench/RESULTS.md (between its markers) and leaves the
rest alone; `python -m bench` regenerates the file without it, so run this again after.
"""

from __future__ import annotations

import argparse
import gc
import re
import time
import tracemalloc
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from exportgate_operator.accounting.accountant import Accountant, PassOutcome
from exportgate_operator.world import World

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"
BEGIN, END = "<!-- b5-accounting:begin -->", "<!-- b5-accounting:end -->"
T0 = datetime(2026, 11, 30, tzinfo=UTC)
PRODUCTS = ("NVIDIA-H100-80GB-HBM3", "NVIDIA-A100-SXM4-80GB", "Tesla-T4")


class OwnerAnswers:
    """Answers the owner GETs of the first pass from memory: a Job controlled by nothing."""

    def __init__(self) -> None:
        self.gets = 0

    def request(self, method: str, path: str, **_: Any) -> dict[str, Any]:
        self.gets += 1
        if path == "/apis/batch/v1":
            return {"resources": [{"name": "jobs", "kind": "Job", "namespaced": True}]}
        name = path.rsplit("/", 1)[-1]
        return {"metadata": {"name": name, "uid": f"uid-{name}"}}


def pods(count: int, per_run: int) -> list[dict[str, Any]]:
    found = []
    for i in range(count):
        job = f"train-{i // per_run}"
        found.append({
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": f"{job}-{i % per_run}", "namespace": f"tenant-{i % 50}",
                "uid": f"pod-{i}",
                "ownerReferences": [{"apiVersion": "batch/v1", "kind": "Job", "name": job,
                                     "uid": f"uid-{job}", "controller": True}],
            },
            "spec": {
                "nodeName": f"node-{i // 8}",
                "containers": [{"name": "train", "image": "registry.example/train:1",
                                "resources": {"limits": {"nvidia.com/gpu": "8", "cpu": "90"}}}],
            },
            "status": {"phase": "Running", "startTime": (T0 - timedelta(hours=i % 48))
                       .strftime("%Y-%m-%dT%H:%M:%SZ")},
        })
    return found


def one_pass(accountant: Accountant, listed: list[dict[str, Any]], nodes: dict[str, Any],
             now: datetime, *, memory: bool = False) -> tuple[float, float, int, PassOutcome]:
    """(wall seconds, CPU seconds, tracemalloc peak bytes or 0, outcome) of one pass."""
    gc.collect()
    if memory:
        tracemalloc.start()
    started, cpu = time.perf_counter(), time.process_time()
    facts = [f for f in (accountant._facts(p) for p in listed) if f is not None]
    outcome = PassOutcome(now)
    changed = accountant.decide(facts, nodes, {}, now, outcome)
    bodies = [r.body(1.0) for r in changed]
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    peak = 0
    if memory:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    assert len(bodies) == outcome.runs
    return elapsed, cpu, peak, outcome


def fresh(answers: OwnerAnswers) -> Accountant:
    accountant = Accountant(answers, World())  # type: ignore[arg-type]
    accountant.records = {}
    assert accountant.world.engine is not None  # build the engine outside the measurement
    return accountant


def measure(count: int, per_run: int) -> dict[str, Any]:
    listed = pods(count, per_run)
    nodes = {f"node-{n}": {"nvidia.com/gpu.product": PRODUCTS[n % 3]}
             for n in range(count // 8 + 1)}
    answers = OwnerAnswers()
    timed = fresh(answers)
    first, first_cpu, _, outcome = one_pass(timed, listed, nodes, T0)
    gets = answers.gets
    later, later_cpu, _, _ = one_pass(timed, listed, nodes, T0 + timedelta(minutes=1))
    # Memory in separate passes: tracemalloc slows what it watches.
    traced = fresh(OwnerAnswers())
    _, _, first_peak, _ = one_pass(traced, listed, nodes, T0, memory=True)
    _, _, later_peak, _ = one_pass(traced, listed, nodes, T0 + timedelta(minutes=1), memory=True)
    return {
        "pods": count, "runs": outcome.runs, "ownerGets": gets,
        "firstPassSeconds": round(first, 3), "firstPassCpuSeconds": round(first_cpu, 3),
        "firstPassPeakMiB": round(first_peak / 2**20, 1),
        "passSeconds": round(later, 3), "passCpuSeconds": round(later_cpu, 3),
        "passPeakMiB": round(later_peak / 2**20, 1),
    }


def section(result: dict[str, Any]) -> str:
    return "\n".join([
        BEGIN,
        "## B5 compute accounting: one pass over running accelerator Pods",
        "",
        "`python -m bench.b5_accounting --write` (operator CPU and memory of a pass over Pods "
        "already listed; the LIST and status writes are API-server I/O, not included).",
        "",
        "| Pods | runs | first pass (uncached extraction, owner climb) | peak memory | "
        "later pass (cached) | peak memory |",
        "|---:|---:|---:|---:|---:|---:|",
        f"| {result['pods']:,} | {result['runs']:,} | {result['firstPassSeconds']} s wall, "
        f"{result['firstPassCpuSeconds']} s CPU ({result['ownerGets']} owner GETs) | "
        f"{result['firstPassPeakMiB']} MiB | {result['passSeconds']} s wall, "
        f"{result['passCpuSeconds']} s CPU | {result['passPeakMiB']} MiB |",
        END,
    ]) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--pods", type=int, default=10_000)
    parser.add_argument("--pods-per-run", type=int, default=8)
    parser.add_argument("--write", action="store_true", help="update bench/RESULTS.md")
    args = parser.parse_args()
    result = measure(args.pods, args.pods_per_run)
    print(result)
    if args.write:
        text = RESULTS.read_text()
        block = section(result)
        if BEGIN in text:
            text = re.sub(re.escape(BEGIN) + ".*?" + re.escape(END) + "\n?", block, text,
                          flags=re.S)
        else:
            text = text.rstrip("\n") + "\n\n" + block
        RESULTS.write_text(text)


if __name__ == "__main__":
    main()
