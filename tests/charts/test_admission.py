"""The chart's own webhook configurations, re-pointed at a locally running webhook + sidecar,
make the real API server deny a restricted tenant's GPU Pod.

Everything is real: `exportgate-sidecar` (file tenants from examples/tenants.yaml) and
`exportgate-webhook` run as subprocesses on a Unix socket and a loopback HTTPS port, the
ValidatingWebhookConfiguration and MutatingWebhookConfiguration are the ones `helm install`
creates (only `webhook.url` and `webhook.caBundle` differ from the defaults), and the request is
a tenant user's `kubectl create`.
"""

from __future__ import annotations

import json
import shutil
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.charts.chart import ROOT, write_values
from tests.charts.cluster_helpers import (
    TENANT_USER,
    create_as_tenant,
    helm_install,
    helm_uninstall,
    pod,
    tenant_namespace,
)
from tests.cluster.certs import ServingCert
from tests.cluster.local_cluster import LocalCluster, ManagedProcess, free_port, spawn

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(300)]

RELEASE = "ega"
NAMESPACE = "ega-system"
NIMBUS_NS = "ega-nimbus-ml"  # tenant whose parent is headquartered in a D:5 country
ACME_NS = "ega-acme-ml"  # verified tenant in a permitted country
WEBHOOK = f"{RELEASE}-exportgate-webhook"
BIN = Path(sys.executable).parent
H100 = "NVIDIA-H100-80GB-HBM3"
OPS_USER = "ops@nimbus.example"
VIOLATOR = "old-h100"
OPERATOR_USER = f"system:serviceaccount:{NAMESPACE}:{RELEASE}-exportgate-operator"


@dataclass
class LocalWebhook:
    url: str
    workdir: Path
    processes: list[ManagedProcess]

    @property
    def decision_log(self) -> Path:
        return self.workdir / "decisions.jsonl"


def _wait(condition: str, check: object, proc: ManagedProcess, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.alive(), f"{proc.name} exited:\n{proc.log_tail()}"
        try:
            if callable(check) and check():
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"{condition} after {timeout}s:\n{proc.log_tail()}")


