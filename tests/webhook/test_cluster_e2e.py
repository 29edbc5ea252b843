"""End to end through the real API server: kubectl -> kube-apiserver -> webhook -> sidecar.

The sidecar and the webhook run as their real command-line programs (`exportgate-sidecar`,
`exportgate-webhook`), in subprocesses, exactly as a pod would run them: the sidecar on a Unix
socket with the example tenants, the webhook over TLS with a loopback certificate (its CA is the
caBundle), watching namespaces in the test cluster. A ValidatingWebhookConfiguration and a
MutatingWebhookConfiguration point the API server at it. Tenants act through `kubectl --as`.
"""

from __future__ import annotations

import json
import shutil
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
import yaml

from tests.cluster.certs import ServingCert, loopback_serving_cert
from tests.cluster.local_cluster import LocalCluster, webhook_rule
from tests.cluster.ports import free_port
from tests.cluster.stand_in_crds import INFERENCESERVICE_CRD, NODEPOOL_CRD, WORKFLOW_CRD
from tests.cluster.workloads import gpu_pod, kserve_llm
from tests.webhook.conftest import EXAMPLE_TENANTS, ROLLOUT_POLICY, read_decision_log

pytestmark = pytest.mark.cluster

TENANT = "alice@nimbus.example"
ACME_USER = "bob@acme.example"
NIMBUS, ACME = "e2e-nimbus", "e2e-acme"
H100 = "NVIDIA-H100-80GB-HBM3"
HOOKS = "exportgate-e2e"

CRDS = [NODEPOOL_CRD, INFERENCESERVICE_CRD, WORKFLOW_CRD]


@dataclass
class Stack:
    cluster: LocalCluster
    decision_log: Path
    probe_port: int

    def kubectl(self, *args: str, manifest: Any = None, user: str | None = TENANT) -> Any:
        groups = ("system:authenticated",) if user else ()
        return self.cluster.kubectl(
            *args,
            input=yaml.safe_dump(manifest) if manifest is not None else None,
            as_user=user,
            as_groups=groups,
            check=False,
        )

    def create(self, manifest: Any, user: str | None = TENANT) -> subprocess.CompletedProcess[str]:
        proc: subprocess.CompletedProcess[str] = self.kubectl(
            "create", "-f", "-", manifest=manifest, user=user
        )
        return proc

    def metrics(self) -> str:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.probe_port}/metrics") as r:
            return str(r.read().decode())


def _spawn(argv: list[str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT)


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(5)


def _wait_ready(port: int, processes: list[subprocess.Popen[bytes]], logs: list[Path]) -> None:
    deadline = time.monotonic() + 60
    while True:
        for process, log in zip(processes, logs, strict=True):
            assert process.poll() is None, log.read_text()
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        assert time.monotonic() < deadline, "\n".join(log.read_text()[-3000:] for log in logs)
        time.sleep(0.2)


def _tenant_rbac() -> list[dict[str, Any]]:
    """What a tenant may do in its namespace. The built-in `edit` role is aggregated by the
    controller-manager, which the test cluster does not run, so spell the rules out."""
    role = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": {"name": "e2e-tenant"},
        "rules": [
            {"apiGroups": [""], "resources": ["pods", "pods/ephemeralcontainers"], "verbs": ["*"]},
            {"apiGroups": ["argoproj.io"], "resources": ["workflows"], "verbs": ["*"]},
            {"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["*"]},
            {"apiGroups": ["serving.kserve.io"], "resources": ["inferenceservices"],
             "verbs": ["*"]},
        ],
    }  # fmt: skip
    bindings = [
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": {"name": "e2e-tenant", "namespace": namespace},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": "e2e-tenant",
            },
            "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": user}],
        }
        for namespace, user in ((NIMBUS, TENANT), (ACME, ACME_USER))
    ]
    # Namespaces too, so that the label guard, not RBAC, is what stops a tenant rebinding one.
    namespaces = [
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRole",
            "metadata": {"name": "e2e-namespace-edit"},
            "rules": [
                {
                    "apiGroups": [""],
                    "resources": ["namespaces"],
                    "verbs": ["get", "patch", "update", "create"],
                }
            ],
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": "e2e-namespace-edit"},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": "e2e-namespace-edit",
            },
            "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": TENANT}],
        },
    ]
    return [role, *bindings, *namespaces]


