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


def _grant(cluster: LocalCluster, name: str, user: str, rules: list[dict[str, Any]]) -> None:
    """RBAC for `user` alone (a ClusterRole and its binding): what only the webhook can limit."""
    cluster.apply(
        [
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "ClusterRole",
                "metadata": {"name": name},
                "rules": rules,
            },
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "ClusterRoleBinding",
                "metadata": {"name": name},
                "roleRef": {
                    "apiGroup": "rbac.authorization.k8s.io",
                    "kind": "ClusterRole",
                    "name": name,
                },
                "subjects": [
                    {"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": user}
                ],
            },
        ]
    )


def _tenant_label(cluster: LocalCluster, namespace: str) -> str:
    found = json.loads(cluster.kubectl("get", "ns", namespace, "-o", "json").stdout)
    return str(found["metadata"]["labels"]["exportgate.dev/tenant"])


def test_tenant_cannot_rebind_its_namespace(trace: Trace) -> None:
    cluster = trace.cluster
    # RBAC lets this tenant user label namespaces, so only the webhook can stop the rebinding.
    labeller = {"apiGroups": [""], "resources": ["namespaces"], "verbs": ["get", "patch"]}
    _grant(cluster, "ega-namespace-labeller", OPS_USER, [labeller])
    proc = cluster.kubectl(
        "label", "namespace", trace.nimbus_ns, "exportgate.dev/tenant=acme", "--overwrite",
        as_user=OPS_USER, check=False,
    )  # fmt: skip
    assert proc.returncode != 0
    assert 'admission webhook "tenancy.exportgate.dev" denied the request' in proc.stderr
    assert _tenant_label(cluster, trace.nimbus_ns) == "nimbus"


@pytest.mark.parametrize("subresource", ["status", "finalize"])
def test_tenant_cannot_rebind_its_namespace_through_a_subresource(
    trace: Trace, subresource: str
) -> None:
    """Red team 3, F1: the status and finalize strategies keep metadata.labels as sent, so a
    write through either subresource rebinds a namespace unless the label guard sees it."""
    cluster = trace.cluster
    _grant(cluster, "ega-namespace-subresources", OPS_USER, [
        {"apiGroups": [""], "resources": ["namespaces"], "verbs": ["get"]},
        {"apiGroups": [""], "resources": ["namespaces/status", "namespaces/finalize"],
         "verbs": ["get", "update", "patch"]},
    ])  # fmt: skip
    if subresource == "status":
        proc = cluster.kubectl(
            "patch", "namespace", trace.nimbus_ns, "--subresource=status", "--type=merge",
            "-p", '{"metadata":{"labels":{"exportgate.dev/tenant":"acme"}}}',
            as_user=OPS_USER, check=False,
        )  # fmt: skip
    else:  # finalize takes a whole Namespace (PUT), as `kubectl replace --raw` sends it
        namespace = json.loads(cluster.kubectl("get", "ns", trace.nimbus_ns, "-o", "json").stdout)
        namespace["metadata"]["labels"]["exportgate.dev/tenant"] = "acme"
        proc = cluster.kubectl(
            "replace", "--raw", f"/api/v1/namespaces/{trace.nimbus_ns}/finalize", "-f", "-",
            input=json.dumps(namespace), as_user=OPS_USER, check=False,
        )  # fmt: skip
    assert proc.returncode != 0, proc.stdout
    assert "tenancy.exportgate.dev" in proc.stderr, proc.stderr
    assert "exportgate.dev/tenant" in proc.stderr
    assert _tenant_label(cluster, trace.nimbus_ns) == "nimbus"
    if subresource == "status":  # the guard refuses by identity, not by path
        cluster.kubectl(
            "patch", "namespace", trace.nimbus_ns, "--subresource=status", "--type=merge",
            "-p", '{"metadata":{"labels":{"team":"ml"}}}',
        )  # fmt: skip


