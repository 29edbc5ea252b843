"""B1: exportgate's webhook + sidecar over TLS against a no-op TLS webhook, same run.

The replayed mix (bench.reviews.MIX) goes to /validate. "cached" runs the sidecar with its
decision cache and a few variants of each object (a cluster re-creating the same pods);
"uncached" runs it with --cache-size 0, so every guarded review is evaluated afresh. Every
guarded decision is written to the hash-chained decision log (fsync, group commit) in both.
"""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.harness import REPO, SidecarOptions, Stack, free_port, wait_until
from bench.load import LoadResult, drive
from tests.cluster.certs import loopback_serving_cert


@dataclass
class B1Config:
    concurrencies: tuple[int, ...]
    duration_s: float
    warmup_s: float


def _noop(workdir: Path) -> tuple[subprocess.Popen[bytes], str, Path]:
    tls = loopback_serving_cert(workdir / "noop-tls", "noop")
    port = free_port()
    proc = subprocess.Popen(  # noqa: S603 - our own module
        [sys.executable, "-m", "bench.noop_webhook", "--port", str(port),
         "--cert", str(tls.cert_path), "--key", str(tls.key_path)],
        cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    import socket

    def listening() -> bool:
        with socket.socket() as s:
            return s.connect_ex(("127.0.0.1", port)) == 0

    wait_until(listening, 30, "the no-op webhook")
    return proc, f"https://127.0.0.1:{port}", tls.ca_path


def _sweep(url: str, ca: Path, config: B1Config, distinct: int) -> list[LoadResult]:
    return [
        drive(
            url + "/validate",
            ca,
            concurrency=c,
            duration=config.duration_s,
            warmup=config.warmup_s,
            distinct=distinct,
        )
        for c in config.concurrencies
    ]


def run(workdir: Path, config: B1Config) -> dict[str, Any]:
    results: dict[str, Any] = {"config": config.__dict__}
    proc, url, ca = _noop(workdir)
    try:
        results["noop"] = [r.row() for r in _sweep(url, ca, config, distinct=4)]
    finally:
        proc.terminate()
        proc.wait(10)
    for mode, cache_size, distinct in (("cached", 10_000, 4), ("uncached", 0, 10**9)):
        with Stack(workdir / mode, sidecar=SidecarOptions(cache_size=cache_size)) as stack:
            rows = [r.row() for r in _sweep(stack.url, stack.tls.ca_path, config, distinct)]
        for row, base in zip(rows, results["noop"], strict=True):
            row["vs_noop"] = round(row["throughput_rps"] / base["throughput_rps"], 3)
        results[mode] = rows
    return results
