"""Documented variants are accepted by the real API server too, not only rendered.

(cert-manager and ServiceMonitor variants need third-party CRDs the test cluster does not
have; they are rendered and linted in test_render.py.)
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.charts.chart import write_values
from tests.charts.cluster_helpers import get, helm_install, helm_uninstall
from tests.cluster.local_cluster import LocalCluster

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(300)]

RELEASE = "egv"
NAMESPACE = "egv-system"
CLAIM = f"{RELEASE}-exportgate-decisions"


def test_pvc_logs_network_policy_without_mutation(
    kube_cluster: LocalCluster, tmp_path: Path
) -> None:
    values = {
        "decisionLog": {"destination": "pvc", "persistence": {"size": "1Gi"}},
        "networkPolicy": {"enabled": True, "apiServerCIDRs": ["10.0.0.1/32"]},
        "webhook": {"mutating": {"enabled": False}, "exemptNamespaces": ["monitoring"]},
    }
    helm_install(kube_cluster, RELEASE, NAMESPACE, write_values(tmp_path, values))
    try:
        assert get(kube_cluster, "pvc", CLAIM, NAMESPACE)["spec"]["accessModes"] == [
            "ReadWriteMany"
        ]
        for component in ("webhook", "operator"):
            name = f"{RELEASE}-exportgate-{component}"
            assert get(kube_cluster, "networkpolicy", name, NAMESPACE)["spec"]["egress"]
        missing = kube_cluster.kubectl(
            "get", "mutatingwebhookconfiguration", f"{RELEASE}-exportgate-webhook", check=False
        )
        assert missing.returncode != 0
    finally:
        helm_uninstall(kube_cluster, RELEASE, NAMESPACE)
        kube_cluster.delete("validatingwebhookconfiguration", f"{RELEASE}-exportgate-webhook")
    # Decision logs are audit evidence: the claim outlives the release.
    assert get(kube_cluster, "pvc", CLAIM, NAMESPACE)["metadata"]["name"] == CLAIM
    kube_cluster.delete("pvc", CLAIM, NAMESPACE)