HOUSE_RULES = {
    "apiVersion": "exportgate.dev/v1alpha1",
    "kind": "ExportPolicy",
    "metadata": {"name": "house-rules"},
    "spec": {
        "version": "1.0",
        "title": "Provider house rules",
        "enforcementAction": "deny",
        "enabledByDefault": True,
        "rules": [
            {
                "id": "no-h100-for-acme",
                "title": "No H100 for acme (house rule)",
                "citation": "Provider policy 7 (2025-01)",
                "effective": "2025-01-01",
                "match": {"accelerators": {"products": ["nvidia-h100-sxm"]}},
                "jurisdictions": {"anyIn": ["SG"]},
                "licensable": False,
                "message": "{subject} is not offered to {tenant}.",
                "remedy": "Use another accelerator.",
            }
        ],
    },
}


def _tenant_record(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "exportgate.dev/v1alpha1",
        "kind": "Tenant",
        "metadata": {"name": name},
        "spec": {
            "legalName": "Orbit Analytics Pte. Ltd.",
            "headquarters": "SG",
            "incorporation": "SG",
            "verification": {"state": "Verified", "verifiedAt": "2026-03-01T00:00:00Z",
                             "expiresAt": "2027-03-01T00:00:00Z", "evidenceRef": "kyc-1"},
        },
    }  # fmt: skip


@pytest.mark.parametrize("kind", ["tenant", "exportpolicy"])
def test_only_platform_identities_delete_tenants_and_policies(trace: Trace, kind: str) -> None:
    """Red team 3, F2: a delete of a house rule or a Tenant changes what is admitted, so it
    reaches the tenancy guard like a create or an update does."""
    cluster = trace.cluster
    name = f"ega-{trace.shape}-{kind}"
    obj = _tenant_record(name) if kind == "tenant" else {
        **HOUSE_RULES, "metadata": {"name": name}}  # fmt: skip
    cluster.apply(obj)  # as a platform identity (system:masters)
    _grant(cluster, "ega-record-deleter", OPS_USER, [
        {"apiGroups": ["exportgate.dev"], "resources": ["tenants", "exportpolicies"],
         "verbs": ["get", "list", "delete"]},
    ])  # fmt: skip
    refused = cluster.kubectl("delete", kind, name, "--wait=false", as_user=OPS_USER, check=False)
    assert refused.returncode != 0, refused.stdout
    assert 'admission webhook "resources.exportgate.dev" denied the request' in refused.stderr
    assert "delete of" in refused.stderr and "reserved to the platform" in refused.stderr
    assert cluster.kubectl("get", kind, name, check=False).returncode == 0
    deleted = cluster.kubectl("delete", kind, name, "--wait=false", check=False)
    assert deleted.returncode == 0, deleted.stderr


KYC_OFFICER = "kyc-officer@provider.example"


def test_the_kyc_team_writes_tenants_with_the_charts_kyc_editor_binding(trace: Trace) -> None:
    """Red team 3, F4: a user whose only rights come from the chart's kyc-editor binding (group
    exportgate:kyc, the default webhook.kycGroups) records a verification in a Tenant; the
    same role bound to someone outside the KYC identities is refused by the guard."""
    cluster = trace.cluster
    name = f"ega-{trace.shape}-kyc"
    cluster.apply(_tenant_record(name))
    patch = '{"spec":{"verification":{"evidenceRef":"kyc-case-4412"}}}'
    recorded = cluster.kubectl(
        "patch", "tenant", name, "--type=merge", "-p", patch,
        as_user=KYC_OFFICER, as_groups=["exportgate:kyc"], check=False,
    )  # fmt: skip
    assert recorded.returncode == 0, recorded.stderr
    assert get(cluster, "tenant", name)["spec"]["verification"]["evidenceRef"] == "kyc-case-4412"
    # The role alone is not enough: the guard trusts the KYC identities, not whoever holds RBAC.
    kyc_rules = get(cluster, "clusterrole", "exportgate-kyc-editor")["rules"]
    _grant(cluster, "ega-kyc-role-only", OPS_USER, kyc_rules)
    refused = cluster.kubectl(
        "patch", "tenant", name, "--type=merge", "-p", patch, as_user=OPS_USER, check=False
    )
    assert refused.returncode != 0
    assert "reserved to the platform and the KYC team" in refused.stderr, refused.stderr
    # ... and the KYC team cannot rebind a namespace, even with RBAC for it.
    labeller = {"apiGroups": [""], "resources": ["namespaces"], "verbs": ["get", "patch"]}
    _grant(cluster, "ega-kyc-labeller", KYC_OFFICER, [labeller])
    moved = cluster.kubectl(
        "label", "namespace", trace.nimbus_ns, "exportgate.dev/tenant=acme", "--overwrite",
        as_user=KYC_OFFICER, as_groups=["exportgate:kyc"], check=False,
    )  # fmt: skip
    assert moved.returncode != 0
    assert 'admission webhook "tenancy.exportgate.dev" denied the request' in moved.stderr
    cluster.kubectl("delete", "tenant", name, "--wait=false")


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


