"""Mutual TLS through the real kube-apiserver: the API server authenticates to the webhook.

A kube-apiserver of its own is started with ``--admission-control-config-file``: an
AdmissionConfiguration whose ValidatingAdmissionWebhook plugin reads a kubeconfig giving the API
server a client certificate for the webhook's host:port, the way a platform engineer configures
it (https://kubernetes.io/docs/reference/access-authn-authz/extensible-admission-controllers/
#authenticate-apiservers). The webhook runs as its real program with ``--client-ca`` and
``--client-name kube-apiserver``. A Pod created through the API server is judged and logged; a
caller without the certificate gets no answer and leaves no record.
"""

from __future__ import annotations

import base64
import json
import shutil
import ssl
import sys
import tempfile
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.cluster.certs import CertificateAuthority, loopback_serving_cert
from tests.cluster.local_cluster import LocalCluster, webhook_rule
from tests.cluster.ports import free_port
from tests.cluster.workloads import gpu_pod
from tests.webhook.conftest import EXAMPLE_TENANTS, read_decision_log
from tests.webhook.test_cluster_e2e import _spawn, _stop, _wait_ready

pytestmark = pytest.mark.cluster

API_SERVER = "kube-apiserver"
HOOK = "exportgate-mtls"
NIMBUS, ACME = "mtls-nimbus", "mtls-acme"
H100 = "NVIDIA-H100-80GB-HBM3"


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def admission_configuration(directory: Path, webhook_host: str, cert: bytes, key: bytes) -> Path:
    """The API server's side: an AdmissionConfiguration naming, for both webhook plugins, a
    kubeconfig whose user for `webhook_host` (the URL's host:port) is a client certificate."""
    kubeconfig = directory / "webhook-auth.kubeconfig"
    kubeconfig.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "users": [
                    {
                        "name": webhook_host,
                        "user": {
                            "client-certificate-data": _b64(cert),
                            "client-key-data": _b64(key),
                        },
                    }
                ],
            }
        )
    )
    kubeconfig.chmod(0o600)
    plugin = {
        "apiVersion": "apiserver.config.k8s.io/v1",
        "kind": "WebhookAdmissionConfiguration",
        "kubeConfigFile": str(kubeconfig),
    }
    config = directory / "admission.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "apiserver.config.k8s.io/v1",
                "kind": "AdmissionConfiguration",
                "plugins": [
                    {"name": "ValidatingAdmissionWebhook", "configuration": plugin},
                    {"name": "MutatingAdmissionWebhook", "configuration": plugin},
                ],
            }
        )
    )
    return config


@dataclass
class MtlsStack:
    cluster: LocalCluster
    decision_log: Path
    port: int
    probe_port: int
    serving_ca: Path

    def metrics(self) -> str:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.probe_port}/metrics") as r:
            return str(r.read().decode())


