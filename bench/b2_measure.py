"""B2's measurements: Pod CREATEs through the API server (a slice of one client's CREATEs for the
table; the paired sweep's threads use `creator` too, bench/b2_paired.py), with the CPU each
system's webhook processes (and the API server + etcd) spend.

Each CREATE is a real write to etcd (the Pod stays Pending: there is no scheduler), by the admin
client; latency is measured around the client call. CPU is user + system time from
/proc/<pid>/stat before and after, divided by every CREATE sent in that time (warm-up included),
so it says what one admission costs the server whatever limited the client.
"""

from __future__ import annotations

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
            if cluster:  # the paired design reports it per point, for all systems at once
                out["apiserver_etcd_cpu_ms_per_create"] = round(
                    sum(cluster.values()) * 1000 / self.sent, 3
                )
        return out


def _pod(i: int, namespace: str) -> dict[str, Any]:
    # B2's Pod: an H100 Pod in a namespace of the allowed tenant, admitted by every system.
    pod = gpu_pod(namespace, i, H100, 1)
    pod["metadata"]["name"] = f"bench-{uuid.uuid4().hex[:10]}"
    return pod


def creator(cluster: LocalCluster) -> Callable[[str, int], float | None]:
    """A function creating one of B2's Pods in a namespace (with a client and connection of its
    own) and returning its latency in ms (None when refused)."""
    from kubernetes import client

    core = client.CoreV1Api(cluster.api_client())

    def create(namespace: str, i: int) -> float | None:
        pod = _pod(i, namespace)
        began = time.perf_counter()
        try:
            core.create_namespaced_pod(namespace, pod)  # type: ignore[arg-type]  # a dict is accepted
        except client.ApiException:
            return None
        return (time.perf_counter() - began) * 1000

    return create


def _in_allowed(cluster: LocalCluster) -> Callable[[int], float | None]:
    create = creator(cluster)
    return lambda i: create(ALLOWED_NS, i)


def _cpu(system: System, cluster: LocalCluster) -> dict[str, float]:
    usage = system.cpu_s()
    for pid in cluster.pids:
        usage[f"cluster:{pid}"] = cpu_seconds(pid)
    return usage


def sequential_slice(
    cluster: LocalCluster, system: System, samples: Samples, count: int, warmup: int
) -> None:
    """`warmup` + `count` CREATEs one after another; only the last `count` are kept."""
    create = _in_allowed(cluster)
    before = _cpu(system, cluster)
    for i in range(count + warmup):
        latency = create(i)
        samples.sent += 1
        if latency is None:
            samples.failures += 1
        elif i >= warmup:
            samples.latencies_ms.append(latency)
    samples.add_cpu(before, _cpu(system, cluster))
