"""B2's paired design on a real kube-apiserver: with every system switched on at once, each is
asked about its own paired namespace and no other system's (bench/b2_paired.py,
bench/peers/routing.py), and a point measures every system without a failure."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

import pytest

from bench import b2_paired, b2_systems
from bench.b2_apiserver import PEERS
from bench.peers import build, routing
from bench.peers.cases import TENANT_LABEL, restricted_h100_denied
from tests.cluster.local_cluster import LocalCluster

pytestmark = pytest.mark.cluster


def test_namespaces_skip_every_other_system_and_keep_their_tenant() -> None:
    labels = routing.namespaces(["none", "exportgate", "gatekeeper"])
    assert labels[routing.paired_namespace("exportgate")] == {
        TENANT_LABEL: "acme",
        routing.skip_label("none"): "true",
        routing.skip_label("gatekeeper"): "true",
    }
    assert labels[routing.probe_namespace("gatekeeper")][TENANT_LABEL] == "nimbus"
    assert routing.tenants(["exportgate"]) == {
        "bench-paired-exportgate": "acme",
        "bench-probe-exportgate": "nimbus",
    }


def test_each_system_is_asked_only_about_its_own_namespace(
    b2_cluster: LocalCluster, tmp_path: Path
) -> None:
    peers = [p for p in sorted(PEERS) if p not in build.missing()]  # built by make bench-peers
    names = ["none", "cel", "exportgate", *peers]
    with contextlib.ExitStack() as stack:
        exportgate = stack.enter_context(b2_systems.exportgate(tmp_path, paired=names))[0]
        systems = [b2_systems.none(), b2_systems.cel(), exportgate]
        for peer in peers:
            systems.append(stack.enter_context(PEERS[peer](b2_cluster, tmp_path / peer))[0])
        api = b2_cluster.api_client()
        with b2_paired.switched_on(b2_cluster, systems):
            # Each denying system refuses its own probe; the probe of `none` skips them all.
            for system in systems[1:]:
                assert restricted_h100_denied(api, routing.probe_namespace(system.name))
            assert not restricted_h100_denied(api, routing.probe_namespace("none"))
            # And the namespaces B2 has always used are still guarded by every system.
            assert restricted_h100_denied(api)
            samples, shared = b2_paired.point(b2_cluster, systems, 2, 6, 1)
        # Switched off again: nothing refuses the probes any more.
        for system in systems:
            assert not restricted_h100_denied(api, routing.probe_namespace(system.name))
        log = exportgate_log(tmp_path)
    assert {name: (s.sent, s.failures) for name, s in samples.items()} == {
        name: (6, 0) for name in names
    }
    assert shared["creates"] == 6 * len(names) and shared["creates_per_s"] > 0
    # Sampled for exportgate's own processes. /proc counts CPU in clock ticks (10 ms at 100 Hz),
    # more than these 7 CREATEs may use, so only its presence is certain here (the benchmark's
    # 2,000 CREATEs per point take seconds of CPU).
    assert samples["exportgate"].figures()["webhook_cpu_ms_per_create"] >= 0
    # exportgate recorded a decision for each CREATE in its own namespace (6 + 1 warm-up) and
    # none for another system's.
    asked = [r for r in log if routing.paired_namespace("exportgate") in json.dumps(r)]
    assert len(asked) >= 7
    for other in names:
        if other != "exportgate":
            assert not [r for r in log if routing.paired_namespace(other) in json.dumps(r)]


def exportgate_log(workdir: Path) -> list[dict[str, object]]:
    """The records of exportgate's default shape (b2_systems.exportgate's `embedded` stack)."""
    path = workdir / "embedded" / "decisions.log"
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
