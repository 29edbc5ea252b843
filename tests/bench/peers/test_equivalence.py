"""Each peer, run for real out of cluster against a real kube-apiserver, denies exactly the
benchmark cases exportgate denies (bench/peers/equivalence.py). Skips when the peers are not
built: they are only needed by the benchmark (`make bench-peers`), so `make test` never builds
them, also with EXPORTGATE_REQUIRE_CLUSTER set."""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest

from bench import b2_systems
from bench.b2_apiserver import PEERS
from bench.peers import build, equivalence
from tests.cluster.local_cluster import LocalCluster

pytestmark = pytest.mark.cluster


BUILT = [
    pytest.param(
        name,
        marks=pytest.mark.skipif(
            name in build.missing(),
            reason=f"{name} is not built: run `make bench-peers` (not part of make test)",
        ),
    )
    for name in sorted(PEERS)
]


@pytest.mark.parametrize("peer", BUILT)
def test_peer_denies_exactly_what_exportgate_denies(
    peer: str, b2_cluster: LocalCluster, tmp_path: Path
) -> None:
    with contextlib.ExitStack() as stack:
        exportgate = stack.enter_context(b2_systems.exportgate(tmp_path))[0]  # the default shape
        systems = stack.enter_context(PEERS[peer](b2_cluster, tmp_path / peer))
        report = equivalence.check(b2_cluster, exportgate, systems)
    assert report["exportgate"]["unexpected"] == []
    for system in systems:  # the plain policy and any variant asking a service
        assert report[system.name]["equivalent"], equivalence.why_not(report[system.name])
        assert report[system.name]["denied"] == report["exportgate"]["denied"] > 0
