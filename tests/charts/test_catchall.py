"""The opt-in catch-all webhook (webhook.catchAll) against the real API server.

Red team finding: a CRD of a project exportgate has never heard of (AIBrix ModelClaim, before
its adapter) makes an already admitted, running pod load a model or attach hardware, and the
chart never sent it, so the generic fallback never read it. With `webhook.catchAll.enabled`
the chart sends every namespaced kind in tenant-bound namespaces, minus what the other webhooks
receive and the skipped groups. Here a CRD `Widget` stands for such a kind.

Everything is real: `helm install` (and `helm upgrade`) of the chart creates the webhook
configurations, whose CEL match conditions the API server compiles; the webhook pod's process
runs locally from the rendered Deployment, embedded shape (tests/charts/test_admission.py).
Whether a request was sent is read from the webhook's own counter of reviews per kind.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.charts.chart import CHART, write_values
from tests.charts.cluster_helpers import (
    TENANT_USER,
    create_as_tenant,
    get,
    helm_install,
    helm_uninstall,
    tenant_namespace,
)
from tests.charts.test_admission import Trace, _start_pod
from tests.cluster.certs import ServingCert
from tests.cluster.local_cluster import LocalCluster
from tests.cluster.ports import free_port

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(300)]

RELEASE = "egc"
NAMESPACE = "egc-system"
WEBHOOK = f"{RELEASE}-exportgate-webhook"
TENANT_NS = "egc-nimbus-ml"  # bound to nimbus, restricted (parent headquartered in CN)
UNBOUND_NS = "egc-unbound"


def _crd(group: str, kind: str, version: str) -> dict[str, Any]:
    """A namespaced CRD that keeps whatever its objects hold (no schema to satisfy)."""
    plural = kind.lower() + "s"
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.{group}"},
        "spec": {
            "group": group,
            "scope": "Namespaced",
            "names": {"plural": plural, "singular": kind.lower(), "kind": kind},
            "versions": [{
                "name": version, "served": True, "storage": True,
                "schema": {"openAPIV3Schema": {
                    "type": "object", "x-kubernetes-preserve-unknown-fields": True}},
            }],
        },
    }  # fmt: skip


# A kind no adapter names, and the red team's kind, which an adapter now names: the resources
# webhook receives that one, and the catch-all must not review it a second time.
WIDGET_CRD = _crd("example.com", "Widget", "v1")
MODEL_CLAIM_CRD = _crd("model.aibrix.ai", "ModelClaim", "v1alpha1")


def widget(name: str, namespace: str, resources: dict[str, Any]) -> dict[str, Any]:
    """A Widget whose worker is a container-shaped mapping (what the generic fallback reads)."""
    worker = {"image": "vllm/vllm-openai", "resources": {"limits": resources}}
    return {
        "apiVersion": "example.com/v1",
        "kind": "Widget",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"worker": worker},
    }


GPUS = {"nvidia.com/gpu": 8}
CPUS = {"cpu": "2", "memory": "4Gi"}


def _reviews(trace: Trace, kind: str) -> float:
    """Reviews of `kind` the webhook answered (the embedded webhook's own counter)."""
    with urllib.request.urlopen(trace.service_metrics, timeout=5) as r:
        lines = r.read().decode().splitlines()
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in lines
        if line.startswith("exportgate_webhook_requests_total{") and f'kind="{kind}"' in line
    )


def _values(trace: Trace, webhook_tls: ServingCert, catch_all: bool) -> dict[str, Any]:
    return {
        "webhook": {
            "url": trace.url,
            "caBundle": webhook_tls.ca_pem.decode(),
            "catchAll": {"enabled": catch_all},
        }
    }


@pytest.fixture(scope="module")
def trace(
    kube_cluster: LocalCluster,
    webhook_tls: ServingCert,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Trace]:
    port = free_port()
    trace = Trace(
        kube_cluster, "embedded", f"https://127.0.0.1:{port}",
        Path(tempfile.mkdtemp(prefix="egc-")), [],
    )  # fmt: skip
    kube_cluster.install_crds([WIDGET_CRD, MODEL_CLAIM_CRD])
    tenant_namespace(kube_cluster, TENANT_NS, "nimbus")
    kube_cluster.create_namespace(UNBOUND_NS)
    for ns in (TENANT_NS, UNBOUND_NS):  # the tenant user may write Widgets and ConfigMaps
        kube_cluster.apply([
            {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
             "metadata": {"name": "widget-edit", "namespace": ns},
             "rules": [{"apiGroups": ["example.com", ""], "resources": ["widgets", "configmaps"],
                        "verbs": ["get", "list", "create", "update", "patch", "delete"]}]},
            {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
             "metadata": {"name": "widget-edit", "namespace": ns},
             "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role",
                         "name": "widget-edit"},
             "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User",
                           "name": TENANT_USER}]},
        ])  # fmt: skip
    values = write_values(tmp_path_factory.mktemp("v"), _values(trace, webhook_tls, True))
    # Installing is the compile check: the API server rejects a configuration whose CEL match
    # conditions do not compile or exceed the cost limit.
    installed = helm_install(kube_cluster, RELEASE, NAMESPACE, values)
    assert installed.returncode == 0, installed.stderr
    try:
        _start_pod(get(kube_cluster, "deployment", WEBHOOK, NAMESPACE), trace, webhook_tls, port)

        def active() -> bool:
            proc = create_as_tenant(kube_cluster, widget("probe", TENANT_NS, GPUS), dry_run=True)
            return proc.returncode != 0 and "catchall.exportgate.dev" in proc.stderr

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


