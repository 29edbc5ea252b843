"""B1: exportgate's webhook over TLS against a no-op TLS webhook, same run.

The replayed mix (bench.reviews.MIX) goes to /validate. "cached" and "uncached" run the chart's
default shape, the policy service embedded in the webhook: "cached" with its decision cache and
a few variants of each object (a cluster re-creating the same pods), "uncached" with
--cache-size 0 and every object distinct, so every guarded review is evaluated afresh.
"uncached-sidecar" is "uncached" in the sidecar shape (webhook + sidecar over the Unix socket),
so the cost of that hop is measured in the same run. Every guarded decision is written to the
hash-chained decision log (fsync, group commit) in all of them.

All servers run at once and the measurements are interleaved (each target at each concurrency
in turn), so that other load on a shared machine spreads over all of them rather than landing
on one. Besides throughput and latency, the CPU time the server processes
used is read from /proc: CPU ms per review does not depend on whether the load generator or
the server saturated first, which on 2 cores is often the generator.
"""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.harness import REPO, SidecarOptions, Stack, wait_until
from bench.load import drive
from tests.cluster.certs import loopback_serving_cert
from tests.cluster.ports import free_port


@dataclass
class B1Config:
    concurrencies: tuple[int, ...]
    duration_s: float
    warmup_s: float
    rounds: int = 1
    """Each point is measured this many times (interleaved); the round with the highest
    throughput is kept, for the baseline and exportgate alike: on a shared machine the best
    round is the one least disturbed by other work."""


@dataclass
class _Target:
    name: str
    url: str
    ca: Path
    distinct: int
    pids: dict[str, int]


def _listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def _noop(workdir: Path) -> tuple[subprocess.Popen[bytes], _Target]:
    tls = loopback_serving_cert(workdir / "noop-tls", "noop")
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "bench.noop_webhook",
            "--port",
            str(port),
            "--cert",
            str(tls.cert_path),
            "--key",
            str(tls.key_path),
        ],
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wait_until(lambda: _listening(port), 30, "the no-op webhook")
    return proc, _Target("noop", f"https://127.0.0.1:{port}", tls.ca_path, 4, {"noop": proc.pid})


def _stack_target(name: str, stack: Stack, distinct: int) -> _Target:
    return _Target(name, stack.url, stack.tls.ca_path, distinct, stack.pids)


def run(workdir: Path, config: B1Config) -> dict[str, Any]:
    results: dict[str, Any] = {"config": config.__dict__}
    with contextlib.ExitStack() as cleanup:
        proc, noop = _noop(workdir)
        cleanup.callback(proc.wait, 10)
        cleanup.callback(proc.terminate)
        # The chart's default shape (the service embedded in the webhook), cached and not; and
        # the sidecar shape uncached, so the cost of the gRPC hop shows in the same run.
        cached = cleanup.enter_context(
            Stack(workdir / "cached", sidecar=SidecarOptions(cache_size=10_000), embedded=True)
        )
        uncached = cleanup.enter_context(
            Stack(workdir / "uncached", sidecar=SidecarOptions(cache_size=0), embedded=True)
        )
        sidecar = cleanup.enter_context(
            Stack(workdir / "uncached-sidecar", sidecar=SidecarOptions(cache_size=0))
        )
        targets = [
            noop,
            _stack_target("cached", cached, distinct=4),
            _stack_target("uncached", uncached, distinct=10**9),
            _stack_target("uncached-sidecar", sidecar, distinct=10**9),
        ]
        for target in targets:
            results[target.name] = []
        for concurrency in config.concurrencies:
            best: dict[str, dict[str, Any]] = {}
            for _ in range(config.rounds):
                for target in targets:
                    row = drive(
                        target.url + "/validate",
                        target.ca,
                        concurrency=concurrency,
                        duration=config.duration_s,
                        warmup=config.warmup_s,
                        distinct=target.distinct,
                        servers=target.pids,
                    ).row()
                    kept = best.get(target.name)
                    if kept is None or row["throughput_rps"] > kept["throughput_rps"]:
                        best[target.name] = row
            for target in targets:
                results[target.name].append(best[target.name])
    for mode in ("cached", "uncached", "uncached-sidecar"):
        for row, base in zip(results[mode], results["noop"], strict=True):
            row["vs_noop"] = round(row["throughput_rps"] / base["throughput_rps"], 3)
            row["cpu_vs_noop"] = round(
                row["server_cpu_ms_per_review"] / base["server_cpu_ms_per_review"], 2
            )
    return results
