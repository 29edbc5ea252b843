"""Fixtures for the operator's end-to-end tests: CRDs installed, an operator running in-process."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cluster.local_cluster import LocalCluster

REPO = Path(__file__).resolve().parents[2]
CRDS = REPO / "operator" / "crds"
RBAC = REPO / "operator" / "rbac"


@pytest.fixture(scope="session")
def crds(kube_cluster: LocalCluster) -> LocalCluster:
    kube_cluster.install_crds([CRDS, CRDS / "optional"])
    return kube_cluster
