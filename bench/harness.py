"""Start the real sidecar and webhook as subprocesses (their console scripts), for the benchmarks
and the fault tests alike.

They are treated as black boxes: started with command-line flags, file-based tenants and the
default policy packs, reached only over their sockets (gRPC on a Unix socket, HTTPS on loopback).
Each process gets its own session so that a test can SIGSTOP or SIGKILL exactly that process.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tests.cluster.certs import ServingCert, loopback_serving_cert
from tests.cluster.ports import free_port

REPO = Path(__file__).resolve().parent.parent
EXAMPLE_TENANTS = REPO / "examples" / "tenants.yaml"
#: Namespaces the replayed reviews use, bound statically (no API server needed for B1).
NAMESPACE_TENANTS = {
    "acme-ml": "acme",
    "nimbus-ml": "nimbus",
    "orbit-ml": "orbit",
    "unbound-ml": "",
}


def _script(name: str) -> str:
    """The console script next to the running interpreter (the project's venv)."""
    candidate = Path(sys.executable).parent / name
    if candidate.exists():
        return str(candidate)
    found = shutil.which(name)
    if found is None:
        raise RuntimeError(f"{name} not found: run `make setup` first")
    return found


@dataclass
class Proc:
    """A started subprocess with its log file."""

    name: str
    argv: list[str]
    log_path: Path
    popen: subprocess.Popen[bytes]

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def signal(self, sig: signal.Signals) -> None:
        if self.alive():
            os.kill(self.pid, sig)

    def stop(self, grace: float = 5.0) -> None:
        if not self.alive():
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGCONT)  # a stopped process cannot handle SIGTERM
            os.kill(self.pid, signal.SIGTERM)
        try:
            self.popen.wait(grace)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait(5)


def spawn(
    name: str,
    argv: Sequence[str],
    log_path: Path,
    *,
    env: dict[str, str] | None = None,
    taskset: str | None = None,
) -> Proc:
    full = list(argv)
    if taskset and shutil.which("taskset"):
        full = ["taskset", "-c", taskset, *full]
    log = log_path.open("ab")
    popen = subprocess.Popen(
        full,
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        cwd=REPO,
        env={**os.environ, **(env or {})},
        start_new_session=True,
    )
    log.close()
    return Proc(name, full, log_path, popen)


