"""B2's measurements: Pod CREATEs through the API server, one client at a time or from many
threads, with the CPU each system's webhook processes (and the API server + etcd) spend.

Each CREATE is a real write to etcd (the Pod stays Pending: there is no scheduler), by the admin
client; latency is measured around the client call. CPU is user + system time from
/proc/<pid>/stat before and after, divided by every CREATE sent in that time (warm-up included),
so it says what one admission costs the server whatever limited the client.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bench.load import cpu_seconds
from bench.peers.cases import ALLOWED_NS
from bench.peers.system import System
from bench.reviews import H100, gpu_pod
from bench.stats import percentile_interval, summary
from tests.cluster.local_cluster import LocalCluster


@dataclass
class Samples:
    """What one system accumulated over its slices."""

    latencies_ms: list[float] = field(default_factory=list)
    failures: int = 0
    sent: int = 0
    elapsed_s: float = 0.0
    cpu_s: dict[str, float] = field(default_factory=dict)

    def add_cpu(self, before: dict[str, float], after: dict[str, float]) -> None:
        for name, value in after.items():
            self.cpu_s[name] = self.cpu_s.get(name, 0.0) + value - before.get(name, value)

    def figures(self) -> dict[str, Any]:
        stats = summary(self.latencies_ms) if self.latencies_ms else {"p50": 0.0, "p99": 0.0}
        out: dict[str, Any] = {
            "creates": len(self.latencies_ms),
            "failures": self.failures,
            "p50_ms": round(stats["p50"], 2),
            "p99_ms": round(stats["p99"], 2),
        }
        if self.latencies_ms:
            # How far the p99 of this many samples can be from the true one (95%): the figure
            # single runs are compared on moves by several ms from run to run.
            low, high = percentile_interval(self.latencies_ms, 99)
            out["p99_ci_ms"] = [round(low, 2), round(high, 2)]
        if self.elapsed_s:
            out["throughput_cps"] = round(len(self.latencies_ms) / self.elapsed_s, 1)
        if self.sent:
            webhook = {k: v for k, v in self.cpu_s.items() if not k.startswith("cluster:")}
            cluster = {k: v for k, v in self.cpu_s.items() if k.startswith("cluster:")}
            if webhook:
                out["webhook_cpu_ms_per_create"] = round(
                    sum(webhook.values()) * 1000 / self.sent, 3
                )
            out["apiserver_etcd_cpu_ms_per_create"] = round(
                sum(cluster.values()) * 1000 / self.sent, 3
            )
        return out


def _pod(i: int) -> dict[str, Any]:
    # B2's Pod: an H100 Pod in the allowed tenant's namespace, admitted by every system.
    pod = gpu_pod(ALLOWED_NS, i, H100, 1)
    pod["metadata"]["name"] = f"bench-{uuid.uuid4().hex[:10]}"
    return pod


def _creator(cluster: LocalCluster) -> Callable[[int], float | None]:
    """A function creating one Pod and returning its latency in ms (None when refused)."""
    from kubernetes import client

    core = client.CoreV1Api(cluster.api_client())

    def create(i: int) -> float | None:
        pod = _pod(i)
        began = time.perf_counter()
        try:
            core.create_namespaced_pod(ALLOWED_NS, pod)  # type: ignore[arg-type]  # a dict is accepted
        except client.ApiException:
            return None
        return (time.perf_counter() - began) * 1000

    return create


def _cpu(system: System, cluster: LocalCluster) -> dict[str, float]:
    usage = system.cpu_s()
    for pid in cluster.pids:
        usage[f"cluster:{pid}"] = cpu_seconds(pid)
    return usage


def sequential_slice(
    cluster: LocalCluster, system: System, samples: Samples, count: int, warmup: int
) -> None:
    """`warmup` + `count` CREATEs one after another; only the last `count` are kept."""
    create = _creator(cluster)
    before = _cpu(system, cluster)
    for i in range(count + warmup):
        latency = create(i)
        samples.sent += 1
        if latency is None:
            samples.failures += 1
        elif i >= warmup:
            samples.latencies_ms.append(latency)
    samples.add_cpu(before, _cpu(system, cluster))


def concurrent_slice(
    cluster: LocalCluster,
    system: System,
    concurrency: int,
    total: int,
    warmup: int,
    samples: Samples,
) -> None:
    """`total` CREATEs from `concurrency` threads (each with its own client and connection)
    after `warmup` sequential ones, added to `samples` (latencies, elapsed time, CPU)."""
    warm = _creator(cluster)
    for i in range(warmup):
        warm(i)
    creators = [_creator(cluster) for _ in range(concurrency)]
    per_thread = max(1, total // concurrency)
    results: list[list[float | None]] = [[] for _ in range(concurrency)]
    start = threading.Barrier(concurrency + 1)

    def work(k: int) -> None:
        start.wait()
        for i in range(per_thread):
            results[k].append(creators[k](i))

    threads = [threading.Thread(target=work, args=(k,), daemon=True) for k in range(concurrency)]
    for t in threads:
        t.start()
    before = _cpu(system, cluster)
    start.wait()
    began = time.perf_counter()
    for t in threads:
        t.join()
    samples.elapsed_s += time.perf_counter() - began
    samples.add_cpu(before, _cpu(system, cluster))
    for latencies in results:
        samples.sent += len(latencies)
        samples.failures += sum(1 for x in latencies if x is None)
        samples.latencies_ms += [x for x in latencies if x is not None]
