"""B2: Pod CREATE latency through a real kube-apiserver (tests/cluster LocalCluster), for
exportgate, its baselines and the policy engines a platform engineer would run instead.

Systems (bench/b2_systems.py, bench/peers/), all against the same API server and etcd:

* none: no admission webhook or policy for Pods;
* cel: a ValidatingAdmissionPolicy doing a comparable check in-process;
* noop-validating / noop-webhook: the no-op TLS webhook of B1, one phase / two phases;
* exportgate: exportgate's validating webhook as the chart installs it by default, the policy
  service embedded in the webhook process; exportgate-stamp: plus the opt-in mutating stamp;
  exportgate-sidecar: the sidecar shape (webhook + policy sidecar over a Unix socket);
  exportgate-http2: the default with the opt-in HTTP/2, so the run shows what it gains or costs;
* gatekeeper / kyverno: OPA Gatekeeper and Kyverno built from their Go modules
  (`make bench-peers`), run out of cluster, enforcing the same rule. Each is first checked
  to decide every case of bench/peers/cases.py as exportgate does; one that does not is not
  reported (the reason is).

Interleaved: every process runs for the whole step; each round switches one system on (and
waits until the API server calls it), measures a slice, switches it off (and waits until the
API server no longer does), then the next, in an order rotated each round, so that other load
on a shared machine lands on all alike. Then the concurrency sweep at 1, 8 and 32 client
threads, for one system of each kind, in the paired design (bench/b2_paired.py): all of them on
at once, each guarding a namespace of its own, every client's CREATEs rotated among them, so
that the comparisons issue 16 asks for see the same machine CREATE by CREATE.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench import b2_compare as compare
from bench import b2_paired, b2_systems
from bench.b2_measure import Samples, sequential_slice
from bench.b2_paired import SWEEP
from bench.peers import build as peer_build
from bench.peers import cases, equivalence, gatekeeper, kyverno
from bench.peers.cases import ALLOWED_NS
from bench.peers.system import System
from tests.cluster import build
from tests.cluster.local_cluster import LocalCluster

ALL = (
    "none",
    "cel",
    "noop-validating",
    "noop-webhook",
    "exportgate",
    "exportgate-stamp",
    "exportgate-sidecar",
    "exportgate-http2",
    "gatekeeper",
    "gatekeeper-extdata",
    "kyverno",
    "kyverno-apicall",
)
#: Each peer's runner yields its systems: the plain policy first, then any variant that asks a
#: service as exportgate's webhook asks its sidecar.
PEERS = {"gatekeeper": gatekeeper.running, "kyverno": kyverno.running}
VARIANTS = {"gatekeeper-extdata": "gatekeeper", "kyverno-apicall": "kyverno"}
PEERS_NOT_BUILT = "peers not built: run make bench-peers"


def available() -> bool:
    return not build.missing_binaries(("etcd", "kube-apiserver", "kubectl"))


def _rotated(systems: Sequence[System], k: int) -> list[System]:
    """Round k's order: shifted by k, reversed every other round, so no system is always
    measured right after the same one."""
    order = list(systems[k % len(systems) :]) + list(systems[: k % len(systems)])
    return order if k % 2 == 0 else order[::-1]


def _measure(
    cluster: LocalCluster, systems: Sequence[System], creates: int, warmup: int, rounds: int
) -> dict[str, Samples]:
    samples = {s.name: Samples() for s in systems}
    per_slice = max(1, creates // rounds)
    for k in range(rounds):
        for system in _rotated(systems, k):
            system.activate(cluster)
            sequential_slice(cluster, system, samples[system.name], per_slice, warmup)
            system.deactivate(cluster)
    return samples


def _sweep(
    cluster: LocalCluster,
    systems: Sequence[System],
    concurrencies: Sequence[int],
    creates: int,
    warmup: int,
) -> tuple[dict[str, list[dict[str, Any]]], dict[str, dict[str, Any]], dict[str, dict[str, Any]]]:
    """The paired design (bench/b2_paired.py): every system on at once, CREATEs rotated among
    them, at each concurrency. Returns each system's row per point; per point, exportgate's p99
    against the best peer's (`compare.p99_vs_best_peer`); and per point the figures the systems
    share (throughput, API server + etcd CPU) with exportgate's p99 over none's, keyed by
    concurrency."""
    rows: dict[str, list[dict[str, Any]]] = {s.name: [] for s in systems}
    versus: dict[str, dict[str, Any]] = {}
    shared: dict[str, dict[str, Any]] = {}
    with b2_paired.switched_on(cluster, systems):
        for seed, concurrency in enumerate(concurrencies):
            samples, point = b2_paired.point(cluster, systems, concurrency, creates, warmup, seed)
            for system in systems:
                row = {"concurrency": concurrency, **samples[system.name].figures()}
                rows[system.name].append(row)
            against = compare.p99_vs_best_peer(samples)
            if against is not None:
                versus[str(concurrency)] = against
            ours, none = samples.get("exportgate"), samples.get("none")
            if ours and none and ours.latencies_ms and none.latencies_ms:
                p99_ours, p99_none = (rows[n][-1]["p99_ms"] for n in ("exportgate", "none"))
                point["exportgate_p99_vs_none"] = round(p99_ours / p99_none, 2)
                point["exportgate_p99_vs_none_ci"] = compare.p99_ratio_interval(ours, none)
            shared[str(concurrency)] = point
    return rows, versus, shared


def _ratios(results: dict[str, dict[str, Any]]) -> None:
    base = results.get("none")
    if not base or not base.get("p99_ms"):
        return
    for name, figures in results.items():
        if name != "none" and figures.get("p99_ms"):
            figures["p99_vs_none"] = round(figures["p99_ms"] / base["p99_ms"], 2)
            figures["p50_vs_none"] = round(figures["p50_ms"] / base["p50_ms"], 2)


def run(
    workdir: Path,
    *,
    creates: int,
    warmup: int = 20,
    rounds: int = 4,
    concurrencies: Sequence[int] = (1, 8, 32),
    sweep_creates: int | None = None,
    only: Sequence[str] = ALL,
) -> dict[str, Any]:
    """Measure `only` (those of ALL that can run); `concurrencies` empty skips the sweep."""
    if not available():
        return {"skipped": "Kubernetes binaries not built (python -m tests.cluster build)"}
    wanted = [name for name in ALL if name in only]
    missing_peers = [p for p in peer_build.missing() if p in wanted]
    missing_peers += [v for v, p in VARIANTS.items() if p in missing_peers and v in wanted]
    results: dict[str, Any] = {}
    notes: dict[str, str] = {p: PEERS_NOT_BUILT for p in missing_peers}
    if missing_peers:
        print(f"[b2] {', '.join(missing_peers)}: {PEERS_NOT_BUILT}", file=sys.stderr, flush=True)
    with contextlib.ExitStack() as stack:
        cluster = stack.enter_context(
            LocalCluster(workdir / "cluster", build.find_binaries(), etcd_in_memory=True)
        )
        cases.create_namespaces(cluster)
        eg, eg_stamp, eg_sidecar, eg_http2 = stack.enter_context(
            b2_systems.exportgate(workdir, paired=SWEEP)
        )
        noop_v, noop_2 = stack.enter_context(b2_systems.noop(workdir))
        base = (
            b2_systems.none(),
            b2_systems.cel(),
            *(noop_v, noop_2),
            *(eg, eg_stamp, eg_sidecar, eg_http2),
        )
        systems = {s.name: s for s in base}
        peers: list[System] = []
        for name, start in PEERS.items():
            mine = [name] + [v for v, p in VARIANTS.items() if p == name]
            if any(n in wanted for n in mine) and name not in missing_peers:
                try:
                    started = stack.enter_context(start(cluster, workdir / name))
                except Exception as exc:  # a peer that cannot start must not cost B2 the rest
                    for n in mine:
                        notes[n] = f"did not start: {str(exc).splitlines()[0][:300]}"
                    print(f"[b2] {name} did not start: {exc}", file=sys.stderr, flush=True)
                    continue
                peers += [s for s in started if s.name in wanted]
        if peers:
            report = equivalence.check(cluster, eg, peers)
            results["equivalence"] = report
            for peer in peers:
                if report[peer.name]["equivalent"]:
                    systems[peer.name] = peer
                else:
                    notes[peer.name] = equivalence.why_not(report[peer.name])
        chosen = [systems[name] for name in wanted if name in systems]
        measured = _measure(cluster, chosen, creates, warmup, rounds)
        rows = {name: samples.figures() for name, samples in measured.items()}
        _ratios(rows)
        if "exportgate" in measured and "none" in measured:
            rows["exportgate"]["p99_vs_none_ci"] = compare.p99_ratio_interval(
                measured["exportgate"], measured["none"]
            )
        versus = compare.p99_vs_best_peer(measured)
        if versus is not None:
            results["p99_vs_best_peer"] = {"table": versus}
        for system in chosen:
            rows[system.name]["label"] = system.label
        results["rows"] = rows
        if concurrencies:
            swept = [s for s in chosen if s.name in SWEEP]
            results["sweep"], versus_swept, results["sweep_points"] = _sweep(
                cluster, swept, concurrencies, sweep_creates or creates, warmup
            )
            results.setdefault("p99_vs_best_peer", {})["sweep"] = versus_swept
    results["not_reported"] = notes
    results["config"] = {
        "creates": creates,
        "warmup_per_slice": warmup,
        "rounds": rounds,
        "concurrencies": list(concurrencies),
        "sweep_creates": sweep_creates or creates,
        "sweep_design": "paired",
        "namespace": ALLOWED_NS,
        "peer_versions": {c.name: c.version for c in peer_build.PEERS},
    }
    return results