# What a write to pods/status may not change (podStatusStrategy.PrepareForUpdate resets only the
# spec, deletionTimestamp and ownerReferences: labels and annotations are kept as sent).
STATUS_WRITES = {
    # KAI Scheduler gives a pending pod a GPU share for this annotation, with no resource request.
    "gpu-share": ("status-cpu", {"gpu-fraction": "0.5"}),
    # Kata and runtimes passing pod annotations inject the CDI devices a pod annotation names.
    "cdi-device": ("status-cpu", {"cdi.k8s.io/gpu": "nvidia.com/gpu=all"}),
    # A stamp only exportgate writes.
    "forged-stamp": ("status-cpu", {"exportgate.dev/decision-id": "forged"}),
    # The operator's mark on a violator, which nobody may change through the Pod itself.
    "violation-removed": (VIOLATOR, {"exportgate.dev/violation": None}),
}


@pytest.mark.parametrize("write", sorted(STATUS_WRITES))
def test_pod_status_cannot_change_the_annotations_exportgate_reads(
    trace: Trace, write: str
) -> None:
    """Leftover review finding: someone with RBAC on pods/status (the kubelet, some
    controllers, a tenant's mistaken Role) wrote annotations that hand a pod a device, forged
    a stamp or removed a violation mark, unseen by admission. The chart routes such writes
    (only those) to the webhook, which refuses them; other status writes are never sent."""
    cluster = trace.cluster
    name, annotations = STATUS_WRITES[write]
    ns = trace.nimbus_ns
    if name == VIOLATOR:  # marked as the operator marks it (its metadata-only patch)
        cluster.kubectl(
            "annotate", "pod", VIOLATOR, "-n", ns, "exportgate.dev/violation=us-ear decision=x",
            "--overwrite", as_user=OPERATOR_USER,
        )  # fmt: skip
    elif cluster.kubectl("get", "pod", name, "-n", ns, check=False).returncode != 0:
        cluster.apply(pod(name, ns))  # a CPU pod, admitted as unguarded
    _grant(cluster, "ega-pod-status-writer", OPS_USER, [
        {"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]},
        {"apiGroups": [""], "resources": ["pods/status"], "verbs": ["get", "update", "patch"]},
    ])  # fmt: skip

    def status_patch(body: dict[str, Any], user: str | None = OPS_USER) -> Any:
        return cluster.kubectl(
            "patch", "pod", name, "-n", ns, "--subresource=status", "--type=merge",
            "-p", json.dumps(body), as_user=user, check=False,
        )  # fmt: skip

    before = get(cluster, "pod", name, ns)["metadata"].get("annotations") or {}
    refused = status_patch({"metadata": {"annotations": annotations}})
    assert refused.returncode != 0, refused.stdout
    assert 'admission webhook "podstatus.exportgate.dev" denied the request' in refused.stderr
    assert (get(cluster, "pod", name, ns)["metadata"].get("annotations") or {}) == before
    # A status write (the kubelet's kind) and a change of an annotation exportgate does not read
    # pass, on a violator too: they are not sent, and the pod is never evaluated for them.
    reviewed = _pod_updates_reviewed(trace)
    assert reviewed is None or reviewed >= 1  # the refused write was reviewed and counted
    condition = {"type": "PodScheduled", "status": "False", "reason": "Unschedulable"}
    assert status_patch({"status": {"conditions": [condition]}}).returncode == 0
    assert status_patch({"metadata": {"annotations": {"team": "ml"}}}).returncode == 0
    assert _pod_updates_reviewed(trace) == reviewed


def _pod_updates_reviewed(trace: Trace) -> float | None:
    """Pod UPDATE reviews the webhook answered (embedded: its metrics are on that port)."""
    if trace.shape != "embedded":
        return None
    with urllib.request.urlopen(trace.service_metrics, timeout=5) as r:
        lines = r.read().decode().splitlines()
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in lines
        if line.startswith("exportgate_webhook_requests_total{")
        and 'kind="Pod"' in line
        and 'operation="UPDATE"' in line
    )