def wait_until(
    check: Callable[[], object], timeout: float, what: str, proc: Proc | None = None
) -> None:
    """Poll `check` until it returns something true; fail early if `proc` exits meanwhile."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and not proc.alive():
            raise RuntimeError(f"{proc.name} exited ({proc.popen.returncode}):\n{proc.log_tail()}")
        try:
            if check():
                return
        except Exception:  # not ready yet (connection refused, half-written file, ...)
            pass
        time.sleep(0.05)
    tail = proc.log_tail() if proc is not None else ""
    raise RuntimeError(f"timed out after {timeout}s waiting for {what}\n{tail}")


@dataclass
class SidecarOptions:
    tenants: Sequence[Path] = (EXAMPLE_TENANTS,)
    policies: Sequence[Path] = ()
    cache_size: int = 10_000
    poll_interval: float = 1.0
    extra: Sequence[str] = ()


@dataclass
class WebhookOptions:
    budget_s: float = 2.0
    namespace_tenants: dict[str, str] = field(default_factory=lambda: dict(NAMESPACE_TENANTS))
    tls_reload_interval: float = 5.0
    mutate: bool = False  # the product default: one admission phase, the stamp opt-in
    extra: Sequence[str] = ()
    #: Extra environment of the webhook process (an A/B variant: bench/b2_ab.py).
    env: dict[str, str] = field(default_factory=dict)


class Stack:
    """exportgate's admission path in `workdir`, started and stopped together: one webhook with
    the policy service embedded (`embedded=True`, the chart's default shape), or one webhook and
    one sidecar (the sidecar shape). `sidecar` options configure the policy service either way.
    """

    def __init__(
        self,
        workdir: Path,
        *,
        sidecar: SidecarOptions | None = None,
        webhook: WebhookOptions | None = None,
        embedded: bool = False,
        sidecar_cpu: str | None = None,
        webhook_cpu: str | None = None,
        profile_dir: Path | None = None,
    ) -> None:
        self.workdir = workdir
        self.embedded = embedded
        self.sidecar_options = sidecar or SidecarOptions()
        self.webhook_options = webhook or WebhookOptions()
        self.sidecar_cpu = sidecar_cpu
        self.webhook_cpu = webhook_cpu
        self.profile_dir = profile_dir
        workdir.mkdir(parents=True, exist_ok=True)
        # Unix socket paths are limited to ~100 bytes: keep it short.
        self.socket_path = Path(f"/tmp/eg-{os.getpid()}-{id(self) % 100000}.sock")
        self.decision_log = workdir / "decisions.log"
        self.tls: ServingCert = loopback_serving_cert(workdir / "tls", "webhook")
        self.port = free_port()
        self.probe_port = free_port()
        self.sidecar: Proc | None = None
        self.webhook: Proc | None = None

    def _entry(self, script: str, module: str) -> list[str]:
        """The console script, or the same module under cProfile when profiling."""
        if self.profile_dir is None:
            return [_script(script)]
        self.profile_dir.mkdir(parents=True, exist_ok=True)
        out = self.profile_dir / f"{script}.prof"
        return [sys.executable, "-m", "cProfile", "-o", str(out), "-m", module]

    def _profiled_env(self) -> dict[str, str] | None:
        """Under cProfile the programs run on the stdlib loop: uvloop waits for I/O and does TLS
        in C, where cProfile cannot see it, and charges the wait to whichever Python frame
        last ran, so neither the idle time nor TLS could be told apart. exportgate's own code,
        which is what the profile is for, runs the same on either loop."""
        return {"EXPORTGATE_EVENT_LOOP": "asyncio"} if self.profile_dir is not None else None

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def client_ssl_context(self) -> ssl.SSLContext:
        return self.tls.client_ssl_context()

    # -- sidecar ------------------------------------------------------------------------------

    @property
    def pids(self) -> dict[str, int]:
        """The running processes of this stack, by role (for CPU and memory readings)."""
        procs = {"webhook": self.webhook, "sidecar": self.sidecar}
        return {name: proc.pid for name, proc in procs.items() if proc is not None}

    def sidecar_argv(self) -> list[str]:
        return [
            *self._entry("exportgate-sidecar", "exportgate_sidecar"),
            "--listen",
            f"unix://{self.socket_path}",
            "--log-level",
            "warning",
            *self.service_args(),
        ]

    def service_args(self) -> list[str]:
        """The policy service's flags, the same for the sidecar and the embedded service."""
        o = self.sidecar_options
        argv = [
            "--source",
            "files",
            "--tenants",
            *map(str, o.tenants),
            "--decision-log",
            str(self.decision_log),
            "--cache-size",
            str(o.cache_size),
            "--poll-interval",
            str(o.poll_interval),
        ]
        if o.policies:
            argv += ["--policies", *map(str, o.policies)]
        if not self.webhook_options.mutate:
            argv += ["--reuse-window", "0"]  # as the chart runs it without the stamp
        return [*argv, *o.extra]

    def start_sidecar(self, timeout: float = 60.0) -> Proc:
        with contextlib.suppress(FileNotFoundError):
            self.socket_path.unlink()
        self.sidecar = spawn(
            "sidecar",
            self.sidecar_argv(),
            self.workdir / "sidecar.log",
            taskset=self.sidecar_cpu,
            env=self._profiled_env(),
        )
        wait_until(self.socket_path.exists, timeout, "the sidecar's socket", self.sidecar)
        return self.sidecar

    # -- webhook ------------------------------------------------------------------------------

    def webhook_argv(self) -> list[str]:
        o = self.webhook_options
        argv = [
            *self._entry("exportgate-webhook", "exportgate_webhook"),
            "--listen",
            f"127.0.0.1:{self.port}",
            "--probe-listen",
            f"127.0.0.1:{self.probe_port}",
            "--tls-cert",
            str(self.tls.cert_path),
            "--tls-key",
            str(self.tls.key_path),
            "--tls-reload-interval",
            str(o.tls_reload_interval),
            "--budget",
            str(o.budget_s),
            "--log-level",
            "warning",
            "--mutate" if o.mutate else "--no-mutate",
        ]
        for namespace, tenant in o.namespace_tenants.items():
            if tenant:  # an unlisted namespace is unbound; the webhook refuses "NS="
                argv += ["--namespace-tenant", f"{namespace}={tenant}"]
        if self.embedded:
            argv += ["--sidecar", "embedded", *self.service_args()]
        else:
            argv += ["--sidecar", f"unix://{self.socket_path}"]
        return [*argv, *o.extra]

    def readyz(self) -> bool:
        url = f"http://127.0.0.1:{self.probe_port}/readyz"
        try:
            with urllib.request.urlopen(url, timeout=1.0) as response:
                return bool(response.status == 200)
        except OSError:
            return False

    def start_webhook(self, timeout: float = 60.0, *, wait_ready: bool = True) -> Proc:
        self.webhook = spawn(
            "webhook",
            self.webhook_argv(),
            self.workdir / "webhook.log",
            taskset=self.webhook_cpu,
            env={**self.webhook_options.env, **(self._profiled_env() or {})},
        )
        if wait_ready:
            wait_until(self.readyz, timeout, "the webhook's /readyz", self.webhook)
        else:
            wait_until(lambda: _port_open(self.port), timeout, "the webhook's port", self.webhook)
        return self.webhook

    # -- both ---------------------------------------------------------------------------------

    def start(self) -> Stack:
        if not self.embedded:
            self.start_sidecar()
        self.start_webhook()
        return self

    def stop(self) -> None:
        for proc in (self.webhook, self.sidecar):
            if proc is not None:
                proc.stop()
        with contextlib.suppress(FileNotFoundError):
            self.socket_path.unlink()

    def __enter__(self) -> Stack:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *_: object) -> None:
        self.stop()


def _port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) == 0
