"""Fixtures of the benchmark tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bench.peers import cases
from tests.cluster.local_cluster import LocalCluster


@pytest.fixture
def b2_cluster(kube_binaries: dict[str, Path], tmp_path: Path) -> Iterator[LocalCluster]:
    """An API server of the test's own with B2's namespaces: the peers install CRDs and
    webhooks, and B2's systems register webhooks, that must not reach the session cluster other
    tests share."""
    with LocalCluster(tmp_path / "cluster", kube_binaries) as cluster:
        cases.create_namespaces(cluster)
        yield cluster
