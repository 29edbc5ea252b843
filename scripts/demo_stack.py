"""Bring up (and always tear down) everything the demo runs against.

The real local control plane from `tests.cluster` (etcd + kube-apiserver), exportgate's CRDs,
the policy sidecar and the admission webhook as separate processes talking over a real Unix
socket and real TLS, the webhook registered with the API server by URL + caBundle, and the
operator when it is installed. Every process runs in its own process group with a parent-death
signal (`tests.cluster.local_cluster.spawn`), and `Stack.stop()` runs from a `finally`, so
neither Ctrl-C nor a failure leaves anything running.
"""

from __future__ import annotations

import contextlib
import http.client
import importlib.util
import shutil
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from scripts import demo_objects as objects
from scripts.demo_ui import Console
from tests.cluster import build
from tests.cluster.certs import ServingCert, loopback_serving_cert
from tests.cluster.local_cluster import (
    ClusterError,
    KubectlError,
    LocalCluster,
    ManagedProcess,
    load_manifests,
    spawn,
)
from tests.cluster.ports import free_port

VENV_BIN = Path(sys.executable).parent
READY_TIMEOUT_S = 90.0
WEBHOOK_TIMEOUT_S = 10  # the API server's limit; the webhook's own budget stays below it
WEBHOOK_BUDGET_S = 5.0  # generous: the demo often shares two cores with a compiler


class StackError(RuntimeError):
    """A component did not come up; the message carries its log tail."""


def console_script(name: str) -> Path | None:
    path = VENV_BIN / name
    if path.is_file():
        return path
    found = shutil.which(name)
    return Path(found) if found else None


def operator_installed() -> bool:
    # The console script is declared in pyproject before the operator exists; only a package
    # with its entry module counts as installed.
    try:
        found = importlib.util.find_spec("exportgate_operator.__main__") is not None
    except ImportError:
        found = False
    return found and console_script("exportgate-operator") is not None


