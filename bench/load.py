"""Run `bench.loadgen` in its own process and read its JSON report."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.harness import REPO
from bench.stats import summary


@dataclass
class LoadResult:
    concurrency: int
    elapsed_s: float
    ok: int
    failures: dict[str, int]
    latency: dict[str, Any] = field(default_factory=dict)

    @property
    def throughput(self) -> float:
        return self.ok / self.elapsed_s if self.elapsed_s else 0.0

    @property
    def failed(self) -> int:
        return sum(self.failures.values())

    def row(self) -> dict[str, Any]:
        return {
            "concurrency": self.concurrency,
            "throughput_rps": round(self.throughput, 1),
            "p50_ms": round(self.latency["p50"], 2),
            "p99_ms": round(self.latency["p99"], 2),
            "p999_ms": round(self.latency["p999"], 2),
            "requests": self.ok + self.failed,
            "failures": self.failed,
        }


def drive(
    url: str,
    ca: Path,
    *,
    concurrency: int,
    duration: float,
    warmup: float = 1.0,
    distinct: int = 4,
    corpus_size: int = 2000,
    guarded_only: bool = False,
    requests: int = 0,
    responses: Path | None = None,
    timeout: float = 10.0,
    taskset: str | None = None,
) -> LoadResult:
    argv = [
        sys.executable, "-m", "bench.loadgen",
        "--url", url, "--ca", str(ca),
        "--concurrency", str(concurrency),
        "--duration", str(duration),
        "--warmup", str(warmup),
        "--distinct", str(distinct),
        "--corpus-size", str(corpus_size),
        "--requests", str(requests),
        "--timeout", str(timeout),
    ]  # fmt: skip
    if guarded_only:
        argv.append("--guarded-only")
    if responses is not None:
        argv += ["--responses", str(responses)]
    if taskset:
        argv = ["taskset", "-c", taskset, *argv]
    done = subprocess.run(  # noqa: S603 - our own module
        argv, capture_output=True, text=True, cwd=REPO, timeout=duration + warmup + 120
    )
    if done.returncode != 0:
        raise RuntimeError(f"load generator failed ({done.returncode}):\n{done.stderr[-3000:]}")
    raw = json.loads(done.stdout)
    return LoadResult(
        concurrency=raw["concurrency"],
        elapsed_s=raw["elapsed_s"],
        ok=raw["ok"],
        failures=raw["failures"],
        latency=summary(raw["latencies_ms"]),
    )