@pytest.fixture(scope="module")
def stack(
    kube_cluster: LocalCluster, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    work = tmp_path_factory.mktemp("webhook-e2e")
    short = Path(tempfile.mkdtemp(prefix="egw-e2e-", dir="/tmp"))  # Unix socket path limit
    policies = work / "policies"
    policies.mkdir()
    (policies / "rollout.yaml").write_text(ROLLOUT_POLICY)
    cert: ServingCert = loopback_serving_cert(work / "tls")
    kube_cluster.install_crds(CRDS)
    for name, tenant in ((NIMBUS, "nimbus"), (ACME, "acme")):
        kube_cluster.create_namespace(name, labels={"exportgate.dev/tenant": tenant})
    kube_cluster.apply(_tenant_rbac())

    bin_dir = Path(sys.executable).parent
    socket = short / "policy.sock"
    decision_log = work / "decisions.jsonl"
    port, probe_port = free_port(), free_port()
    logs = [work / "sidecar.log", work / "webhook.log"]
    sidecar = _spawn(
        [
            str(bin_dir / "exportgate-sidecar"),
            "--tenants", str(EXAMPLE_TENANTS),
            "--policies", str(policies),
            "--decision-log", str(decision_log),
            "--listen", f"unix://{socket}",
        ],
        logs[0],
    )  # fmt: skip
    webhook = _spawn(
        [
            str(bin_dir / "exportgate-webhook"),
            "--listen", f"127.0.0.1:{port}",
            "--probe-listen", f"127.0.0.1:{probe_port}",
            "--tls-cert", str(cert.cert_path),
            "--tls-key", str(cert.key_path),
            "--sidecar", f"unix://{socket}",
            "--kubeconfig", str(kube_cluster.kubeconfig),
            "--budget", "2",
            "--http2",  # opt-in: test_the_api_server_calls_the_webhook_over_http2
            # Both phases: this file covers the opt-in stamp and its one-record reuse;
            # tests/charts/test_admission.py covers the default, validating only.
            "--mutate",
        ],
        logs[1],
    )  # fmt: skip
    try:
        _wait_ready(probe_port, [sidecar, webhook], logs)
        url = f"https://127.0.0.1:{port}"
        guarded = [
            webhook_rule(["CREATE", "UPDATE"], ["pods", "pods/ephemeralcontainers"]),
            webhook_rule(["CREATE", "UPDATE"], ["workflows"], api_groups=["argoproj.io"]),
            webhook_rule(["CREATE", "UPDATE"], ["deployments"], api_groups=["apps"]),
            webhook_rule(["CREATE", "UPDATE"], ["nodepools"], api_groups=["karpenter.sh"]),
            webhook_rule(
                ["CREATE", "UPDATE"], ["inferenceservices"], api_groups=["serving.kserve.io"]
            ),
        ]
        tenancy = webhook_rule(["CREATE", "UPDATE"], ["namespaces"])
        kube_cluster.register_mutating_webhook(
            HOOKS, url + "/mutate", cert.ca_pem, guarded, timeout_seconds=10
        )
        kube_cluster.register_validating_webhook(
            HOOKS, url + "/validate", cert.ca_pem, [*guarded, tenancy], timeout_seconds=10
        )
        stack = Stack(kube_cluster, decision_log, probe_port)

        def active() -> bool:
            probe = stack.kubectl(
                "create", "--dry-run=server", "-f", "-", manifest=_pod("probe", NIMBUS, H100)
            )
            if "exportgate denied" in probe.stderr:
                return True
            raise AssertionError(probe.stderr or probe.stdout)  # shown if it never works

        kube_cluster.wait_for_webhook(active, timeout=60)
        yield stack
    finally:
        for kind in ("validatingwebhookconfiguration", "mutatingwebhookconfiguration"):
            kube_cluster.kubectl("delete", kind, HOOKS, "--ignore-not-found", check=False)
        _stop(webhook)
        _stop(sidecar)
        shutil.rmtree(short, ignore_errors=True)


def _pod(name: str, namespace: str, product: str) -> dict[str, Any]:
    return gpu_pod(
        name, product, namespace=namespace, container="main", image="registry.example.com/app:1.0"
    )


def _deployment(name: str, namespace: str, product: str) -> dict[str, Any]:
    pod = _pod(name, namespace, product)
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}}, "spec": pod["spec"]},
        },
    }


def _nodepool(name: str, tenant: str) -> dict[str, Any]:
    return {
        "apiVersion": "karpenter.sh/v1",
        "kind": "NodePool",
        "metadata": {"name": name, "labels": {"exportgate.dev/tenant": tenant}},
        "spec": {
            "template": {
                "spec": {
                    "nodeClassRef": {"group": "karpenter.k8s.aws", "kind": "EC2NodeClass",
                                     "name": "default"},
                    "requirements": [
                        {"key": "karpenter.k8s.aws/instance-family", "operator": "In",
                         "values": ["p5"]}
                    ],
                }
            }
        },
    }  # fmt: skip


