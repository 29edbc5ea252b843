"""Each peer, run for real out of cluster against a real kube-apiserver, denies exactly the
benchmark cases exportgate denies (bench/peers/equivalence.py). Skips when the peers are not
built: they are only needed by the benchmark (`make bench-peers`), so `make test` never builds
them, also with EXPORTGATE_REQUIRE_CLUSTER set."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench import b2_systems
from bench.b2_apiserver import PEERS
from bench.peers import build, equivalence
from bench.peers.cases import NAMESPACE_TENANTS, TENANT_LABEL
from tests.cluster.local_cluster import LocalCluster

pytestmark = pytest.mark.cluster


@pytest.fixture
def peer_cluster(kube_binaries: dict[str, Path], tmp_path: Path) -> Iterator[LocalCluster]:
    # Its own API server: the peers install CRDs and (Kyverno) webhooks of their own, which
    # must not reach the session cluster other tests share.
    with LocalCluster(tmp_path / "cluster", kube_binaries) as cluster:
        for namespace, tenant in NAMESPACE_TENANTS.items():
            cluster.create_namespace(namespace, {TENANT_LABEL: tenant})
        yield cluster


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
    peer: str, peer_cluster: LocalCluster, tmp_path: Path
) -> None:
    with contextlib.ExitStack() as stack:
        exportgate = stack.enter_context(b2_systems.exportgate(tmp_path))[0]  # the default shape
        systems = stack.enter_context(PEERS[peer](peer_cluster, tmp_path / peer))
        report = equivalence.check(peer_cluster, exportgate, systems)
    assert report["exportgate"]["unexpected"] == []
    for system in systems:  # the plain policy and any variant asking a service
        assert report[system.name]["equivalent"], equivalence.why_not(report[system.name])
        assert report[system.name]["denied"] == report["exportgate"]["denied"] > 0
