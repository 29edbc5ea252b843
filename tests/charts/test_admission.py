"""The chart's own configuration, with its webhook pod's processes run locally, makes the real
API server deny a restricted tenant's GPU Pod; once for each shape of the pod (policyService.mode).

Everything is real: `helm install` creates the ValidatingWebhookConfiguration (only `webhook.url`
and `webhook.caBundle` differ from the defaults, plus the shape) and the webhook Deployment; the
test then runs the Deployment's containers as local processes with the args the chart rendered,
changing only what differs on a laptop (listen addresses, certificate and log paths, and tenants
read from examples/tenants.yaml instead of the cluster). Embedded (the default) that is one
`exportgate-webhook --sidecar embedded`; sidecar, `exportgate-sidecar` on a Unix socket and the
webhook asking it. The request is a tenant user's `kubectl create`.
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
from typing import Any

import pytest

from tests.charts.chart import ROOT, write_values
from tests.charts.cluster_helpers import (
    TENANT_USER,
    create_as_tenant,
    get,
    helm_install,
    helm_uninstall,
    pod,
    tenant_namespace,
)
from tests.cluster.certs import ServingCert
from tests.cluster.local_cluster import LocalCluster, ManagedProcess, spawn
from tests.cluster.ports import free_port

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(300)]

RELEASE = "ega"
NAMESPACE = "ega-system"
WEBHOOK = f"{RELEASE}-exportgate-webhook"
BIN = Path(sys.executable).parent
H100 = "NVIDIA-H100-80GB-HBM3"
OPS_USER = "ops@nimbus.example"
VIOLATOR = "old-h100"
OPERATOR_USER = f"system:serviceaccount:{NAMESPACE}:{RELEASE}-exportgate-operator"
TENANTS = ROOT / "examples" / "tenants.yaml"


@dataclass
class Trace:
    """The chart installed in one shape, its webhook pod's processes running locally."""

    cluster: LocalCluster
    shape: str
    url: str
    workdir: Path
    processes: list[ManagedProcess]
    service_metrics: str = ""  # where the policy service's metrics are served

    @property
    def decision_log(self) -> Path:
        return self.workdir / "decisions.jsonl"

    @property
    def nimbus_ns(self) -> str:  # tenant whose parent is headquartered in a D:5 country
        return f"ega-{self.shape}-nimbus-ml"

    @property
    def acme_ns(self) -> str:  # verified tenant in a permitted country
        return f"ega-{self.shape}-acme-ml"


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


def _local(container: dict[str, Any], replace: dict[str, list[str]]) -> list[str]:
    """The container's command line as the chart rendered it, with the flags in `replace`
    swapped for their local equivalents (each must be there: the chart still renders it)."""
    argv = [str(BIN / container["command"][0])]
    for arg in container["args"]:
        flag = arg.split("=", 1)[0]
        argv += replace.pop(flag) if flag in replace else [arg]
    assert not replace, f"{container['name']}: the chart renders no {sorted(replace)}"
    return argv


