"""Run `bench.loadgen` in its own process and read its JSON report."""

from __future__ import annotations

import json
import os
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
    warmup_requests: int = 0
    #: CPU seconds the measured server processes used during the whole drive (warm-up included)
    server_cpu_s: dict[str, float] = field(default_factory=dict)

    @property
    def cpu_ms_per_review(self) -> float:
        total = self.ok + self.failed + self.warmup_requests
        return sum(self.server_cpu_s.values()) * 1000 / total if total else float("nan")

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
            "server_cpu_ms_per_review": round(self.cpu_ms_per_review, 3),
            "cpu_split_ms": {
                name: round(cpu * 1000 / max(1, self.ok + self.failed + self.warmup_requests), 3)
                for name, cpu in self.server_cpu_s.items()
            },
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
    servers: dict[str, int] | None = None,
) -> LoadResult:
    """Run the load generator; `servers` (name -> pid) are the processes whose CPU time is
    read from /proc before and after, so cost per review is known whatever limits throughput."""
    argv = [
        sys.executable,
        "-m",
        "bench.loadgen",
        "--url",
        url,
        "--ca",
        str(ca),
        "--concurrency",
        str(concurrency),
        "--duration",
        str(duration),
        "--warmup",
        str(warmup),
        "--distinct",
        str(distinct),
        "--corpus-size",
        str(corpus_size),
        "--requests",
        str(requests),
        "--timeout",
        str(timeout),
    ]
    if guarded_only:
        argv.append("--guarded-only")
    if responses is not None:
        argv += ["--responses", str(responses)]
    if taskset:
        argv = ["taskset", "-c", taskset, *argv]
    before = {name: cpu_seconds(pid) for name, pid in (servers or {}).items()}
    done = subprocess.run(
        argv, capture_output=True, text=True, cwd=REPO, timeout=duration + warmup + 120
    )
    if done.returncode != 0:
        raise RuntimeError(f"load generator failed ({done.returncode}):\n{done.stderr[-3000:]}")
    after = {name: cpu_seconds(pid) for name, pid in (servers or {}).items()}
    raw = json.loads(done.stdout)
    return LoadResult(
        concurrency=raw["concurrency"],
        elapsed_s=raw["elapsed_s"],
        ok=raw["ok"],
        failures=raw["failures"],
        latency=summary(raw["latencies_ms"]),
        warmup_requests=raw.get("warmup_requests", 0),
        server_cpu_s={name: after[name] - before[name] for name in before},
    )


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (all its threads), from /proc/PID/stat."""
    text = Path(f"/proc/{pid}/stat").read_text()
    fields = text[text.rindex(")") + 2 :].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks
