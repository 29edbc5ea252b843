"""Run OPA Gatekeeper out of cluster against a LocalCluster, enforcing the benchmark's rule.

What running it outside a cluster takes (found by trying; see docs/benchmarks.md):

* its CRDs, read from the module's own rendered manifest (deploy/gatekeeper.yaml) in the Go
  module cache -- the same release as the binary;
* ``--operation=webhook`` to serve admission and ``--operation=generate`` so the template's
  constraint kind (a CRD) is created; audit, status and mutation stay off, as nothing here needs
  them;
* a Pod named after POD_NAME in its namespace, which its per-pod status objects are owned by
  (with no scheduler it stays Pending, which Gatekeeper does not mind);
* ``--disable-cert-rotation`` and a serving certificate of ours in ``--cert-dir``; the
  validating webhook is registered by URL + caBundle by the benchmark, not by Gatekeeper.
"""

from __future__ import annotations

import base64
import contextlib
import shutil
import ssl
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from bench.harness import Proc, spawn, wait_until
from bench.peers import build, tenant_service
from bench.peers.system import System, url_webhook
from tests.cluster.certs import loopback_serving_cert
from tests.cluster.local_cluster import LocalCluster, load_manifests
from tests.cluster.ports import free_port

NAMESPACE = "gatekeeper-system"
POD_NAME = "gatekeeper-bench"
POLICIES = Path(__file__).resolve().parent / "policies"
CONSTRAINT_CRD = "benchgpujurisdiction.constraints.gatekeeper.sh"
EXTDATA_CRD = "benchgpujurisdictionextdata.constraints.gatekeeper.sh"


def crds() -> list[dict[str, Any]]:
    manifest = build.module_dir(build.GATEKEEPER) / "deploy" / "gatekeeper.yaml"
    docs = yaml.safe_load_all(manifest.read_text())
    return [d for d in docs if d and d.get("kind") == "CustomResourceDefinition"]


def _pod() -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": POD_NAME, "namespace": NAMESPACE},
        "spec": {"containers": [{"name": "manager", "image": "gatekeeper:bench"}]},
    }


def _ready(port: int) -> bool:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=1.0) as response:
        return bool(response.status == 200)


def _serving(port: int) -> bool:
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with contextlib.suppress(urllib.error.HTTPError):
        urllib.request.urlopen(f"https://127.0.0.1:{port}/v1/admit", timeout=1.0, context=ctx)
    return True


def _start(binary: Path, cluster: LocalCluster, workdir: Path, port: int) -> Proc:
    tls = loopback_serving_cert(workdir / "tls", "gatekeeper")
    cert_dir = workdir / "certs"
    cert_dir.mkdir(parents=True, exist_ok=True)
    shutil.copy(tls.cert_path, cert_dir / "tls.crt")
    shutil.copy(tls.key_path, cert_dir / "tls.key")
    health = free_port()
    argv = [
        str(binary),
        f"--kubeconfig={cluster.kubeconfig}",
        "--operation=webhook",
        "--operation=generate",
        f"--port={port}",
        "--host=127.0.0.1",
        f"--cert-dir={cert_dir}",
        "--disable-cert-rotation",
        f"--health-addr=127.0.0.1:{health}",
        f"--prometheus-port={free_port()}",
        "--metrics-addr=0",
        f"--exempt-namespace={NAMESPACE}",
        "--disable-opa-builtin={http.send}",  # as its own manifest runs it
    ]
    env = {"POD_NAME": POD_NAME, "POD_NAMESPACE": NAMESPACE, "KUBECONFIG": str(cluster.kubeconfig)}
    proc = spawn("gatekeeper", argv, workdir / "gatekeeper.log", env=env)
    wait_until(lambda: _ready(health), 180, "Gatekeeper's /readyz", proc)
    wait_until(lambda: _serving(port), 60, "Gatekeeper's webhook port", proc)
    (workdir / "ca.pem").write_bytes(tls.ca_pem)
    return proc


def _template(cluster: LocalCluster, name: str, crd: str, proc: Proc) -> None:
    cluster.apply(POLICIES / f"{name}-template.yaml")
    # --operation=generate turns the template into the constraint's CRD.
    wait_until(
        lambda: cluster.kubectl("get", "crd", crd, check=False).returncode == 0,
        120,
        f"the constraint kind Gatekeeper generates from {name}-template.yaml",
        proc,
    )
    cluster.kubectl("wait", "--for=condition=Established", f"crd/{crd}")


def _system(
    name: str, constraint: Path, url: str, ca: bytes, pids: dict[str, int], label: str
) -> System:
    """The webhook registered by URL with its constraint applied (on), both removed (off): one
    Gatekeeper serves both rows, each with only its own constraint in force."""
    system = url_webhook(name, url, ca, denies=True, pids=pids, label=label)
    register, unregister = system.on, system.off
    docs = load_manifests(constraint)

    def on(cluster: LocalCluster) -> None:
        cluster.apply(docs)
        register(cluster)

    def off(cluster: LocalCluster) -> None:
        unregister(cluster)
        for doc in docs:
            cluster.delete(doc["kind"], doc["metadata"]["name"])

    system.on, system.off = on, off
    return system


def _provider(url: str, ca_pem: bytes) -> dict[str, Any]:
    return {
        "apiVersion": "externaldata.gatekeeper.sh/v1beta1",
        "kind": "Provider",
        "metadata": {"name": "bench-tenants"},
        "spec": {"url": url, "caBundle": base64.b64encode(ca_pem).decode(), "timeout": 3},
    }


@contextlib.contextmanager
def running(cluster: LocalCluster, workdir: Path) -> Iterator[list[System]]:
    """Gatekeeper started with both templates and the tenant service as its external data
    provider, no constraint in force and no webhook registered; yields two Systems: the plain
    constraint (`gatekeeper`) and the one asking the provider (`gatekeeper-extdata`)."""
    binary = build.binary(build.GATEKEEPER)
    if binary is None:
        raise RuntimeError("Gatekeeper is not built: run make bench-peers")
    workdir.mkdir(parents=True, exist_ok=True)
    cluster.install_crds(crds(), timeout=120)
    cluster.create_namespace(NAMESPACE)
    cluster.apply(_pod())
    with contextlib.ExitStack() as stack:
        service, base_url, service_ca = tenant_service.start(workdir)
        stack.callback(service.stop)
        port = free_port()
        proc = _start(binary, cluster, workdir, port)
        stack.callback(proc.stop)
        _template(cluster, "gatekeeper", CONSTRAINT_CRD, proc)
        _template(cluster, "gatekeeper-extdata", EXTDATA_CRD, proc)
        cluster.apply(_provider(base_url + "/gatekeeper", service_ca))
        ca = (workdir / "ca.pem").read_bytes()
        url = f"https://127.0.0.1:{port}/v1/admit"
        version = "Gatekeeper v" + build.GATEKEEPER.version.lstrip("v")
        plain = _system(
            "gatekeeper",
            POLICIES / "gatekeeper-constraint.yaml",
            url,
            ca,
            {"gatekeeper": proc.pid},
            f"{version} (Rego constraint)",
        )
        extdata = _system(
            "gatekeeper-extdata",
            POLICIES / "gatekeeper-extdata-constraint.yaml",
            url,
            ca,
            {"gatekeeper": proc.pid, "tenant-service": service.pid},
            f"{version}, tenant from an external data provider (the sidecar's analogue)",
        )
        yield [plain, extdata]