def _assert_denied(proc: subprocess.CompletedProcess[str], kind: str, subject: str) -> None:
    assert proc.returncode != 0, proc.stdout
    err = proc.stderr
    assert 'admission webhook "exportgate-e2e.exportgate.test" denied the request' in err, err
    assert f'exportgate denied {kind} "{subject}" for tenant "nimbus"' in err
    assert "nvidia-h100-sxm" in err
    assert "Rule ear-3a090-d5-macau (15 CFR 744.23" in err
    assert "Fix: " in err
    assert "Decision id: " in err


@pytest.mark.parametrize(
    ("kind", "make", "subject", "user"),
    [
        ("Pod", lambda: _pod("train", NIMBUS, H100), f"{NIMBUS}/train", TENANT),
        ("Deployment", lambda: _deployment("serve", NIMBUS, H100), f"{NIMBUS}/serve", TENANT),
        # Cluster-scoped and bound by its own label, so only the platform may create it at all.
        ("NodePool", lambda: _nodepool("nimbus-gpu", "nimbus"), "nimbus-gpu", None),
        (
            "InferenceService",
            lambda: kserve_llm("llm", namespace=NIMBUS),
            f"{NIMBUS}/llm",
            TENANT,
        ),
    ],
)
def test_restricted_tenant_is_denied_with_the_message(
    stack: Stack, kind: str, make: Any, subject: str, user: str | None
) -> None:
    proc = stack.create(make(), user=user)
    _assert_denied(proc, kind, subject)
    name = subject.rpartition("/")[2]
    got = stack.kubectl("get", kind.lower(), name, *(["-n", NIMBUS] if "/" in subject else []),
                        user=None)  # fmt: skip
    assert got.returncode != 0 and "NotFound" in got.stderr  # nothing was stored


def test_allowed_workload_is_stored_with_its_decision(stack: Stack) -> None:
    proc = stack.create(_pod("serve", ACME, H100), user=ACME_USER)
    assert proc.returncode == 0, proc.stderr
    stored = json.loads(stack.kubectl("get", "pod", "serve", "-n", ACME, "-o", "json",
                                      user=None).stdout)  # fmt: skip
    annotations = stored["metadata"]["annotations"]
    decision_id = annotations["exportgate.dev/decision-id"]
    assert annotations["exportgate.dev/accelerator-class"] == "3A090.a"
    records = [r for r in read_decision_log(stack.decision_log) if r.get("id") == decision_id]
    assert len(records) == 1
    assert records[0]["action"] == "allow"
    assert records[0]["object"]["name"] == "serve"
    assert records[0]["user"] == ACME_USER
    assert annotations["exportgate.dev/policy-version"] == records[0]["policyVersion"]


def _records_for(stack: Stack, name_prefix: str) -> list[dict[str, Any]]:
    return [
        r
        for r in read_decision_log(stack.decision_log)
        if r.get("type") == "decision"
        and str((r.get("object") or {}).get("name", "")).startswith(name_prefix)
    ]


def test_an_admitted_pod_is_decided_and_logged_once_for_both_phases(stack: Stack) -> None:
    # /mutate decides and stamps; /validate names the stamped id and the sidecar answers with
    # that same decision: one admission, one record (it used to be two).
    proc = stack.create(_pod("once", ACME, H100), user=ACME_USER)
    assert proc.returncode == 0, proc.stderr
    stored = json.loads(stack.kubectl("get", "pod", "once", "-n", ACME, "-o", "json",
                                      user=None).stdout)  # fmt: skip
    records = _records_for(stack, "once")
    assert [r["id"] for r in records] == [stored["metadata"]["annotations"][
        "exportgate.dev/decision-id"]]  # fmt: skip
    assert records[0]["operation"] == "CREATE"
    # A generateName pod: the API server names it between the phases; still one record.
    generated = {**_pod("x", ACME, H100)}
    generated["metadata"] = {"generateName": "gen-once-", "namespace": ACME}
    proc = stack.create(generated, user=ACME_USER)
    assert proc.returncode == 0, proc.stderr
    assert len(_records_for(stack, "gen-once-")) == 1