def test_catch_all_reads_unknown_kinds_in_tenant_namespaces_only(trace: Trace) -> None:
    cluster = trace.cluster
    log_lines = len(trace.decision_log.read_text().splitlines())

    # A GPU worker in a kind no adapter names: read by the generic fallback, and denied.
    denied = create_as_tenant(cluster, widget("gpu-worker", TENANT_NS, GPUS))
    assert denied.returncode != 0
    assert 'admission webhook "catchall.exportgate.dev" denied the request' in denied.stderr
    assert "nvidia.com/gpu" in denied.stderr and "spec.worker" in denied.stderr
    assert cluster.kubectl("get", "widget", "gpu-worker", "-n", TENANT_NS,
                           check=False).returncode != 0  # fmt: skip
    records = trace.decision_log.read_text().splitlines()[log_lines:]
    assert len(records) == 1 and '"deny"' in records[0] and '"Widget"' in records[0]

    # A CPU worker: admitted without asking the policy service, so nothing is logged.
    reviewed = _reviews(trace, "Widget")
    admitted = create_as_tenant(cluster, widget("cpu-worker", TENANT_NS, CPUS))
    assert admitted.returncode == 0, admitted.stderr
    assert _reviews(trace, "Widget") == reviewed + 1
    assert len(trace.decision_log.read_text().splitlines()) == log_lines + 1

    # Never sent: a namespace bound to no tenant (had the webhook seen this GPU Widget, it
    # would have refused it as unbound), and a core kind, whatever the namespace.
    unbound = create_as_tenant(cluster, widget("gpu-worker", UNBOUND_NS, GPUS))
    assert unbound.returncode == 0, unbound.stderr
    config = {"apiVersion": "v1", "kind": "ConfigMap",
              "metadata": {"name": "settings", "namespace": TENANT_NS},
              "data": {"MODEL": "claude-opus-4"}}  # fmt: skip
    assert create_as_tenant(cluster, config).returncode == 0
    assert _reviews(trace, "Widget") == reviewed + 1
    assert _reviews(trace, "ConfigMap") == 0

    # A kind an adapter names reaches the resources webhook, and only it: reviewed once.
    claims = _reviews(trace, "ModelClaim")
    claim = {"apiVersion": "model.aibrix.ai/v1alpha1", "kind": "ModelClaim",
             "metadata": {"name": "warm-70b", "namespace": TENANT_NS},
             "spec": {"modelName": "llama-70b", "podSelector": {"matchLabels": {"pool": "w"}},
                      "artifactURL": "huggingface://meta-llama/Llama-3.1-70B"}}  # fmt: skip
    cluster.kubectl("create", "--dry-run=server", "-f", "-", input=json.dumps(claim), check=False)
    assert _reviews(trace, "ModelClaim") == claims + 1


def test_without_the_catch_all_an_unknown_kind_is_admitted_unseen(
    trace: Trace, webhook_tls: ServingCert, tmp_path: Path
) -> None:
    """The default (catchAll off) is today's routing: a Widget is never sent."""
    cluster = trace.cluster
    values = write_values(tmp_path, _values(trace, webhook_tls, False))
    upgraded = cluster.helm(
        "upgrade", RELEASE, str(CHART), "--namespace", NAMESPACE, "--values", str(values),
        "--timeout", "120s",
    )  # fmt: skip
    assert upgraded.returncode == 0, upgraded.stderr
    hooks = {h["name"] for h in get(cluster, "validatingwebhookconfiguration", WEBHOOK)["webhooks"]}
    assert "catchall.exportgate.dev" not in hooks

    def gone() -> bool:
        proc = create_as_tenant(cluster, widget("probe", TENANT_NS, GPUS), dry_run=True)
        return proc.returncode == 0

    cluster.wait_for_webhook(gone, timeout=60)
    reviewed = _reviews(trace, "Widget")
    admitted = create_as_tenant(cluster, widget("gpu-worker-unseen", TENANT_NS, GPUS))
    assert admitted.returncode == 0, admitted.stderr
    assert _reviews(trace, "Widget") == reviewed
