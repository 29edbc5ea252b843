"""Run a real etcd + kube-apiserver on loopback ports, envtest style.

    with LocalCluster() as cluster:
        cluster.kubectl("get", "namespaces")
        core = kubernetes.client.CoreV1Api(cluster.api_client())

No kubelet, scheduler or controller-manager runs: objects are stored and every
admission step (built-in plugins, webhooks, RBAC) runs, which is exactly what an
admission controller's tests need.  Consequences worth knowing:

* Pods stay Pending forever and namespaces stay Terminating once deleted.
* The ServiceAccount admission plugin is disabled by default, because nothing
  creates the ``default`` ServiceAccount it would insist on.

Processes run in their own process groups with PR_SET_PDEATHSIG, are stopped on
``stop()``/context exit, at interpreter exit, and on SIGTERM, so a failing or
killed test run leaves nothing behind.
"""

from __future__ import annotations

import atexit
import base64
import contextlib
import ctypes
import ctypes.util
import http.client
import json
import os
import shutil
import signal
import ssl
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType, TracebackType
from typing import IO, Any

import yaml
from kubernetes.client import ApiClient

from tests.cluster import build
from tests.cluster.certs import (
    CertificateAuthority,
    KeyPair,
    key_to_pem,
    new_private_key,
    public_key_to_pem,
)
from tests.cluster.ports import free_port

Manifest = Mapping[str, Any]
Manifests = str | Path | Manifest | Iterable[str | Path | Manifest]

ADMIN_USER = "exportgate-admin"
ADMIN_GROUPS = ("system:masters",)
SERVICE_CLUSTER_IP_RANGE = "10.0.0.0/24"  # only allocated in etcd; nothing routes to it
STOP_GRACE_S = 10.0
LOG_TAIL_LINES = 40

# --------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------


class ClusterError(RuntimeError):
    """The control plane could not be started or has died."""


class KubectlError(subprocess.CalledProcessError):
    """kubectl exited non-zero; ``str()`` includes its stderr."""

    def __str__(self) -> str:
        return f"{super().__str__()}\nstderr: {(self.stderr or '').strip()}"


# --------------------------------------------------------------------------
# Process plumbing
# --------------------------------------------------------------------------

_PR_SET_PDEATHSIG = 1
_LIBC: ctypes.CDLL | None = None
if sys.platform.startswith("linux"):
    with contextlib.suppress(OSError):
        _LIBC = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)


def _die_with_parent() -> None:
    """Runs in the child before exec: the kernel SIGKILLs it if we die.

    This covers what atexit and signal handlers cannot: the test runner being
    SIGKILLed (CI timeouts do that).
    """
    if _LIBC is not None:
        _LIBC.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


@dataclass
class ManagedProcess:
    name: str
    popen: subprocess.Popen[bytes]
    log_path: Path
    log_file: IO[bytes] = field(repr=False)

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def log_tail(self, lines: int = LOG_TAIL_LINES) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    def stop(self, grace: float = STOP_GRACE_S) -> None:
        """SIGTERM the whole process group, SIGKILL it if it lingers."""
        if self.alive():
            self._signal_group(signal.SIGTERM)
            try:
                self.popen.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                self._signal_group(signal.SIGKILL)
                self.popen.wait(timeout=grace)
        # Children of the process (none expected) share its group: sweep them too.
        self._signal_group(signal.SIGKILL)
        self.log_file.close()

    def _signal_group(self, sig: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.popen.pid, sig)


def spawn(name: str, argv: Sequence[str], log_path: Path, cwd: Path) -> ManagedProcess:
    log_file = open(log_path, "ab")  # noqa: SIM115 - closed by ManagedProcess.stop
    popen = subprocess.Popen(
        list(argv),
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        stdout=log_file,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # own process group: stop() can signal it as a whole
        preexec_fn=_die_with_parent,  # only a prctl call: safe in the child
    )
    return ManagedProcess(name, popen, log_path, log_file)


# Every started cluster, so atexit and SIGTERM can stop what tests forgot.
_LIVE: set[LocalCluster] = set()
_LIVE_LOCK = threading.Lock()
_SIGTERM_INSTALLED = False


def _stop_all_live() -> None:
    with _LIVE_LOCK:
        clusters = list(_LIVE)
    for cluster in clusters:
        with contextlib.suppress(Exception):
            cluster.stop()


def _on_sigterm(signum: int, _frame: FrameType | None) -> None:
    _stop_all_live()
    # Leave via SystemExit so finally blocks and pytest's teardown still run.
    raise SystemExit(128 + signum)


def _install_exit_hooks() -> None:
    """atexit always; a SIGTERM handler only if nobody else installed one."""
    global _SIGTERM_INSTALLED
    if _SIGTERM_INSTALLED:
        return
    _SIGTERM_INSTALLED = True
    atexit.register(_stop_all_live)
    in_main = threading.current_thread() is threading.main_thread()
    if in_main and signal.getsignal(signal.SIGTERM) in (signal.SIG_DFL, None):
        signal.signal(signal.SIGTERM, _on_sigterm)


# --------------------------------------------------------------------------
# Manifest helpers
# --------------------------------------------------------------------------


def load_manifests(manifests: Manifests) -> list[dict[str, Any]]:
    """Flatten YAML text, files, directories (*.yaml, *.yml, *.json) and dicts."""
    if isinstance(manifests, str | Path | Mapping):
        manifests = [manifests]
    docs: list[dict[str, Any]] = []
    for item in manifests:
        if isinstance(item, Mapping):
            docs.append(dict(item))
        elif isinstance(item, Path) or (
            isinstance(item, str) and "\n" not in item and Path(item).exists()
        ):
            path = Path(item)
            files = (
                sorted(p for p in path.iterdir() if p.suffix in (".yaml", ".yml", ".json"))
                if path.is_dir()
                else [path]
            )
            for f in files:
                docs += [d for d in yaml.safe_load_all(f.read_text()) if d]
        else:
            docs += [d for d in yaml.safe_load_all(item) if d]
    return docs


def webhook_rule(
    operations: Sequence[str],
    resources: Sequence[str],
    api_groups: Sequence[str] = ("",),
    api_versions: Sequence[str] = ("*",),
    scope: str = "*",
) -> dict[str, Any]:
    """One admissionregistration/v1 RuleWithOperations."""
    return {
        "operations": list(operations),
        "apiGroups": list(api_groups),
        "apiVersions": list(api_versions),
        "resources": list(resources),
        "scope": scope,
    }


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


# --------------------------------------------------------------------------
# The cluster
# --------------------------------------------------------------------------