def test_warn_policy_shows_in_kubectl_output(stack: Stack) -> None:
    proc = stack.create(_pod("l4", ACME, "NVIDIA-L4"), user=ACME_USER)
    assert proc.returncode == 0, proc.stderr
    assert "Warning: exportgate: admitted with a warning" in proc.stderr
    assert "Rule l4-review-sg" in proc.stderr
    assert "pod/l4 created" in proc.stdout


def test_tenant_cannot_rebind_its_namespace(stack: Stack) -> None:
    # RBAC lets the tenant edit namespaces (see _tenant_rbac): the webhook is what refuses.
    proc = stack.kubectl(
        "label", "namespace", NIMBUS, "exportgate.dev/tenant=acme", "--overwrite", user=TENANT
    )
    assert proc.returncode != 0
    assert "exportgate refused this request: changing the label exportgate.dev/tenant" in (
        proc.stderr
    ), proc.stderr
    created = stack.create(
        {"apiVersion": "v1", "kind": "Namespace",
         "metadata": {"name": "e2e-stolen", "labels": {"exportgate.dev/tenant": "acme"}}},
        user=TENANT,
    )  # fmt: skip
    assert created.returncode != 0
    assert "exportgate refused this request" in created.stderr
    jsonpath = "jsonpath={.metadata.labels.exportgate\\.dev/tenant}"
    label = stack.kubectl("get", "namespace", NIMBUS, "-o", jsonpath, user=None)
    assert label.stdout == "nimbus"


def test_metrics_after_the_run(stack: Stack) -> None:
    text = stack.metrics()
    assert 'kind="Pod",operation="CREATE"' in text
    assert "exportgate_webhook_namespace_cache_hit_ratio" in text
    ratio = [
        float(line.split()[-1])
        for line in text.splitlines()
        if line.startswith("exportgate_webhook_namespace_cache_hit_ratio ")
    ]
    assert ratio and ratio[0] > 0.5  # the watch answered nearly every lookup


def test_namespaces_bound_after_start_are_followed(stack: Stack) -> None:
    # The platform binds a new namespace to nimbus while the webhook runs: the watch (or the
    # direct read of a namespace not seen yet) must apply that binding, not "unbound".
    namespace = "e2e-late-nimbus"
    stack.cluster.create_namespace(namespace, labels={"exportgate.dev/tenant": "nimbus"})
    proc = stack.create(_pod("late", namespace, H100), user=None)
    assert proc.returncode != 0
    assert f'exportgate denied Pod "{namespace}/late" for tenant "nimbus"' in proc.stderr
    # Rebinding by the platform (admin is in system:masters) is allowed and takes effect.
    relabel = stack.kubectl(
        "label", "namespace", namespace, "exportgate.dev/tenant=acme", "--overwrite", user=None
    )
    assert relabel.returncode == 0, relabel.stderr
    deadline = time.monotonic() + 10
    while True:
        proc = stack.create(_pod("late", namespace, H100), user=None)
        if proc.returncode == 0:
            break
        assert time.monotonic() < deadline, proc.stderr
        time.sleep(0.2)


# --- fail closed on the unknown (issue 10), through the real API server -------------------


def _records_named(stack: Stack, name: str) -> list[dict[str, Any]]:
    records = read_decision_log(stack.decision_log)
    return [r for r in records if (r.get("object") or {}).get("name") == name]


def _plain_pod(name: str, **spec: Any) -> dict[str, Any]:
    container = {"name": "main", "image": "registry.example.com/app:1.0"}
    container.update(spec.pop("container", {}))
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": NIMBUS},
        "spec": {"containers": [container], **spec},
    }


UNKNOWN = [
    ("visible-devices", _plain_pod(
        "fc-visible", container={"env": [{"name": "NVIDIA_VISIBLE_DEVICES", "value": "all"}]})),
    ("privileged", _plain_pod(
        "fc-privileged", container={"securityContext": {"privileged": True}})),
    ("host-dev", _plain_pod("fc-hostdev", volumes=[{"name": "d", "hostPath": {"path": "/dev"}}])),
    ("renamed-resource", _plain_pod(
        "fc-renamed", container={"resources": {"limits": {"nvidia.com/H100_SXM5_80GB": "1"}}})),
    ("negative-affinity", _plain_pod(
        "fc-notin",
        container={"resources": {"limits": {"nvidia.com/gpu": "1"}}},
        affinity={"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
            "nodeSelectorTerms": [{"matchExpressions": [
                {"key": "nvidia.com/gpu.product", "operator": "NotIn",
                 "values": ["H100", "H200", "B200", "A100"]}]}]}}})),
    ("missing-claim-template", _plain_pod(
        "fc-claim", resourceClaims=[{"name": "g", "resourceClaimTemplateName": "nowhere"}],
        container={"resources": {"claims": [{"name": "g"}]}})),
    ("argo-workflow", {
        "apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow",
        "metadata": {"name": "fc-argo", "namespace": NIMBUS},
        "spec": {"entrypoint": "t", "templates": [{"name": "t", "container": {
            "image": "registry.example.com/train:1",
            "resources": {"limits": {"nvidia.com/gpu": "8"}}}}]}}),
]  # fmt: skip