# Red team 13b, H4 (/tmp probe bindprobe.py): a Binding's metadata.annotations are merged into
# its Pod (BindingREST.setPodHostAndAnnotations, kubernetes/kubernetes
# pkg/registry/core/pod/storage/storage.go), through pods/binding and the legacy top-level
# bindings resource, unseen by the Pod's admission.
RED_TEAM_BINDING = {
    "cdi.k8s.io/x": "nvidia.com/gpu=all",
    "io.katacontainers.config.hypervisor.machine_type": "p5.48xlarge",
    "gpu-fraction": "1",
    "exportgate.dev/decision-id": "forged",
}
SCHEDULER = "system:kube-scheduler"


def _bind(
    cluster: LocalCluster, name: str, ns: str, annotations: dict[str, str], *, user: str,
    legacy: bool = False,
) -> subprocess.CompletedProcess[str]:  # fmt: skip
    metadata: dict[str, Any] = {"name": name, "namespace": ns}
    if annotations:
        metadata["annotations"] = annotations
    binding = {"apiVersion": "v1", "kind": "Binding", "metadata": metadata,
               "target": {"apiVersion": "v1", "kind": "Node", "name": "gpu-node-1"}}  # fmt: skip
    path = f"/api/v1/namespaces/{ns}/bindings" if legacy else (
        f"/api/v1/namespaces/{ns}/pods/{name}/binding")  # fmt: skip
    return cluster.kubectl(
        "create", "--raw", path, "-f", "-", input=json.dumps(binding), as_user=user, check=False
    )


def test_a_binding_cannot_carry_the_annotations_exportgate_reads(trace: Trace) -> None:
    """Red team 13b, H4: a binder (here a user granted pods/binding and bindings; a custom
    scheduler alike) merged a CDI device, a Kata machine type, a GPU share and a forged stamp
    into a pod admitted as a plain CPU pod. The chart sends such Bindings (only those) to the
    pod-write guard, which refuses them; kube-scheduler's Binding (no annotations) is never
    sent and binds the pod."""
    cluster, ns, name = trace.cluster, trace.nimbus_ns, "bind-cpu"
    if cluster.kubectl("get", "pod", name, "-n", ns, check=False).returncode != 0:
        cluster.apply(pod(name, ns))  # a CPU pod, admitted as unguarded
    _grant(cluster, "ega-pod-binder", OPS_USER, [
        {"apiGroups": [""], "resources": ["pods/binding", "bindings"], "verbs": ["create"]},
    ])  # fmt: skip
    for legacy in (False, True):
        refused = _bind(cluster, name, ns, RED_TEAM_BINDING, user=OPS_USER, legacy=legacy)
        assert refused.returncode != 0, refused.stdout
        assert 'admission webhook "podstatus.exportgate.dev" denied the request' in refused.stderr
        assert "cdi.k8s.io/x" in refused.stderr
    stored = get(cluster, "pod", name, ns)
    assert not stored["metadata"].get("annotations")
    assert not stored["spec"].get("nodeName")
    # kube-scheduler's Binding, as DefaultBinder.Bind sends it: bound, and never reviewed.
    reviewed = _reviews(trace, "Binding")
    assert reviewed is None or reviewed >= 2  # the refused Bindings were reviewed and counted
    bound = _bind(cluster, name, ns, {}, user=SCHEDULER)
    assert bound.returncode == 0, bound.stderr
    stored = get(cluster, "pod", name, ns)
    assert stored["spec"]["nodeName"] == "gpu-node-1"
    assert not stored["metadata"].get("annotations")
    assert _reviews(trace, "Binding") == reviewed


def _reviews(trace: Trace, kind: str) -> float | None:
    """Reviews of `kind` the webhook answered (embedded: its metrics are on that port)."""
    if trace.shape != "embedded":
        return None
    with urllib.request.urlopen(trace.service_metrics, timeout=5) as r:
        lines = r.read().decode().splitlines()
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in lines
        if line.startswith("exportgate_webhook_requests_total{") and f'kind="{kind}"' in line
    )
