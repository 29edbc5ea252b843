"""Run the Kyverno admission controller out of cluster against a LocalCluster, enforcing the
benchmark's rule (bench/peers/policies/kyverno-policy.yaml).

Following Kyverno's developer guide for running it locally (DEVELOPMENT.md, "Debugging local
code", and the environment of its .vscode/launch.json), adapted to a cluster with no
controllers and no nodes:

* its CRDs, read from config/crds in the Go module cache (the binary's own release);
* the ``kyverno`` namespace with its two ConfigMaps, and a Deployment object named as
  KYVERNO_DEPLOYMENT says: Kyverno treats a missing Deployment as "being uninstalled" and then
  removes its webhooks;
* ``--serverIP=127.0.0.1:<port>`` so that Kyverno registers its own webhooks by URL;
* ``--disableCertManagerController=true`` (what its chart does with cert-manager) and a serving
  certificate of ours in the two Secrets it reads, so it serves with our certificate and puts
  our CA in the caBundle of the webhooks it registers.

Kyverno registers and updates its webhooks itself, so switching it off is deleting the
ClusterPolicy and waiting until its resource webhook no longer matches Pods.
"""

from __future__ import annotations

import base64
import contextlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bench.harness import Proc, spawn, wait_until
from bench.peers import build, routing, tenant_service
from bench.peers.system import System, applied
from tests.cluster.certs import loopback_serving_cert
from tests.cluster.local_cluster import LocalCluster, load_manifests
from tests.cluster.ports import free_port

NAMESPACE = "kyverno"
SERVICE = "kyverno-svc"
DEPLOYMENT = "kyverno-admission-controller"
CA_SECRET = f"{SERVICE}.{NAMESPACE}.svc.kyverno-tls-ca"
TLS_SECRET = f"{SERVICE}.{NAMESPACE}.svc.kyverno-tls-pair"
POLICY = Path(__file__).resolve().parent / "policies" / "kyverno-policy.yaml"
APICALL_POLICY = POLICY.with_name("kyverno-apicall-policy.yaml")
#: Kyverno's default blocklist for apiCall services minus loopback, where the tenant service of
#: the apiCall row listens (a setting a real install would not need: its service has a name).
HTTP_BLOCKLIST = "169.254.169.254/32,169.254.169.253/32,fd00:ec2::254/128,metadata.google.internal"


def crds() -> list[dict[str, Any]]:
    root = build.module_dir(build.KYVERNO) / "config" / "crds"
    docs: list[dict[str, Any]] = []
    for path in sorted(root.rglob("*.yaml")):
        docs += [d for d in load_manifests(path) if d.get("kind") == "CustomResourceDefinition"]
    return docs


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _objects(ca_pem: bytes, cert_pem: bytes, key_pem: bytes) -> list[dict[str, Any]]:
    meta = {"namespace": NAMESPACE}
    labels = {"app.kubernetes.io/name": "kyverno"}
    return [
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "kyverno", **meta},
            # Kyverno registers its webhooks with this selector (its `webhooks` setting): like
            # every B2 system, it is asked about every namespace but those that skip it.
            "data": {"webhooks": json.dumps({"namespaceSelector": routing.selector("kyverno")})},
        },
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "kyverno-metrics", **meta}},
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": CA_SECRET, **meta},
            "type": "kubernetes.io/tls",
            "data": {"tls.crt": _b64(ca_pem), "tls.key": ""},
        },
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": TLS_SECRET, **meta},
            "type": "kubernetes.io/tls",
            "data": {"tls.crt": _b64(cert_pem), "tls.key": _b64(key_pem)},
        },
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": DEPLOYMENT, **meta},
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": labels},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {"containers": [{"name": "kyverno", "image": "kyverno:bench"}]},
                },
            },
        },
    ]


def _start(binary: Path, cluster: LocalCluster, workdir: Path, port: int) -> Proc:
    argv = [
        str(binary),
        f"--kubeconfig={cluster.kubeconfig}",
        f"--serverIP=127.0.0.1:{port}",
        "--webhookServerHost=127.0.0.1",
        f"--webhookServerPort={port}",
        f"--caSecretName={CA_SECRET}",
        f"--tlsSecretName={TLS_SECRET}",
        "--disableCertManagerController=true",
        f"--backgroundServiceAccountName=system:serviceaccount:{NAMESPACE}:kyverno-background",
        f"--reportsServiceAccountName=system:serviceaccount:{NAMESPACE}:kyverno-reports",
        f"--metricsPort={free_port()}",
        "--controllerRuntimeMetricsAddress=0",
        f"--httpBlocklist={HTTP_BLOCKLIST}",
    ]
    env = {
        "KYVERNO_NAMESPACE": NAMESPACE,
        "KYVERNO_SERVICEACCOUNT_NAME": "kyverno-admission-controller",
        "KYVERNO_DEPLOYMENT": DEPLOYMENT,
        "KYVERNO_POD_NAME": "kyverno-bench",
        "KYVERNO_SVC": SERVICE,
        "INIT_CONFIG": "kyverno",
        "METRICS_CONFIG": "kyverno-metrics",
    }
    return spawn("kyverno", argv, workdir / "kyverno.log", env=env)