@pytest.mark.parametrize("obj", [u[1] for u in UNKNOWN], ids=[u[0] for u in UNKNOWN])
def test_what_exportgate_cannot_identify_is_denied_with_a_record(
    stack: Stack, obj: dict[str, Any]
) -> None:
    proc = stack.create(obj)
    assert proc.returncode != 0, proc.stdout
    assert "exportgate denied" in proc.stderr, proc.stderr
    assert "Decision id: " in proc.stderr
    records = _records_named(stack, obj["metadata"]["name"])
    assert records and records[-1]["action"] == "deny"
    assert records[-1]["tenant"] == "nimbus"


def _device_class(name: str, expression: str) -> dict[str, Any]:
    return {
        "apiVersion": "resource.k8s.io/v1",
        "kind": "DeviceClass",
        "metadata": {"name": name},
        "spec": {"selectors": [{"cel": {"expression": expression}}]},
    }


def _claim_template(name: str, device_class: str) -> dict[str, Any]:
    return {
        "apiVersion": "resource.k8s.io/v1",
        "kind": "ResourceClaimTemplate",
        "metadata": {"name": name, "namespace": NIMBUS},
        "spec": {"spec": {"devices": {"requests": [
            {"name": "dev", "exactly": {"deviceClassName": device_class}}]}}},
    }  # fmt: skip


def test_pods_are_judged_by_the_claim_templates_and_device_classes_they_name(
    stack: Stack,
) -> None:
    """The webhook reads the DRA objects from the API server (they are not guarded here)."""
    for obj in (
        _device_class("e2e-big-gpus", 'device.driver == "gpu.nvidia.com"'),
        _device_class("e2e-nics", 'device.driver == "dra.net"'),
        _claim_template("gpu-tmpl", "e2e-big-gpus"),
        _claim_template("nic-tmpl", "e2e-nics"),
    ):
        created = stack.create(obj, user=None)
        assert created.returncode == 0, created.stderr
    gpu = _plain_pod("dra-gpu", resourceClaims=[{"name": "g", "resourceClaimTemplateName":
                                                  "gpu-tmpl"}],
                     container={"resources": {"claims": [{"name": "g"}]}})
    denied = stack.create(gpu)
    assert denied.returncode != 0 and "exportgate denied" in denied.stderr, denied.stderr
    nic = _plain_pod("dra-nic", resourceClaims=[{"name": "nic", "resourceClaimTemplateName":
                                                  "nic-tmpl"}],
                     container={"resources": {"claims": [{"name": "nic"}]}})
    admitted = stack.create(nic)
    assert admitted.returncode == 0, admitted.stderr


def test_an_ephemeral_container_with_device_access_is_denied(stack: Stack) -> None:
    created = stack.create(_plain_pod("debug-me"))
    assert created.returncode == 0, created.stderr
    patch = {"spec": {"ephemeralContainers": [{
        "name": "debugger", "image": "busybox",
        "env": [{"name": "NVIDIA_VISIBLE_DEVICES", "value": "all"}]}]}}  # fmt: skip
    proc = stack.kubectl(
        "patch", "pod", "debug-me", "-n", NIMBUS, "--subresource=ephemeralcontainers",
        "--type=strategic", "-p", json.dumps(patch),
    )  # fmt: skip
    assert proc.returncode != 0, proc.stdout
    assert "exportgate denied" in proc.stderr, proc.stderr


def test_the_api_server_calls_the_webhook_over_http2(stack: Stack) -> None:
    """kube-apiserver's webhook client takes the HTTP/2 the webhook offers over ALPN with
    --http2 (and then not HTTP/1.1): what webhook/exportgate_webhook/http2.py is for."""
    lines = [
        line for line in stack.metrics().splitlines()
        if line.startswith("exportgate_webhook_connections_total{")
    ]  # fmt: skip
    counts = {line.split('"')[1]: float(line.split()[-1]) for line in lines}
    assert counts.get("h2", 0) >= 1, lines
    assert counts.get("http/1.1", 0) == 0, lines