def _start_pod(
    deployment: dict[str, Any], trace: Trace, webhook_tls: ServingCert, port: int
) -> None:
    containers = {c["name"]: c for c in deployment["spec"]["template"]["spec"]["containers"]}
    probe_port = free_port()
    socket = trace.workdir / "policy.sock"
    # The policy service's source and log, wherever it runs.
    service = {
        "--source": ["--source=files", "--tenants", str(TENANTS)],
        "--decision-log": [f"--decision-log={trace.decision_log}"],
    }
    webhook = {
        "--listen": [f"--listen=127.0.0.1:{port}"],
        "--probe-listen": [f"--probe-listen=127.0.0.1:{probe_port}"],
        "--tls-cert": [f"--tls-cert={webhook_tls.cert_path}"],
        "--tls-key": [f"--tls-key={webhook_tls.key_path}"],
    }
    if trace.shape == "embedded":
        assert "sidecar" not in containers
        webhook.update(service)
        # With the webhook's own, on the port the chart's metrics Service names "probes".
        trace.service_metrics = f"http://127.0.0.1:{probe_port}/metrics"
    else:
        webhook["--sidecar"] = [f"--sidecar=unix://{socket}"]
        metrics_port = free_port()
        trace.service_metrics = f"http://127.0.0.1:{metrics_port}/metrics"
        sidecar_flags = {
            **service,
            "--listen": [f"--listen=unix://{socket}"],
            "--metrics-port": [f"--metrics-port={metrics_port}"],
        }
        sidecar = spawn(
            "sidecar",
            _local(containers["sidecar"], sidecar_flags),
            trace.workdir / "sidecar.log",
            ROOT,
        )
        trace.processes.append(sidecar)
        _wait("sidecar socket missing", socket.exists, sidecar)
    # Namespace -> tenant bindings come from the real API server, as in a cluster.
    argv = [*_local(containers["webhook"], webhook), "--kubeconfig", str(trace.cluster.kubeconfig)]
    process = spawn("webhook", argv, trace.workdir / "webhook.log", ROOT)
    trace.processes.append(process)

    def ready() -> bool:
        with urllib.request.urlopen(f"http://127.0.0.1:{probe_port}/readyz", timeout=2) as r:
            return bool(r.status == 200)

    _wait("webhook not ready", ready, process)


@pytest.fixture(scope="module", params=["embedded", "sidecar"])
def trace(
    request: pytest.FixtureRequest,
    kube_cluster: LocalCluster,
    webhook_tls: ServingCert,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Trace]:
    port = free_port()
    # A short directory: Unix socket paths are limited to 107 bytes.
    trace = Trace(
        kube_cluster, request.param, f"https://127.0.0.1:{port}",
        Path(tempfile.mkdtemp(prefix="egw-")), [],
    )  # fmt: skip
    tenant_namespace(kube_cluster, trace.nimbus_ns, "nimbus")
    tenant_namespace(kube_cluster, trace.acme_ns, "acme")
    # A violator admitted before exportgate was installed: what the operator's re-audit marks.
    kube_cluster.apply(pod(VIOLATOR, trace.nimbus_ns, gpus=8, product=H100))
    values = {
        "policyService": {"mode": trace.shape},
        "webhook": {"url": trace.url, "caBundle": webhook_tls.ca_pem.decode()},
    }
    if trace.shape == "embedded":
        del values["policyService"]  # the default
    helm_install(
        kube_cluster, RELEASE, NAMESPACE, write_values(tmp_path_factory.mktemp("v"), values)
    )
    try:
        _start_pod(get(kube_cluster, "deployment", WEBHOOK, NAMESPACE), trace, webhook_tls, port)

        # The API server learns of new webhook configurations asynchronously.
        def active() -> bool:
            proc = create_as_tenant(
                kube_cluster, pod("probe", trace.nimbus_ns, gpus=1, product=H100), dry_run=True
            )
            return proc.returncode != 0 and "denied the request" in proc.stderr

        kube_cluster.wait_for_webhook(active, timeout=60)
        yield trace
    finally:
        # Uninstall before the local webhook stops: these webhooks fail closed.
        helm_uninstall(kube_cluster, RELEASE, NAMESPACE)
        for kind in ("validatingwebhookconfiguration", "mutatingwebhookconfiguration"):
            kube_cluster.delete(kind, WEBHOOK)
        for proc in reversed(trace.processes):
            proc.stop()
        shutil.rmtree(trace.workdir, ignore_errors=True)