def pods_webhooked(cluster: LocalCluster) -> bool:
    """True while one of Kyverno's resource validating webhooks matches Pods."""
    out = cluster.kubectl("get", "validatingwebhookconfigurations", "-o", "json").stdout
    for config in json.loads(out)["items"]:
        if not config["metadata"]["name"].startswith("kyverno-resource"):
            continue
        for hook in config.get("webhooks") or []:
            for rule in hook.get("rules") or []:
                if {"pods", "*"} & set(rule.get("resources") or []):
                    return True
    return False


def _policy_system(name: str, policy: list[dict[str, Any]], label: str, proc: Proc) -> System:
    system = applied(name, policy, label=label)
    plain_off = system.off

    def off(cluster: LocalCluster) -> None:
        plain_off(cluster)
        # Kyverno narrows its own webhook when the last policy for Pods goes: wait for it, so
        # the next system's slice does not pay for a webhook call to Kyverno.
        wait_until(
            lambda: not pods_webhooked(cluster), 120, "Kyverno to drop its Pod webhook", proc
        )

    system.off = off
    system.pids = {"kyverno": proc.pid}
    return system


def _apicall_policy(url: str, ca_pem: bytes) -> list[dict[str, Any]]:
    docs = load_manifests(APICALL_POLICY)
    service = docs[0]["spec"]["rules"][0]["context"][0]["apiCall"]["service"]
    service["url"] = url
    service["caBundle"] = ca_pem.decode()
    return docs


@contextlib.contextmanager
def running(cluster: LocalCluster, workdir: Path) -> Iterator[list[System]]:
    """Kyverno started and its webhooks registered by itself, no policy applied yet; yields two
    Systems: the plain ClusterPolicy (`kyverno`) and the one asking the tenant service
    (`kyverno-apicall`), each switched on by applying its policy and off by deleting it."""
    binary = build.binary(build.KYVERNO)
    if binary is None:
        raise RuntimeError("Kyverno is not built: run make bench-peers")
    workdir.mkdir(parents=True, exist_ok=True)
    cluster.install_crds(crds(), timeout=120)
    cluster.create_namespace(NAMESPACE)
    tls = loopback_serving_cert(workdir / "tls", "kyverno")
    cluster.apply(_objects(tls.ca_pem, tls.cert_path.read_bytes(), tls.key_path.read_bytes()))
    with contextlib.ExitStack() as stack:
        service, base_url, service_ca = tenant_service.start(workdir)
        stack.callback(service.stop)
        proc = _start(binary, cluster, workdir, free_port())
        stack.callback(_remove_webhooks, cluster)
        stack.callback(proc.stop)
        wait_until(
            lambda: (
                "kyverno-resource-validating-webhook-cfg"
                in cluster.kubectl("get", "validatingwebhookconfigurations", "-o", "name").stdout
            ),
            180,
            "Kyverno to register its webhooks",
            proc,
        )
        version = build.KYVERNO.version
        plain = _policy_system(
            "kyverno",
            load_manifests(POLICY),
            f"Kyverno {version} (ClusterPolicy, validate Enforce)",
            proc,
        )
        apicall = _policy_system(
            "kyverno-apicall",
            _apicall_policy(base_url + "/tenant", service_ca),
            f"Kyverno {version}, tenant from a service via apiCall (the sidecar's analogue)",
            proc,
        )
        apicall.pids["tenant-service"] = service.pid
        yield [plain, apicall]


def _remove_webhooks(cluster: LocalCluster) -> None:
    """Kyverno's webhook configurations outlive it and would fail every later Pod CREATE."""
    for kind in ("validatingwebhookconfigurations", "mutatingwebhookconfigurations"):
        cluster.kubectl("delete", kind, "-l", "webhook.kyverno.io/managed-by=kyverno", check=False)