@pytest.fixture(scope="module")
def local_webhook(kube_cluster: LocalCluster, webhook_tls: ServingCert) -> Iterator[LocalWebhook]:
    # A short directory: Unix socket paths are limited to 107 bytes.
    workdir = Path(tempfile.mkdtemp(prefix="egw-"))
    socket = workdir / "policy.sock"
    port, probe_port = free_port(), free_port()
    processes: list[ManagedProcess] = []
    try:
        sidecar = spawn(
            "sidecar",
            [
                str(BIN / "exportgate-sidecar"),
                "--tenants", str(ROOT / "examples" / "tenants.yaml"),
                "--decision-log", str(workdir / "decisions.jsonl"),
                "--listen", f"unix://{socket}",
            ],
            workdir / "sidecar.log",
            ROOT,
        )  # fmt: skip
        processes.append(sidecar)
        _wait("sidecar socket missing", socket.exists, sidecar)
        webhook = spawn(
            "webhook",
            [
                str(BIN / "exportgate-webhook"),
                "--listen", f"127.0.0.1:{port}",
                "--probe-listen", f"127.0.0.1:{probe_port}",
                "--tls-cert", str(webhook_tls.cert_path),
                "--tls-key", str(webhook_tls.key_path),
                "--sidecar", f"unix://{socket}",
                # Namespace -> tenant bindings come from the real API server, as in a cluster.
                "--kubeconfig", str(kube_cluster.kubeconfig),
            ],
            workdir / "webhook.log",
            ROOT,
        )  # fmt: skip
        processes.append(webhook)

        def ready() -> bool:
            with urllib.request.urlopen(f"http://127.0.0.1:{probe_port}/readyz", timeout=2) as r:
                return bool(r.status == 200)

        _wait("webhook not ready", ready, webhook)
        yield LocalWebhook(f"https://127.0.0.1:{port}", workdir, processes)
    finally:
        for proc in reversed(processes):
            proc.stop()
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture(scope="module")
def chart_pointing_at_local_webhook(
    kube_cluster: LocalCluster,
    local_webhook: LocalWebhook,
    webhook_tls: ServingCert,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[LocalCluster]:
    tenant_namespace(kube_cluster, NIMBUS_NS, "nimbus")
    tenant_namespace(kube_cluster, ACME_NS, "acme")
    # A violator admitted before exportgate was installed: what the operator's re-audit marks.
    kube_cluster.apply(pod(VIOLATOR, NIMBUS_NS, gpus=8, product=H100))
    values = {"webhook": {"url": local_webhook.url, "caBundle": webhook_tls.ca_pem.decode()}}
    helm_install(
        kube_cluster, RELEASE, NAMESPACE, write_values(tmp_path_factory.mktemp("v"), values)
    )
    try:
        # The API server learns of new webhook configurations asynchronously.
        def active() -> bool:
            proc = create_as_tenant(
                kube_cluster, pod("probe", NIMBUS_NS, gpus=1, product=H100), dry_run=True
            )
            return proc.returncode != 0 and "denied the request" in proc.stderr

        kube_cluster.wait_for_webhook(active, timeout=60)
        yield kube_cluster
    finally:
        # Uninstall before the local webhook stops: these webhooks fail closed.
        helm_uninstall(kube_cluster, RELEASE, NAMESPACE)
        for kind in ("validatingwebhookconfiguration", "mutatingwebhookconfiguration"):
            kube_cluster.delete(kind, WEBHOOK)


def test_restricted_tenants_h100_pod_is_denied(
    chart_pointing_at_local_webhook: LocalCluster, local_webhook: LocalWebhook
) -> None:
    cluster = chart_pointing_at_local_webhook
    proc = create_as_tenant(cluster, pod("train-h100", NIMBUS_NS, gpus=8, product=H100))
    assert proc.returncode != 0
    assert "denied the request" in proc.stderr
    assert "exportgate.dev" in proc.stderr  # the chart's webhook answered, with its message
    absent = cluster.kubectl("get", "pod", "train-h100", "-n", NIMBUS_NS, check=False)
    assert absent.returncode != 0
    # The denial is on record before it was answered.
    records = [json.loads(line) for line in local_webhook.decision_log.read_text().splitlines()]
    assert any("deny" in json.dumps(r) for r in records)
    # ... in an intact hash chain, as docs/helm.md tells auditors to check it.
    verify = subprocess.run(
        [str(BIN / "exportgate"), "audit", "verify", "--require-genesis",
         str(local_webhook.decision_log)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert verify.returncode == 0, verify.stdout + verify.stderr


def test_permitted_tenants_h100_pod_is_admitted_and_traceable_by_its_uid(
    chart_pointing_at_local_webhook: LocalCluster, local_webhook: LocalWebhook
) -> None:
    cluster = chart_pointing_at_local_webhook
    proc = create_as_tenant(cluster, pod("serve-h100", ACME_NS, gpus=1, product=H100))
    assert proc.returncode == 0, proc.stderr
    created = json.loads(proc.stdout)
    # One admission phase by default: no stamp on the object, and the one decision record of the
    # admission names the object's uid, so a tenant quoting the uid finds its decision.
    assert "exportgate.dev/decision-id" not in (created["metadata"].get("annotations") or {})
    records = [
        json.loads(line)
        for line in local_webhook.decision_log.read_text().splitlines()
        if '"serve-h100"' in line
    ]
    assert [(r["action"], r["extra"].get("objectUid")) for r in records] == [
        ("allow", created["metadata"]["uid"])
    ]


def test_operator_can_mark_an_existing_violator_but_nobody_can_change_it(
    chart_pointing_at_local_webhook: LocalCluster,
) -> None:
    cluster = chart_pointing_at_local_webhook

    def annotate(user: str, value: str) -> subprocess.CompletedProcess[str]:
        return cluster.kubectl(
            "annotate", "pod", VIOLATOR, "-n", NIMBUS_NS, f"exportgate.dev/violation={value}",
            "--overwrite", as_user=user, check=False,
        )  # fmt: skip

    # The operator's metadata-only patch is not sent (the chart's matchCondition) ...
    marked = annotate(OPERATOR_USER, "us-ear-advanced-computing")
    assert marked.returncode == 0, marked.stderr
    # ... while the same patch by anyone else is evaluated, and the violator stays denied.
    other = annotate(TENANT_USER, "none")
    assert other.returncode != 0
    assert "denied the request" in other.stderr


def test_tenant_cannot_rebind_its_namespace(chart_pointing_at_local_webhook: LocalCluster) -> None:
    cluster = chart_pointing_at_local_webhook
    # RBAC lets this tenant user label namespaces, so only the webhook can stop the rebinding.
    cluster.apply(
        [
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "ClusterRole",
                "metadata": {"name": "ega-namespace-labeller"},
                "rules": [
                    {"apiGroups": [""], "resources": ["namespaces"], "verbs": ["get", "patch"]}
                ],
            },
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "ClusterRoleBinding",
                "metadata": {"name": "ega-namespace-labeller"},
                "roleRef": {
                    "apiGroup": "rbac.authorization.k8s.io",
                    "kind": "ClusterRole",
                    "name": "ega-namespace-labeller",
                },
                "subjects": [
                    {"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": OPS_USER}
                ],
            },
        ]
    )
    proc = cluster.kubectl(
        "label", "namespace", NIMBUS_NS, "exportgate.dev/tenant=acme", "--overwrite",
        as_user=OPS_USER, check=False,
    )  # fmt: skip
    assert proc.returncode != 0
    assert 'admission webhook "tenancy.exportgate.dev" denied the request' in proc.stderr
    labels = json.loads(cluster.kubectl("get", "ns", NIMBUS_NS, "-o", "json").stdout)
    assert labels["metadata"]["labels"]["exportgate.dev/tenant"] == "nimbus"


def test_local_webhook_serves_the_certificate_the_ca_bundle_names(
    webhook_tls: ServingCert, local_webhook: LocalWebhook
) -> None:
    # The webhook serves the certificate the chart's caBundle names (what the API server checks).
    context = ssl.create_default_context(cadata=webhook_tls.ca_pem.decode())
    with urllib.request.urlopen(f"{local_webhook.url}/healthz", context=context, timeout=5) as r:
        assert r.status == 200