def test_restricted_tenants_h100_pod_is_denied(
    trace: Trace,
) -> None:
    cluster = trace.cluster
    proc = create_as_tenant(cluster, pod("train-h100", trace.nimbus_ns, gpus=8, product=H100))
    assert proc.returncode != 0
    assert "denied the request" in proc.stderr
    assert "exportgate.dev" in proc.stderr  # the chart's webhook answered, with its message
    absent = cluster.kubectl("get", "pod", "train-h100", "-n", trace.nimbus_ns, check=False)
    assert absent.returncode != 0
    # The denial is on record before it was answered.
    records = [json.loads(line) for line in trace.decision_log.read_text().splitlines()]
    assert any("deny" in json.dumps(r) for r in records)
    # ... in an intact hash chain, as docs/helm.md tells auditors to check it.
    verify = subprocess.run(
        [str(BIN / "exportgate"), "audit", "verify", "--require-genesis",
         str(trace.decision_log)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert verify.returncode == 0, verify.stdout + verify.stderr


def test_permitted_tenants_h100_pod_is_admitted_and_traceable_by_its_uid(
    trace: Trace,
) -> None:
    cluster = trace.cluster
    proc = create_as_tenant(cluster, pod("serve-h100", trace.acme_ns, gpus=1, product=H100))
    assert proc.returncode == 0, proc.stderr
    created = json.loads(proc.stdout)
    # One admission phase by default: no stamp on the object, and the one decision record of the
    # admission names the object's uid, so a tenant quoting the uid finds its decision.
    assert "exportgate.dev/decision-id" not in (created["metadata"].get("annotations") or {})
    records = [
        json.loads(line)
        for line in trace.decision_log.read_text().splitlines()
        if '"serve-h100"' in line
    ]
    assert [(r["action"], r["extra"].get("objectUid")) for r in records] == [
        ("allow", created["metadata"]["uid"])
    ]


def test_operator_can_mark_an_existing_violator_but_nobody_can_change_it(
    trace: Trace,
) -> None:
    cluster = trace.cluster

    def annotate(user: str, value: str) -> subprocess.CompletedProcess[str]:
        return cluster.kubectl(
            "annotate", "pod", VIOLATOR, "-n", trace.nimbus_ns, f"exportgate.dev/violation={value}",
            "--overwrite", as_user=user, check=False,
        )  # fmt: skip

    # The operator's metadata-only patch is not sent (the chart's matchCondition) ...
    marked = annotate(OPERATOR_USER, "us-ear-advanced-computing")
    assert marked.returncode == 0, marked.stderr
    # ... while the same patch by anyone else is evaluated, and the violator stays denied.
    other = annotate(TENANT_USER, "none")
    assert other.returncode != 0
    assert "denied the request" in other.stderr


def test_tenant_cannot_rebind_its_namespace(trace: Trace) -> None:
    cluster = trace.cluster
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
        "label", "namespace", trace.nimbus_ns, "exportgate.dev/tenant=acme", "--overwrite",
        as_user=OPS_USER, check=False,
    )  # fmt: skip
    assert proc.returncode != 0
    assert 'admission webhook "tenancy.exportgate.dev" denied the request' in proc.stderr
    labels = json.loads(cluster.kubectl("get", "ns", trace.nimbus_ns, "-o", "json").stdout)
    assert labels["metadata"]["labels"]["exportgate.dev/tenant"] == "nimbus"


def test_local_webhook_serves_the_certificate_the_ca_bundle_names(
    webhook_tls: ServingCert, trace: Trace
) -> None:
    # The webhook serves the certificate the chart's caBundle names (what the API server checks).
    context = ssl.create_default_context(cadata=webhook_tls.ca_pem.decode())
    with urllib.request.urlopen(f"{trace.url}/healthz", context=context, timeout=5) as r:
        assert r.status == 200


def test_the_services_metrics_are_where_the_chart_scrapes_them(trace: Trace) -> None:
    # Embedded: on the webhook's /metrics (probes port); sidecar: on the sidecar's metrics port.
    # Either way under the exportgate_sidecar_* names dashboards know, counting the decisions.
    with urllib.request.urlopen(trace.service_metrics, timeout=5) as r:
        text = r.read().decode()
    assert "exportgate_sidecar_" in text
    if trace.shape == "embedded":
        assert "exportgate_webhook_" in text
