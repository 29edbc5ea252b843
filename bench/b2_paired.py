"""B2's concurrency sweep in the paired design: every system switched on at once, each CREATE
sent to a namespace only one of them guards, the systems taken in a fresh random order in every
round of every client.

Why: this machine's speed moves by up to 2x within minutes (bench/NOTES.md). Interleaved
slices of 500 CREATEs still let one system's slice land in a slow minute and another's in a
fast one, and the p99s of two full runs on the same commit disagreed by more than the
difference being measured. Here consecutive CREATEs of one client go to different systems, so
every system meets the same machine, the same API server and etcd, and the same load from the
other clients, CREATE by CREATE: what differs between two systems' latencies is the systems.

What it cannot give per system is what they share: the API server's and etcd's CPU and the
throughput are figures of the whole point (the mix of all systems), reported once per point.
Each system's webhook processes are its own, so their CPU per CREATE still is per system.
"""

from __future__ import annotations

import contextlib
import random
import threading
import time
from collections.abc import Iterator, Sequence
from typing import Any

from bench.b2_measure import Samples, creator
from bench.load import cpu_seconds
from bench.peers import routing
from bench.peers.system import System
from tests.cluster.local_cluster import LocalCluster

#: The sweep measures one system of each kind: the one-phase floor, exportgate's default, its
#: other shapes and the peers.
SWEEP = (
    "none",
    "cel",
    "noop-validating",
    "exportgate",
    "exportgate-sidecar",
    "exportgate-http2",
    "gatekeeper",
    "kyverno",
)


@contextlib.contextmanager
def switched_on(cluster: LocalCluster, systems: Sequence[System]) -> Iterator[None]:
    """Every system of `systems` registered at once, each asked only about its own paired
    namespace (and every namespace that skips none, as before); each activation returns once
    the API server calls that system (its own probe namespace is refused)."""
    names = [s.name for s in systems]
    routing.create(cluster, names)
    live: list[System] = []
    try:
        for system in systems:
            system.activate(cluster, routing.probe_namespace(system.name))
            live.append(system)
        yield
    finally:
        for system in reversed(live):
            system.deactivate(cluster, routing.probe_namespace(system.name))


def point(
    cluster: LocalCluster,
    systems: Sequence[System],
    concurrency: int,
    creates: int,
    warmup: int,
    seed: int = 0,
) -> tuple[dict[str, Samples], dict[str, Any]]:
    """About `creates` CREATEs per system from `concurrency` client threads (own connection
    each), after `warmup` sequential ones per system. Each thread makes creates/concurrency
    rounds; a round sends one CREATE to each system's paired namespace, in an order drawn
    afresh (seeded: a rerun draws the same orders). Returns each system's samples (latencies,
    failures, its webhook processes' CPU) and the point's shared figures."""
    namespaces = {s.name: routing.paired_namespace(s.name) for s in systems}
    warm = creator(cluster)
    for namespace in namespaces.values():
        for i in range(warmup):
            warm(namespace, i)
    rounds = max(1, creates // concurrency)
    results: list[list[tuple[str, float | None]]] = [[] for _ in range(concurrency)]
    creators = [creator(cluster) for _ in range(concurrency)]
    start = threading.Barrier(concurrency + 1)

    def work(k: int) -> None:
        draw = random.Random(seed * 1_000_003 + concurrency * 1_009 + k)
        order = list(namespaces.items())
        start.wait()
        for i in range(rounds):
            draw.shuffle(order)
            for name, namespace in order:
                results[k].append((name, creators[k](namespace, i)))

    threads = [threading.Thread(target=work, args=(k,), daemon=True) for k in range(concurrency)]
    for t in threads:
        t.start()
    before = _cpu(systems, cluster)
    start.wait()
    began = time.perf_counter()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - began
    after = _cpu(systems, cluster)
    samples = {s.name: Samples() for s in systems}
    for outcomes in results:
        for name, latency in outcomes:
            got = samples[name]
            got.sent += 1
            if latency is None:
                got.failures += 1
            else:
                got.latencies_ms.append(latency)
    for system in systems:
        mine = f"{system.name}:"
        samples[system.name].add_cpu(
            {k: v for k, v in before.items() if k.startswith(mine)},
            {k: v for k, v in after.items() if k.startswith(mine)},
        )
    sent = sum(s.sent for s in samples.values())
    cluster_cpu = sum(after[f"cluster:{pid}"] - before[f"cluster:{pid}"] for pid in cluster.pids)
    shared = {
        "concurrency": concurrency,
        "systems": len(systems),
        "creates": sent,
        "elapsed_s": round(elapsed, 2),
        "creates_per_s": round(sent / elapsed, 1) if elapsed else 0.0,
        "apiserver_etcd_cpu_ms_per_create": round(cluster_cpu * 1000 / sent, 3) if sent else 0.0,
    }
    return samples, shared


def _cpu(systems: Sequence[System], cluster: LocalCluster) -> dict[str, float]:
    """CPU seconds so far of every system's webhook processes (`<system>:<process>`) and of
    the API server and etcd (`cluster:<pid>`)."""
    usage = {f"{s.name}:{proc}": cpu for s in systems for proc, cpu in s.cpu_s().items()}
    for pid in cluster.pids:
        usage[f"cluster:{pid}"] = cpu_seconds(pid)
    return usage
