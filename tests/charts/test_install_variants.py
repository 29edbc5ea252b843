"""Documented variants are accepted by the real API server too, not only rendered: the decision
log on a PVC, the NetworkPolicy, and the sidecar shape of the webhook pod, switched to the
embedded default by an upgrade.

(cert-manager and ServiceMonitor variants need third-party CRDs the test cluster does not
have; they are rendered and linted in test_render.py.)
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.charts.chart import CHART, write_values
from tests.charts.cluster_helpers import get, helm_install, helm_uninstall, pod_from_template
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


def _containers(cluster: LocalCluster, release: str, namespace: str) -> list[str]:
    deployment = get(cluster, "deployment", f"{release}-exportgate-webhook", namespace)
    return [c["name"] for c in deployment["spec"]["template"]["spec"]["containers"]]


def test_sidecar_shape_installs_then_upgrades_to_embedded(
    kube_cluster: LocalCluster, tmp_path: Path
) -> None:
    release, namespace = "egs", "egs-system"
    webhook = f"{release}-exportgate-webhook"
    values = {
        "policyService": {"mode": "sidecar"},
        "networkPolicy": {"apiServerCIDRs": ["10.0.0.1/32"]},
        "operator": {"enabled": False},
    }
    installed = helm_install(kube_cluster, release, namespace, write_values(tmp_path, values))
    try:
        assert "Policy service: exportgate-sidecar beside the webhook" in installed.stdout
        assert _containers(kube_cluster, release, namespace) == [
            "webhook", "sidecar", "decision-log"
        ]  # fmt: skip
        proc = pod_from_template(kube_cluster, "deployment", webhook, namespace)
        assert proc.returncode == 0, proc.stderr
        # Switching shapes is an upgrade; the pod template, Service and NetworkPolicy follow.
        upgraded = kube_cluster.helm(
            "upgrade", release, str(CHART), "--namespace", namespace, "--reuse-values",
            "--set", "policyService.mode=embedded",
        )  # fmt: skip
        assert "Policy service: embedded in the webhook container" in upgraded.stdout
        assert _containers(kube_cluster, release, namespace) == ["webhook", "decision-log"]
        proc = pod_from_template(kube_cluster, "deployment", webhook, namespace)
        assert proc.returncode == 0, proc.stderr
        metrics = get(kube_cluster, "service", f"{webhook}-metrics", namespace)
        assert [p["name"] for p in metrics["spec"]["ports"]] == ["probes"]
        policy = get(kube_cluster, "networkpolicy", webhook, namespace)
        ports = {p["port"] for rule in policy["spec"]["ingress"] for p in rule["ports"]}
        assert ports == {8443, 8080}
    finally:
        helm_uninstall(kube_cluster, release, namespace)
        kube_cluster.delete("validatingwebhookconfiguration", webhook)