class Stack:
    def __init__(self, workdir: Path, console: Console) -> None:
        self.workdir = workdir
        self.console = console
        self.cluster: LocalCluster | None = None
        self.processes: list[ManagedProcess] = []
        self.decision_log = workdir / "decisions" / "decisions.jsonl"
        self.socket = workdir / "run" / "policy.sock"
        self.serving: ServingCert | None = None
        self.webhook_port = 0
        self.probe_port = 0
        self.operator: ManagedProcess | None = None
        self.operator_port = 0
        # The operator's re-audit decisions form their own hash chain next to the sidecar's.
        self.operator_log = workdir / "decisions" / "operator.jsonl"
        self.stand_ins: list[str] = []

    # ---- lifecycle -----------------------------------------------------------------------

    def start_cluster(self) -> LocalCluster:
        missing = build.missing_binaries(("etcd", "kube-apiserver", "kubectl"))
        if missing:
            raise StackError(
                f"missing {', '.join(missing)}: run `make demo` (it builds them first) or "
                "`.venv/bin/python -m tests.cluster build`"
            )
        self.cluster = LocalCluster(self.workdir / "cluster", build.find_binaries())
        self.cluster.start()
        return self.cluster

    def stop(self) -> None:
        """Stop every process this stack started, newest first, then the control plane."""
        for proc in reversed(self.processes):
            with contextlib.suppress(Exception):
                proc.stop(grace=5.0)
        self.processes = []
        if self.cluster is not None:
            with contextlib.suppress(Exception):
                self.cluster.stop()

    def pids(self) -> list[int]:
        cluster = self.cluster.pids if self.cluster else []
        return [*cluster, *(p.pid for p in self.processes)]

    @property
    def kube(self) -> LocalCluster:
        if self.cluster is None:
            raise StackError("cluster not started")
        return self.cluster

    def _spawn(self, name: str, argv: list[str]) -> ManagedProcess:
        logs = self.workdir / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        proc = spawn(name, argv, logs / f"{name}.log", self.workdir)
        self.processes.append(proc)
        return proc

    def _wait(self, proc: ManagedProcess, ready: Callable[[], bool], what: str) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            if not proc.alive():
                raise StackError(
                    f"{proc.name} exited with {proc.popen.returncode} before {what}; "
                    f"log tail:\n{proc.log_tail()}"
                )
            with contextlib.suppress(Exception):
                if ready():
                    return
            time.sleep(0.2)
        raise StackError(f"timed out waiting for {what}; {proc.name} log tail:\n{proc.log_tail()}")

    # ---- CRDs ----------------------------------------------------------------------------

    def install_crds(self) -> tuple[list[str], list[str]]:
        """Install the operator's CRDs (stand-ins for any that are missing or rejected) and
        Karpenter's NodePool CRD. Returns (established names, problems with operator CRDs)."""
        problems: list[str] = []
        docs: list[Any] = []
        have: set[str] = set()
        files = objects.operator_crd_files()
        if not files:
            problems.append("operator/crds/*.yaml not generated yet")
        for path in files:
            try:
                self.kube.install_crds(path)
            except (KubectlError, ClusterError, ValueError) as exc:
                first = (getattr(exc, "stderr", "") or str(exc)).strip().splitlines()
                problems.append(f"{path.name} rejected: {' '.join(first[:2])}")
                continue
            have |= {d["metadata"]["name"] for d in load_manifests(path)}
        for crd in objects.stand_in_exportgate_crds():
            if crd["metadata"]["name"] not in have:
                self.stand_ins.append(crd["spec"]["names"]["kind"])
                docs.append(crd)
        docs.append(objects.karpenter_nodepool_crd())
        names = sorted(have | set(self.kube.install_crds(docs)))
        return names, problems

    # ---- sidecar + webhook ---------------------------------------------------------------

    def identity_kubeconfig(self, user: str) -> Path:
        """Each component talks to the API server as itself (client certificate)."""
        return self.kube.user_kubeconfig(user, ("system:masters",))

    def start_sidecar(self) -> ManagedProcess:
        script = console_script("exportgate-sidecar")
        if script is None:
            raise StackError("exportgate-sidecar is not installed: run `make setup`")
        self.socket.parent.mkdir(parents=True, exist_ok=True)
        self.decision_log.parent.mkdir(parents=True, exist_ok=True)
        proc = self._spawn(
            "sidecar",
            [
                str(script),
                "--source=kube",
                f"--kubeconfig={self.identity_kubeconfig('exportgate-sidecar')}",
                f"--listen=unix://{self.socket}",
                f"--decision-log={self.decision_log}",
                "--log-format=json",
            ],
        )
        self._wait(proc, self.socket.exists, "its Unix socket existed")
        return proc

    def start_webhook(self) -> ManagedProcess:
        script = console_script("exportgate-webhook")
        if script is None:
            raise StackError("exportgate-webhook is not installed: run `make setup`")
        self.serving = loopback_serving_cert(self.workdir / "webhook-tls", "exportgate-webhook")
        # Ports are picked then released; a clash makes the webhook exit, which _wait reports.
        self.webhook_port, self.probe_port = free_port(), free_port()
        proc = self._spawn(
            "webhook",
            [
                str(script),
                f"--listen=127.0.0.1:{self.webhook_port}",
                f"--probe-listen=127.0.0.1:{self.probe_port}",
                f"--tls-cert={self.serving.cert_path}",
                f"--tls-key={self.serving.key_path}",
                f"--sidecar=unix://{self.socket}",
                f"--budget={WEBHOOK_BUDGET_S}",
                f"--kubeconfig={self.identity_kubeconfig('exportgate-webhook')}",
                f"--platform-user={objects.OPERATOR_USER}",
                # The demo shows the opt-in decision stamp (chart: webhook.mutating.enabled).
                "--mutate",
            ],
        )
        self._wait(proc, self._webhook_ready, "/readyz answered 200 (sidecar reachable)")
        return proc

    def _webhook_ready(self) -> bool:
        conn = http.client.HTTPConnection("127.0.0.1", self.probe_port, timeout=2)
        try:
            conn.request("GET", "/readyz")
            return conn.getresponse().status == 200
        finally:
            conn.close()

    def webhook_url(self, path: str) -> str:
        return f"https://127.0.0.1:{self.webhook_port}{path}"

    def register_webhooks(self) -> None:
        if self.serving is None:
            raise StackError("webhook not started")
        kube = self.kube
        kube.register_mutating_webhook(
            "exportgate",
            self.webhook_url("/mutate"),
            self.serving.ca_pem,
            objects.webhook_rules(validating=False),
            timeout_seconds=WEBHOOK_TIMEOUT_S,
            match_conditions=objects.not_the_operator(),
            webhook_name="mutate.exportgate.dev",
        )
        kube.register_validating_webhook(
            "exportgate",
            self.webhook_url("/validate"),
            self.serving.ca_pem,
            objects.webhook_rules(validating=True),
            timeout_seconds=WEBHOOK_TIMEOUT_S,
            match_conditions=objects.not_the_operator(),
            webhook_name="validate.exportgate.dev",
        )

    # ---- operator ------------------------------------------------------------------------

    def start_operator(self) -> ManagedProcess | None:
        """Start the operator if it is installed; None (and the demo says so) if it is not."""
        script = console_script("exportgate-operator")
        if script is None or not operator_installed():
            return None
        kubeconfig = self.kube.user_kubeconfig(objects.OPERATOR_USER, ("system:masters",))
        self.operator_port = free_port()
        proc = self._spawn(
            "operator",
            [
                str(script),
                f"--kubeconfig={kubeconfig}",
                # One replica here; the chart runs several with kopf peering.
                "--standalone",
                # The demo's tenant users authenticate in group tenant:<name> (demo_story).
                "--tenant-group-format=tenant:{name}",
                f"--liveness=http://127.0.0.1:{self.operator_port}/healthz",
                f"--decision-log={self.operator_log}",
                # Compute accounting checkpoints every 2 s so the demo does not wait.
                "--compute-interval=2",
                "--log-format=json",
            ],
        )
        self.operator = proc
        self._wait(proc, self._operator_live, "its liveness endpoint answered 200")
        return proc

    def _operator_live(self) -> bool:
        conn = http.client.HTTPConnection("127.0.0.1", self.operator_port, timeout=2)
        try:
            conn.request("GET", "/healthz")
            return conn.getresponse().status == 200
        finally:
            conn.close()

    def check_alive(self) -> None:
        self.kube.check_alive()
        for proc in self.processes:
            if not proc.alive():
                raise ClusterError(
                    f"{proc.name} exited with {proc.popen.returncode}; log tail:\n{proc.log_tail()}"
                )