class LocalCluster:
    """etcd + kube-apiserver on 127.0.0.1, with an admin kubeconfig.

    Attributes once started: ``server`` (URL), ``kubeconfig`` (admin, group
    system:masters), ``ca_cert_path`` / ``ca_cert_pem`` (trust for ``server``),
    ``workdir`` (certs, logs, kubeconfigs), ``pids``, ``start_seconds``.
    """

    def __init__(
        self,
        workdir: str | Path | None = None,
        binaries: Mapping[str, Path] | None = None,
        *,
        extra_apiserver_args: Sequence[str] = (),
        disable_admission_plugins: Sequence[str] = ("ServiceAccount",),
        start_timeout: float = 120.0,
        keep_workdir: bool = False,
        etcd_in_memory: bool = False,
    ) -> None:
        """`etcd_in_memory` puts etcd's data (throwaway, and never fsynced here) on /dev/shm
        when the machine has it. The benchmarks ask for it: on one shared disk, etcd's unsynced
        writes would ride along with every fsync another process makes (ext4 commits them
        together), which a real control plane, with disks of its own, never charges a
        webhook's volume."""
        self._own_workdir = workdir is None
        self.workdir = Path(workdir or tempfile.mkdtemp(prefix="exportgate-cluster-")).resolve()
        self._binaries = dict(binaries) if binaries else None
        self.extra_apiserver_args = list(extra_apiserver_args)
        self.disable_admission_plugins = list(disable_admission_plugins)
        self.start_timeout = start_timeout
        self.keep_workdir = keep_workdir
        self.processes: list[ManagedProcess] = []
        self.start_seconds = 0.0
        self._user_kubeconfigs: dict[tuple[str, tuple[str, ...]], Path] = {}
        self._client_ca: CertificateAuthority | None = None
        self._admin: KeyPair | None = None
        self._api_port = 0
        self._started = False
        self._etcd_in_memory = etcd_in_memory
        self._etcd_data: Path | None = None

    # ---- lifecycle -------------------------------------------------------

    def __enter__(self) -> LocalCluster:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> LocalCluster:
        if self._started:
            return self
        binaries = self._resolve_binaries()
        _install_exit_hooks()
        with _LIVE_LOCK:
            _LIVE.add(self)
        self._started = True
        began = time.monotonic()
        try:
            self._write_certs()
            # Ports are picked by the OS then released; if another process
            # grabs one in between, the component dies at once -- retry.
            for attempt in range(3):
                try:
                    self._start_processes(binaries)
                    break
                except _PortClash:
                    self._stop_processes()
                    if attempt == 2:
                        raise ClusterError("could not bind loopback ports after 3 tries") from None
            self._write_admin_kubeconfig()
        except BaseException:
            self.stop()
            raise
        self.start_seconds = time.monotonic() - began
        return self

    def stop(self) -> None:
        """Stop kube-apiserver then etcd; remove the temp workdir. Idempotent."""
        self._stop_processes()
        with _LIVE_LOCK:
            _LIVE.discard(self)
        # etcd preallocates 64 MB WAL files: never leave them behind, even in a
        # caller-supplied workdir that is otherwise kept for its logs (or in memory).
        shutil.rmtree(self.workdir / "etcd-data", ignore_errors=True)
        if self._etcd_data is not None:
            shutil.rmtree(self._etcd_data, ignore_errors=True)
            self._etcd_data = None
        if self._own_workdir and not self.keep_workdir and self._started:
            shutil.rmtree(self.workdir, ignore_errors=True)
        self._started = False

    def _stop_processes(self) -> None:
        # Reverse start order: the API server first, so it never sees etcd vanish.
        for proc in reversed(self.processes):
            with contextlib.suppress(Exception):
                proc.stop()
        self.processes = []

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self.processes]

    def check_alive(self) -> None:
        for proc in self.processes:
            if not proc.alive():
                raise ClusterError(
                    f"{proc.name} exited with {proc.popen.returncode}; log tail:\n{proc.log_tail()}"
                )

    # ---- startup steps ---------------------------------------------------

    def _resolve_binaries(self) -> dict[str, Path]:
        found = self._binaries if self._binaries is not None else build.find_binaries()
        needed = ("etcd", "kube-apiserver", "kubectl")
        missing = [b for b in needed if b not in found]
        if missing:
            raise ClusterError(
                f"missing {', '.join(missing)}: run `python -m tests.cluster build` "
                f"or point EXPORTGATE_TEST_ASSETS at a directory holding them"
            )
        return dict(found)

    @property
    def pki(self) -> Path:
        return self.workdir / "pki"

    def _write_certs(self) -> None:
        self.pki.mkdir(parents=True, exist_ok=True)
        server_ca = CertificateAuthority("exportgate-test-server-ca")
        (self.pki / "server-ca.crt").write_bytes(server_ca.cert_pem)
        server_ca.issue(
            "kube-apiserver",
            dns_names=(
                "localhost",
                "kubernetes",
                "kubernetes.default",
                "kubernetes.default.svc",
                "kubernetes.default.svc.cluster.local",
            ),
            ip_addresses=("127.0.0.1", "10.0.0.1"),
            server=True,
        ).write(self.pki, "apiserver")
        # A separate client CA: holding a serving cert must not make you a user.
        self._client_ca = CertificateAuthority("exportgate-test-client-ca")
        (self.pki / "client-ca.crt").write_bytes(self._client_ca.cert_pem)
        self._admin = self._client_ca.issue(ADMIN_USER, organizations=ADMIN_GROUPS, client=True)
        self._admin.write(self.pki, "admin")
        sa_key = new_private_key()
        (self.pki / "sa.key").write_bytes(key_to_pem(sa_key))
        (self.pki / "sa.key").chmod(0o600)
        (self.pki / "sa.pub").write_bytes(public_key_to_pem(sa_key))

    def _start_processes(self, binaries: Mapping[str, Path]) -> None:
        logs = self.workdir / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        etcd_port, peer_port, api_port = free_port(), free_port(), free_port()
        data_dir = self._etcd_data_dir()
        shutil.rmtree(data_dir, ignore_errors=True)
        etcd = spawn(
            "etcd",
            self._etcd_args(binaries["etcd"], data_dir, etcd_port, peer_port),
            logs / "etcd.log",
            self.workdir,
        )
        self.processes.append(etcd)
        deadline = time.monotonic() + self.start_timeout
        self._wait_for(etcd, lambda: self._etcd_healthy(etcd_port), deadline, "etcd /health")
        self._api_port = api_port
        api = spawn(
            "kube-apiserver",
            self._apiserver_args(binaries["kube-apiserver"], etcd_port, api_port),
            logs / "kube-apiserver.log",
            self.workdir,
        )
        self.processes.append(api)
        self._wait_for(api, self._apiserver_ready, deadline, "kube-apiserver /readyz")

    def _etcd_data_dir(self) -> Path:
        memory = Path("/dev/shm")
        if self._etcd_in_memory and memory.is_dir() and os.access(memory, os.W_OK):
            if self._etcd_data is None:
                self._etcd_data = Path(tempfile.mkdtemp(prefix="exportgate-etcd-", dir=memory))
            return self._etcd_data / "data"
        return self.workdir / "etcd-data"

    def _etcd_args(self, etcd: Path, data_dir: Path, port: int, peer: int) -> list[str]:
        client_url, peer_url = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{peer}"
        return [
            str(etcd),
            "--name=exportgate-test",
            f"--data-dir={data_dir}",
            f"--listen-client-urls={client_url}",
            f"--advertise-client-urls={client_url}",
            f"--listen-peer-urls={peer_url}",
            f"--initial-advertise-peer-urls={peer_url}",
            f"--initial-cluster=exportgate-test={peer_url}",
            # Throwaway data: skipping fsync makes every write far cheaper.
            "--unsafe-no-fsync=true",
            "--log-level=warn",
        ]

    def _apiserver_args(self, binary: Path, etcd_port: int, port: int) -> list[str]:
        pki = self.pki
        args = [
            str(binary),
            f"--etcd-servers=http://127.0.0.1:{etcd_port}",
            f"--secure-port={port}",
            "--bind-address=127.0.0.1",
            "--advertise-address=127.0.0.1",
            f"--cert-dir={pki}",
            f"--tls-cert-file={pki / 'apiserver.crt'}",
            f"--tls-private-key-file={pki / 'apiserver.key'}",
            f"--client-ca-file={pki / 'client-ca.crt'}",
            "--authorization-mode=RBAC",
            f"--service-account-issuer=https://127.0.0.1:{port}",
            f"--service-account-key-file={pki / 'sa.pub'}",
            f"--service-account-signing-key-file={pki / 'sa.key'}",
            f"--service-cluster-ip-range={SERVICE_CLUSTER_IP_RANGE}",
            # The default plugin set stays on (incl. Mutating/ValidatingAdmissionWebhook
            # and ValidatingAdmissionPolicy); we only switch off what needs controllers.
            *(
                [f"--disable-admission-plugins={','.join(self.disable_admission_plugins)}"]
                if self.disable_admission_plugins
                else []
            ),
            "--enable-priority-and-fairness=true",
            "--allow-privileged=true",
            # A loopback advertise address is invalid as an Endpoints IP; without
            # a reconciler the server does not log that error every 10 seconds.
            "--endpoint-reconciler-type=none",
            "--profiling=false",
            *self.extra_apiserver_args,
        ]
        return args

    def _wait_for(
        self, proc: ManagedProcess, ready: Callable[[], bool], deadline: float, what: str
    ) -> None:
        while time.monotonic() < deadline:
            if not proc.alive():
                tail = proc.log_tail()
                if "address already in use" in tail:
                    raise _PortClash(tail)
                raise ClusterError(
                    f"{proc.name} exited with {proc.popen.returncode} "
                    f"before {what} was ready; log tail:\n{tail}"
                )
            if ready():
                return
            time.sleep(0.1)
        raise ClusterError(
            f"timed out waiting for {what}; {proc.name} log tail:\n{proc.log_tail()}"
        )

    @staticmethod
    def _etcd_healthy(port: int) -> bool:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/health")
            body = conn.getresponse().read()
            conn.close()
        except OSError:
            return False
        with contextlib.suppress(ValueError):
            return bool(json.loads(body).get("health") == "true")
        return False

    def _admin_ssl_context(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context(cafile=str(self.ca_cert_path))
        ctx.load_cert_chain(self.pki / "admin.crt", self.pki / "admin.key")
        return ctx

    def _apiserver_ready(self) -> bool:
        try:
            conn = http.client.HTTPSConnection(
                "127.0.0.1", self._api_port, timeout=2, context=self._admin_ssl_context()
            )
            conn.request("GET", "/readyz")
            status = conn.getresponse().status
            conn.close()
        except OSError:
            return False
        return status == 200

    # ---- kubeconfigs -----------------------------------------------------

    @property
    def server(self) -> str:
        return f"https://127.0.0.1:{self._api_port}"

    @property
    def ca_cert_path(self) -> Path:
        return self.pki / "server-ca.crt"

    @property
    def ca_cert_pem(self) -> bytes:
        return self.ca_cert_path.read_bytes()

    @property
    def kubeconfig(self) -> Path:
        return self.workdir / "kubeconfig"

    def _kubeconfig_doc(self, user: str, creds: KeyPair) -> dict[str, Any]:
        return {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": "exportgate-test",
                    "cluster": {
                        "server": self.server,
                        "certificate-authority-data": _b64(self.ca_cert_pem),
                    },
                }
            ],
            "users": [
                {
                    "name": user,
                    "user": {
                        "client-certificate-data": _b64(creds.cert_pem),
                        "client-key-data": _b64(creds.key_pem),
                    },
                }
            ],
            "contexts": [
                {
                    "name": user,
                    "context": {"cluster": "exportgate-test", "user": user, "namespace": "default"},
                }
            ],
            "current-context": user,
        }

    def _write_kubeconfig(self, path: Path, user: str, creds: KeyPair) -> Path:
        path.touch(mode=0o600)
        path.write_text(yaml.safe_dump(self._kubeconfig_doc(user, creds), sort_keys=False))
        return path

    def _write_admin_kubeconfig(self) -> None:
        assert self._admin is not None
        self._write_kubeconfig(self.kubeconfig, ADMIN_USER, self._admin)

    def user_kubeconfig(self, user: str, groups: Sequence[str] = ()) -> Path:
        """A kubeconfig authenticating as ``user`` in ``groups`` by client certificate.

        Nothing is impersonated: the API server authenticates the certificate
        itself, just as it would a tenant's.  ``system:authenticated`` is added
        by the server.
        """
        key = (user, tuple(groups))
        if key not in self._user_kubeconfigs:
            if self._client_ca is None:
                raise ClusterError("cluster not started")
            creds = self._client_ca.issue(user, organizations=groups, client=True)
            safe = "".join(c if c.isalnum() else "_" for c in f"{user}-{'-'.join(groups)}")
            path = self.workdir / "users" / f"{safe}-{len(self._user_kubeconfigs)}.kubeconfig"
            path.parent.mkdir(exist_ok=True)
            self._user_kubeconfigs[key] = self._write_kubeconfig(path, user, creds)
        return self._user_kubeconfigs[key]

    # ---- clients ---------------------------------------------------------

    def env(self) -> dict[str, str]:
        """Environment for a subprocess (kubectl, helm, your server) aimed at this cluster."""
        env = dict(os.environ)
        env["KUBECONFIG"] = str(self.kubeconfig)
        # Keep kubectl/helm caches inside the workdir, not the user's home.
        env["KUBECACHEDIR"] = str(self.workdir / "kube-cache")
        for var, sub in (
            ("HELM_CACHE_HOME", "cache"),
            ("HELM_CONFIG_HOME", "config"),
            ("HELM_DATA_HOME", "data"),
        ):
            env[var] = str(self.workdir / "helm" / sub)
        return env

    def binary(self, name: str) -> Path:
        found = self._resolve_binaries() if self._binaries is None else self._binaries
        if name not in found:
            found = build.find_binaries()
        if name not in found:
            raise ClusterError(f"{name} not available: run `python -m tests.cluster build`")
        return Path(found[name])

    def kubectl(
        self,
        *args: str,
        input: str | bytes | None = None,  # mirrors subprocess.run
        as_user: str | None = None,
        as_groups: Sequence[str] = (),
        kubeconfig: Path | None = None,
        check: bool = True,
        timeout: float = 60.0,
    ) -> subprocess.CompletedProcess[str]:
        """Run kubectl as admin, or impersonate ``as_user``/``as_groups`` (--as, --as-group).

        With ``check`` a non-zero exit raises KubectlError (stderr in the message).
        """
        argv = [
            str(self.binary("kubectl")),
            f"--kubeconfig={kubeconfig or self.kubeconfig}",
            f"--cache-dir={self.workdir / 'kube-cache'}",
        ]
        if as_user:
            argv.append(f"--as={as_user}")
        argv += [f"--as-group={g}" for g in as_groups]
        argv += list(args)
        text_input = input.decode() if isinstance(input, bytes) else input
        proc = subprocess.run(
            argv, input=text_input, capture_output=True, text=True, timeout=timeout, check=False
        )
        if check and proc.returncode != 0:
            raise KubectlError(proc.returncode, argv, proc.stdout, proc.stderr)
        return proc

    def helm(
        self, *args: str, check: bool = True, timeout: float = 300.0
    ) -> subprocess.CompletedProcess[str]:
        """Run helm against this cluster with caches inside the workdir."""
        argv = [str(self.binary("helm")), f"--kubeconfig={self.kubeconfig}", *args]
        proc = subprocess.run(
            argv, capture_output=True, text=True, env=self.env(), timeout=timeout, check=False
        )
        if check and proc.returncode != 0:
            raise KubectlError(proc.returncode, argv, proc.stdout, proc.stderr)
        return proc

    def api_client(self, user: str | None = None, groups: Sequence[str] = ()) -> ApiClient:
        """A ``kubernetes.client.ApiClient``: admin, or ``user``/``groups`` by client cert."""
        from kubernetes import config

        path = self.kubeconfig if user is None else self.user_kubeconfig(user, groups)
        api: ApiClient = config.new_client_from_config(config_file=str(path))  # type: ignore[no-untyped-call]
        return api

    # ---- objects ---------------------------------------------------------

    def apply(
        self,
        manifests: Manifests,
        *,
        namespace: str | None = None,
        as_user: str | None = None,
        as_groups: Sequence[str] = (),
    ) -> subprocess.CompletedProcess[str]:
        """Server-side apply YAML text, files, directories or dicts (as admin by default).

        Server-side apply avoids the last-applied annotation, which large CRDs overflow.
        """
        docs = load_manifests(manifests)
        if not docs:
            raise ValueError("nothing to apply")
        args = [
            "apply",
            "--server-side",
            "--force-conflicts",
            "--field-manager=exportgate-tests",
            "-f",
            "-",
        ]
        if namespace:
            args += ["-n", namespace]
        return self.kubectl(
            *args,
            input=yaml.safe_dump_all(docs, sort_keys=False),
            as_user=as_user,
            as_groups=as_groups,
        )

    def delete(
        self, kind: str, name: str, namespace: str | None = None, wait: bool = False
    ) -> None:
        args = ["delete", kind, name, "--ignore-not-found", f"--wait={str(wait).lower()}"]
        if namespace:
            args += ["-n", namespace]
        self.kubectl(*args)

    def create_namespace(self, name: str, labels: Mapping[str, str] | None = None) -> str:
        self.apply(
            {
                "apiVersion": "v1",
                "kind": "Namespace",
                "metadata": {"name": name, "labels": dict(labels or {})},
            }
        )
        return name

    def install_crds(self, crds: Manifests, timeout: float = 60.0) -> list[str]:
        """Apply CustomResourceDefinitions and wait until each is Established."""
        docs = [d for d in load_manifests(crds) if d.get("kind") == "CustomResourceDefinition"]
        if not docs:
            raise ValueError("no CustomResourceDefinition found in the given manifests")
        self.apply(docs)
        names = [str(d["metadata"]["name"]) for d in docs]
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.kubectl(
                    "wait",
                    "--for=condition=Established",
                    f"--timeout={max(1, int(deadline - time.monotonic()))}s",
                    *(f"crd/{n}" for n in names),
                    timeout=timeout + 10,
                )
                return names
            except KubectlError as exc:
                # kubectl wait fails at once, instead of waiting, when it reads a CRD whose
                # status has no conditions yet ("accessor error: <nil> is of the type <nil>");
                # it failed make test's demo once. Ask again until the deadline.
                if "accessor error" not in (exc.stderr or "") or time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    # ---- admission webhooks ---------------------------------------------

    def _webhook(
        self,
        name: str,
        url: str,
        ca_bundle_pem: bytes,
        rules: Sequence[Mapping[str, Any]],
        failure_policy: str,
        timeout_seconds: int,
        match_conditions: Sequence[Mapping[str, Any]] | None,
        namespace_selector: Mapping[str, Any] | None,
        object_selector: Mapping[str, Any] | None,
        side_effects: str,
        match_policy: str,
    ) -> dict[str, Any]:
        hook: dict[str, Any] = {
            "name": name,
            "clientConfig": {"url": url, "caBundle": _b64(ca_bundle_pem)},
            "rules": [dict(r) for r in rules],
            "failurePolicy": failure_policy,
            "matchPolicy": match_policy,
            "sideEffects": side_effects,
            "timeoutSeconds": timeout_seconds,
            "admissionReviewVersions": ["v1"],
        }
        if match_conditions:
            hook["matchConditions"] = [dict(c) for c in match_conditions]
        if namespace_selector is not None:
            hook["namespaceSelector"] = dict(namespace_selector)
        if object_selector is not None:
            hook["objectSelector"] = dict(object_selector)
        return hook

    def register_validating_webhook(
        self,
        name: str,
        url: str,
        ca_bundle_pem: bytes,
        rules: Sequence[Mapping[str, Any]],
        *,
        failure_policy: str = "Fail",
        timeout_seconds: int = 5,
        match_conditions: Sequence[Mapping[str, Any]] | None = None,
        namespace_selector: Mapping[str, Any] | None = None,
        object_selector: Mapping[str, Any] | None = None,
        side_effects: str = "None",
        match_policy: str = "Equivalent",
        webhook_name: str | None = None,
    ) -> dict[str, Any]:
        """Create/replace a ValidatingWebhookConfiguration calling ``url`` over TLS.

        ``webhook_name`` must be a fully qualified name; it defaults to
        ``<name>.exportgate.test``.  Returns the applied object.  The API server
        picks new configurations up asynchronously: see ``wait_for_webhook``.
        """
        hook = self._webhook(
            webhook_name or f"{name}.exportgate.test",
            url,
            ca_bundle_pem,
            rules,
            failure_policy,
            timeout_seconds,
            match_conditions,
            namespace_selector,
            object_selector,
            side_effects,
            match_policy,
        )
        obj = {
            "apiVersion": "admissionregistration.k8s.io/v1",
            "kind": "ValidatingWebhookConfiguration",
            "metadata": {"name": name},
            "webhooks": [hook],
        }
        self.apply(obj)
        return obj

    def register_mutating_webhook(
        self,
        name: str,
        url: str,
        ca_bundle_pem: bytes,
        rules: Sequence[Mapping[str, Any]],
        *,
        failure_policy: str = "Fail",
        timeout_seconds: int = 5,
        match_conditions: Sequence[Mapping[str, Any]] | None = None,
        namespace_selector: Mapping[str, Any] | None = None,
        object_selector: Mapping[str, Any] | None = None,
        side_effects: str = "None",
        match_policy: str = "Equivalent",
        reinvocation_policy: str = "Never",
        webhook_name: str | None = None,
    ) -> dict[str, Any]:
        """Like ``register_validating_webhook`` for a MutatingWebhookConfiguration."""
        hook = self._webhook(
            webhook_name or f"{name}.exportgate.test",
            url,
            ca_bundle_pem,
            rules,
            failure_policy,
            timeout_seconds,
            match_conditions,
            namespace_selector,
            object_selector,
            side_effects,
            match_policy,
        )
        hook["reinvocationPolicy"] = reinvocation_policy
        obj = {
            "apiVersion": "admissionregistration.k8s.io/v1",
            "kind": "MutatingWebhookConfiguration",
            "metadata": {"name": name},
            "webhooks": [hook],
        }
        self.apply(obj)
        return obj

    @staticmethod
    def wait_for_webhook(
        probe: Callable[[], bool], timeout: float = 30.0, interval: float = 0.25
    ) -> int:
        """Repeat ``probe`` until it returns True; return how many tries it took.

        The API server learns of webhook configurations through an informer, so
        a request made right after registering may not be sent to the webhook
        yet.  A good probe is a ``--dry-run=server`` request the webhook must
        see (e.g. check the test server's hit count rose).  Exceptions from the
        probe count as "not yet".
        """
        deadline = time.monotonic() + timeout
        tries = 0
        last_error: BaseException | None = None
        while True:
            tries += 1
            try:
                if probe():
                    return tries
            except Exception as exc:  # the probe may legitimately fail until active
                last_error = exc
            if time.monotonic() >= deadline:
                raise ClusterError(
                    f"webhook not active after {timeout}s ({tries} probes); "
                    f"last probe error: {last_error!r}"
                )
            time.sleep(interval)


class _PortClash(ClusterError):
    """A component lost the race for its port."""
