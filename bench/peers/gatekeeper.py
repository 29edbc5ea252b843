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

import contextlib
import shutil
import ssl
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from bench.harness import Proc, free_port, spawn, wait_until
from bench.peers import build
from bench.peers.system import System, url_webhook
from tests.cluster.certs import loopback_serving_cert
from tests.cluster.local_cluster import LocalCluster

NAMESPACE = "gatekeeper-system"
POD_NAME = "gatekeeper-bench"
POLICIES = Path(__file__).resolve().parent / "policies"
CONSTRAINT_CRD = "benchgpujurisdiction.constraints.gatekeeper.sh"


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


@contextlib.contextmanager
def running(cluster: LocalCluster, workdir: Path) -> Iterator[list[System]]:
    """Gatekeeper started, its template and constraint in place, webhook not yet registered;
    yields the one System that registers (activate) and removes (deactivate) the webhook."""
    binary = build.binary(build.GATEKEEPER)
    if binary is None:
        raise RuntimeError("Gatekeeper is not built: run make bench-peers")
    workdir.mkdir(parents=True, exist_ok=True)
    cluster.install_crds(crds(), timeout=120)
    cluster.create_namespace(NAMESPACE)
    cluster.apply(_pod())
    port = free_port()
    proc = _start(binary, cluster, workdir, port)
    try:
        cluster.apply(POLICIES / "gatekeeper-template.yaml")
        # --operation=generate turns the template into the constraint's CRD.
        wait_until(
            lambda: cluster.kubectl("get", "crd", CONSTRAINT_CRD, check=False).returncode == 0,
            120,
            "the constraint kind Gatekeeper generates from the template",
            proc,
        )
        cluster.kubectl("wait", "--for=condition=Established", f"crd/{CONSTRAINT_CRD}")
        cluster.apply(POLICIES / "gatekeeper-constraint.yaml")
        ca = (workdir / "ca.pem").read_bytes()
        yield [
            url_webhook(
                "gatekeeper",
                f"https://127.0.0.1:{port}/v1/admit",
                ca,
                denies=True,
                pids={"gatekeeper": proc.pid},
                label="Gatekeeper v" + build.GATEKEEPER.version.lstrip("v") + " (Rego constraint)",
            )
        ]
    finally:
        proc.stop()
