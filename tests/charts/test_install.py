"""`helm install` of the default chart into the real API server.

No kubelet runs, so the pods stay Pending and the in-cluster webhook Service has no endpoints:
exactly the state of a cluster whose webhook pods are down. That makes two properties testable
for real: requests the CEL pre-filter skips are admitted, and requests it sends fail closed.
"""

from __future__ import annotations

import base64
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509

from tests.charts.chart import CHART, write_values
from tests.charts.cluster_helpers import (
    create_as_tenant,
    get,
    helm_install,
    helm_uninstall,
    pod,
    tenant_namespace,
)
from tests.cluster.local_cluster import LocalCluster

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(300)]

RELEASE = "egi"
NAMESPACE = "egi-system"
TENANT_NS = "egi-nimbus-ml"
WEBHOOK = f"{RELEASE}-exportgate-webhook"
ROTATOR = CHART / "files" / "rotate_certs.py"


@pytest.fixture(scope="module")
def installed(
    kube_cluster: LocalCluster, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LocalCluster]:
    # Bound before the webhook exists: binding a namespace is itself guarded.
    tenant_namespace(kube_cluster, TENANT_NS, "nimbus")
    values = write_values(tmp_path_factory.mktemp("values"), {})
    helm_install(kube_cluster, RELEASE, NAMESPACE, values)
    try:
        yield kube_cluster
    finally:
        # Its webhooks fail closed and nothing serves them: never leave them to other tests.
        helm_uninstall(kube_cluster, RELEASE, NAMESPACE)
        for kind in ("validatingwebhookconfiguration", "mutatingwebhookconfiguration"):
            kube_cluster.delete(kind, WEBHOOK)


def test_every_object_is_accepted(installed: LocalCluster) -> None:
    status = installed.helm("status", RELEASE, "--namespace", NAMESPACE, "-o", "json")
    assert '"status":"deployed"' in status.stdout.replace(" ", "")
    for kind, name in [
        ("deployment", WEBHOOK),
        ("deployment", f"{RELEASE}-exportgate-operator"),
        ("service", WEBHOOK),
        ("poddisruptionbudget", WEBHOOK),
        ("cronjob", f"{RELEASE}-exportgate-cert-rotator"),
        ("secret", f"{WEBHOOK}-tls"),
        ("serviceaccount", WEBHOOK),
    ]:
        assert get(installed, kind, name, NAMESPACE)["metadata"]["name"] == name
    for kind in ("validatingwebhookconfiguration", "mutatingwebhookconfiguration"):
        assert get(installed, kind, WEBHOOK)["webhooks"]
    peering = get(installed, "clusterkopfpeering", f"{RELEASE}-exportgate-operator")
    assert peering["kind"] == "ClusterKopfPeering"
    for crd in ("tenants.exportgate.dev", "exportpolicies.exportgate.dev"):
        assert get(installed, "crd", crd)["metadata"]["name"] == crd


def test_prefilter_admits_plain_pods_without_calling_the_webhook(installed: LocalCluster) -> None:
    # The webhook has no endpoints: had the API server called it, this would fail closed.
    proc = create_as_tenant(installed, pod("web", TENANT_NS), dry_run=True)
    assert proc.returncode == 0, proc.stderr


def test_gpu_pods_fail_closed_when_no_webhook_answers(installed: LocalCluster) -> None:
    def rejected() -> bool:
        proc = create_as_tenant(installed, pod("gpu", TENANT_NS, gpus=1), dry_run=True)
        # The mutating webhook is called first; either of the two workload webhooks will do.
        return proc.returncode != 0 and 'failed calling webhook "workloads.' in proc.stderr

    installed.wait_for_webhook(rejected, timeout=30)


def test_exempt_namespaces_are_never_sent(installed: LocalCluster) -> None:
    for namespace in ("kube-system", NAMESPACE):
        proc = installed.kubectl(
            "create", "--dry-run=server", "-f", "-", check=False,
            input=_yaml(pod("gpu", namespace, gpus=1)),
        )  # fmt: skip
        assert proc.returncode == 0, proc.stderr


def test_upgrade_keeps_the_generated_ca(installed: LocalCluster, tmp_path: Path) -> None:
    before = get(installed, "secret", f"{WEBHOOK}-tls", NAMESPACE)["data"]
    installed.helm(
        "upgrade", RELEASE, str(CHART), "--namespace", NAMESPACE,
        "--values", str(write_values(tmp_path, {})),
    )  # fmt: skip
    after = get(installed, "secret", f"{WEBHOOK}-tls", NAMESPACE)["data"]
    assert after == before
    hooks = get(installed, "validatingwebhookconfiguration", WEBHOOK)["webhooks"]
    assert {h["clientConfig"]["caBundle"] for h in hooks} == {before["ca.crt"]}


def test_rotator_renews_with_the_same_ca_and_heals_the_ca_bundle(
    installed: LocalCluster,
) -> None:
    before = get(installed, "secret", f"{WEBHOOK}-tls", NAMESPACE)["data"]
    # Someone broke one webhook's caBundle: the rotator must put the chart's CA back.
    installed.kubectl(
        "patch", "validatingwebhookconfiguration", WEBHOOK, "--type=json",
        "-p", '[{"op":"replace","path":"/webhooks/1/clientConfig/caBundle","value":"Zm9v"}]',
    )  # fmt: skip
    # Renewing more than the certificate's lifetime ahead forces a renewal now.
    proc = subprocess.run(
        [
            sys.executable, str(ROTATOR), f"--kubeconfig={installed.kubeconfig}",
            f"--namespace={NAMESPACE}", f"--tls-secret={WEBHOOK}-tls",
            f"--ca-secret={WEBHOOK}-ca", f"--webhook-configuration={WEBHOOK}",
            "--renew-before-days=400", "--validity-days=365",
        ],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "renewed serving certificate" in proc.stdout
    assert "caBundle re-synced on 1 webhook(s)" in proc.stdout
    after = get(installed, "secret", f"{WEBHOOK}-tls", NAMESPACE)["data"]
    assert after["ca.crt"] == before["ca.crt"]
    assert after["tls.crt"] != before["tls.crt"]
    ca = x509.load_pem_x509_certificate(base64.b64decode(after["ca.crt"]))
    leaf = x509.load_pem_x509_certificate(base64.b64decode(after["tls.crt"]))
    leaf.verify_directly_issued_by(ca)
    names = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert f"{WEBHOOK}.{NAMESPACE}.svc" in names.get_values_for_type(x509.DNSName)
    for kind in ("validatingwebhookconfiguration", "mutatingwebhookconfiguration"):
        hooks = get(installed, kind, WEBHOOK)["webhooks"]
        assert {h["clientConfig"]["caBundle"] for h in hooks} == {before["ca.crt"]}


def _yaml(obj: object) -> str:
    import yaml

    return yaml.safe_dump(obj)