@pytest.fixture(scope="module")
def mtls_stack(
    kube_binaries: dict[str, Path], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[MtlsStack]:
    work = tmp_path_factory.mktemp("mtls-e2e")
    short = Path(tempfile.mkdtemp(prefix="egw-mtls-", dir="/tmp"))  # Unix socket path limit
    port, probe_port = free_port(), free_port()
    serving = loopback_serving_cert(work / "tls")
    client_ca = CertificateAuthority("apiserver-webhook-client-ca")
    client_ca_file = work / "client-ca.crt"
    client_ca_file.write_bytes(client_ca.cert_pem)
    apiserver = client_ca.issue(API_SERVER, client=True)
    admission = admission_configuration(
        work, f"127.0.0.1:{port}", apiserver.cert_pem, apiserver.key_pem
    )
    cluster = LocalCluster(
        work / "cluster",
        kube_binaries,
        extra_apiserver_args=[f"--admission-control-config-file={admission}"],
    )
    socket = short / "policy.sock"
    decision_log = work / "decisions.jsonl"
    logs = [work / "sidecar.log", work / "webhook.log"]
    bin_dir = Path(sys.executable).parent
    processes = []
    with cluster:
        for name, tenant in ((NIMBUS, "nimbus"), (ACME, "acme")):
            cluster.create_namespace(name, labels={"exportgate.dev/tenant": tenant})
        try:
            processes.append(
                _spawn(
                    [
                        str(bin_dir / "exportgate-sidecar"),
                        "--tenants", str(EXAMPLE_TENANTS),
                        "--decision-log", str(decision_log),
                        "--listen", f"unix://{socket}",
                    ],
                    logs[0],
                )
            )  # fmt: skip
            processes.append(
                _spawn(
                    [
                        str(bin_dir / "exportgate-webhook"),
                        "--listen", f"127.0.0.1:{port}",
                        "--probe-listen", f"127.0.0.1:{probe_port}",
                        "--tls-cert", str(serving.cert_path),
                        "--tls-key", str(serving.key_path),
                        "--client-ca", str(client_ca_file),
                        "--client-name", API_SERVER,
                        "--sidecar", f"unix://{socket}",
                        "--kubeconfig", str(cluster.kubeconfig),
                        "--http2",
                    ],
                    logs[1],
                )
            )  # fmt: skip
            # The probes answer on the plain port without any client certificate.
            _wait_ready(probe_port, processes, logs)
            cluster.register_validating_webhook(
                HOOK,
                f"https://127.0.0.1:{port}/validate",
                serving.ca_pem,
                [webhook_rule(["CREATE", "UPDATE"], ["pods"])],
                timeout_seconds=10,
            )
            stack = MtlsStack(cluster, decision_log, port, probe_port, serving.ca_path)

            def active() -> bool:
                probe = _create(stack, _pod("probe", NIMBUS), dry_run=True)
                if "exportgate denied" in probe.stderr:
                    return True
                raise AssertionError(probe.stderr or probe.stdout)

            cluster.wait_for_webhook(active, timeout=60)
            yield stack
        finally:
            cluster.kubectl(
                "delete", "validatingwebhookconfiguration", HOOK, "--ignore-not-found", check=False
            )
            for process in processes:
                _stop(process)
            shutil.rmtree(short, ignore_errors=True)


def _pod(name: str, namespace: str) -> dict[str, Any]:
    return gpu_pod(
        name, H100, namespace=namespace, container="main", image="registry.example.com/app:1.0"
    )


def _create(stack: MtlsStack, manifest: Any, *, dry_run: bool = False) -> Any:
    args = ["create", "-f", "-", *(["--dry-run=server"] if dry_run else [])]
    return stack.cluster.kubectl(*args, input=yaml.safe_dump(manifest), check=False)


def _decisions(stack: MtlsStack) -> list[dict[str, Any]]:
    return [r for r in read_decision_log(stack.decision_log) if r.get("type") == "decision"]


def _refused(stack: MtlsStack) -> float:
    total = 0.0
    for line in stack.metrics().splitlines():
        if line.startswith("exportgate_webhook_client_certificates_refused_total"):
            total += float(line.rpartition(" ")[2])
    return total


def test_the_api_server_authenticates_and_the_pod_is_judged(mtls_stack: MtlsStack) -> None:
    refused_before = _refused(mtls_stack)
    denied = _create(mtls_stack, _pod("train", NIMBUS))
    assert denied.returncode != 0
    assert f'exportgate denied Pod "{NIMBUS}/train" for tenant "nimbus"' in denied.stderr
    admitted = _create(mtls_stack, _pod("serve", ACME))
    assert admitted.returncode == 0, admitted.stderr
    judged = {
        (r["object"]["namespace"], r["object"]["name"], r["action"]) for r in _decisions(mtls_stack)
    }
    assert (NIMBUS, "train", "deny") in judged, judged
    assert (ACME, "serve", "allow") in judged, judged
    # Every call the API server made carried its certificate: none was refused.
    assert _refused(mtls_stack) == refused_before


def test_a_caller_without_the_certificate_leaves_no_record(mtls_stack: MtlsStack) -> None:
    records_before = len(_decisions(mtls_stack))
    refused_before = _refused(mtls_stack)
    body = {
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": "forged-1",
            "kind": {"group": "", "version": "v1", "kind": "Pod"},
            "resource": {"group": "", "version": "v1", "resource": "pods"},
            "operation": "CREATE",
            "namespace": NIMBUS,
            "name": "forged",
            "userInfo": {"username": "someone"},
            "object": _pod("forged", NIMBUS),
        },
    }
    context = ssl.create_default_context(cafile=str(mtls_stack.serving_ca))
    request = urllib.request.Request(
        f"https://127.0.0.1:{mtls_stack.port}/validate",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )
    with pytest.raises((urllib.error.URLError, ssl.SSLError, ConnectionError)):
        urllib.request.urlopen(request, context=context, timeout=10)
    assert _refused(mtls_stack) == refused_before + 1
    assert len(_decisions(mtls_stack)) == records_before
