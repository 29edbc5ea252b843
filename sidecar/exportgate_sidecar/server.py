"""Assemble and run the sidecar: gRPC server, sources, cache, decision log, health, metrics.

Everything runs on one asyncio event loop (gRPC Python is fastest that way); blocking work goes
to threads: the fsync of the decision log, reading files, building engines, and the Kubernetes
watches.

`SidecarServer` is the long-running object; `serve_in_background(config)` is the async context
manager tests and embedders use to run one in-process::

    async with serve_in_background(config) as server:
        async with PolicyClient(server.unix_target) as client:
            ...
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import stat
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import grpc
import structlog
from grpc_health.v1 import health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from exportgate.v1 import policy_pb2_grpc as pb_grpc
from exportgate.wire.client import SERVICE_NAME
from exportgate.world.loader import SnapshotLoader
from exportgate.world.snapshot import Snapshot, SnapshotStore
from exportgate_sidecar.cache import DecisionCache
from exportgate_sidecar.config import ConfigError, SidecarConfig
from exportgate_sidecar.health import HealthMonitor
from exportgate_sidecar.journal import DecisionJournal
from exportgate_sidecar.metrics import MetricsEndpoint, SidecarMetrics
from exportgate_sidecar.recent import RecentDecisions
from exportgate_sidecar.servicer import Activity, PolicyServicer
from exportgate_sidecar.sources.files import FileSource

log = structlog.get_logger("exportgate.sidecar")

_HEALTH_SERVICE = "grpc.health.v1.Health"

# sun_path is 108 bytes on Linux, including the terminating NUL.
_MAX_SOCKET_PATH = 107

# Channel arguments of the server. Keepalive lets the webhook's long-lived channel notice a
# dead peer; allowing its pings without calls in flight avoids GOAWAY "too_many_pings".
_SERVER_OPTIONS = [
    ("grpc.keepalive_time_ms", 30_000),
    ("grpc.keepalive_timeout_ms", 10_000),
    ("grpc.http2.min_ping_interval_without_data_ms", 5_000),
    ("grpc.keepalive_permit_without_calls", 1),
    # Refuse a second server on the same TCP port instead of silently sharing it.
    ("grpc.so_reuseport", 0),
]


class SidecarServer:
    def __init__(self, config: SidecarConfig, *, kube_api: Any = None) -> None:
        """`kube_api`: a `kubernetes.client.ApiClient` for the kube source (built from
        `config.source.kubeconfig` or in-cluster config when None)."""
        config.validate()
        self.config = config
        self._kube_api = kube_api
        self.store = SnapshotStore()
        self.cache = DecisionCache(config.cache)
        self.recent = RecentDecisions(max_entries=config.reuse_max_entries, ttl=config.reuse_window)
        self.metrics = SidecarMetrics()
        self.loader = SnapshotLoader(
            self.store, packs=config.packs, default_action=config.default_action
        )
        self.file_source: FileSource | None = None
        self.journal: DecisionJournal | None = None
        self.health: HealthMonitor | None = None
        self.metrics_endpoint: MetricsEndpoint | None = None
        self.activity = Activity()
        self._server: grpc.aio.Server | None = None
        self._tasks: list[asyncio.Task[Any]] = []
        self._unix_socket: Path | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        """Open the log, start loading tenants and policies, and start listening.

        Returns as soon as the ports are open; the health service reports NOT_SERVING (and
        Evaluate answers UNAVAILABLE) until the first snapshot is loaded: see `wait_ready`.
        On failure everything opened so far is closed again before the error propagates.
        """
        try:
            await self._start()
        except BaseException:
            await self.stop(grace=0)
            raise

    async def _start(self) -> None:
        cfg = self.config
        # Fails here, with the reason, when the log cannot be opened: better a pod that does not
        # start than one that looks alive but can never answer.
        self.journal = await asyncio.to_thread(DecisionJournal.open, cfg.decision_log)
        if cfg.source.kind == "kube" and self._kube_api is None:
            # Same reasoning for credentials: a sidecar that can never reach the API server
            # should say why at startup, not sit NOT_SERVING with the reason buried in a task.
            from exportgate_sidecar.sources.kube import kube_api_client

            self._kube_api = await asyncio.to_thread(kube_api_client, cfg.source.kubeconfig)
        self.health = HealthMonitor(self.journal)
        self.store.subscribe(self.cache.on_snapshot)
        self.store.subscribe(self.recent.on_snapshot)
        self.store.subscribe(self._on_snapshot)

        server = grpc.aio.server(options=_SERVER_OPTIONS)
        pb_grpc.add_PolicyServiceServicer_to_server(
            PolicyServicer(
                config=cfg,
                store=self.store,
                cache=self.cache,
                recent=self.recent,
                journal=self.journal,
                health=self.health,
                metrics=self.metrics,
                activity=self.activity,
            ),
            server,
        )
        health_pb2_grpc.add_HealthServicer_to_server(self.health.servicer, server)
        reflection.enable_server_reflection(
            (SERVICE_NAME, _HEALTH_SERVICE, reflection.SERVICE_NAME),
            server,
        )
        self._bind(server)
        await self.health.start()
        await server.start()
        self._server = server
        self._tasks.append(asyncio.create_task(self._run_source(), name="source"))
        if cfg.metrics_port is not None:
            self.metrics_endpoint = await asyncio.to_thread(
                MetricsEndpoint, self.metrics, cfg.metrics_address, cfg.metrics_port
            )
        log.info(
            "listening",
            unix=str(self._unix_socket) if self._unix_socket else None,
            metrics_port=self.metrics_endpoint.port if self.metrics_endpoint else None,
            decision_log=str(cfg.decision_log),
            source=cfg.source.kind,
        )

    async def wait_ready(self, timeout: float | None = None) -> Snapshot:
        """Wait for the first snapshot; raises TimeoutError naming what is still refused."""
        try:
            await asyncio.wait_for(self.loader.ready.wait(), timeout)
        except TimeoutError:
            problems = "; ".join(f"{k}: {v}" for k, v in self.store.errors.items()) or "none"
            raise TimeoutError(
                f"no policy snapshot after {timeout}s (refused inputs: {problems})"
            ) from None
        snapshot = self.store.current
        assert snapshot is not None
        return snapshot

    async def drain(self, timeout: float | None = None, quiet: float = 0.2) -> None:
        """Report NOT_SERVING, then keep answering until no call has run for `quiet` seconds
        (at most `timeout`, default the shutdown grace).

        Why not just `stop`: a call whose request has arrived but that the (busy) event loop has
        not picked up yet is not "in flight" for gRPC, and stopping would cancel it. Its caller
        sent it before being told to go away; draining answers it (and logs it) instead.
        """
        timeout = self.config.shutdown_grace if timeout is None else timeout
        if self.health is not None:
            await self.health.shutdown()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while loop.time() < deadline and self.activity.quiet_for() < quiet:
            await asyncio.sleep(min(0.02, quiet))

    async def stop(self, grace: float | None = None) -> None:
        """Stop taking calls, let in-flight ones finish for `grace` seconds, close the log."""
        grace = self.config.shutdown_grace if grace is None else grace
        if self.health is not None:
            await self.health.shutdown()
        if self._server is not None:
            await self._server.stop(grace)
            self._server = None
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()
        if self.metrics_endpoint is not None:
            await asyncio.to_thread(self.metrics_endpoint.close)
            self.metrics_endpoint = None
        if self.journal is not None:
            await self.journal.close()
            self.journal = None
        if self._unix_socket is not None:
            with contextlib.suppress(FileNotFoundError):
                self._unix_socket.unlink()
        log.info("stopped")

    async def wait_for_termination(self) -> None:
        if self._server is not None:
            await self._server.wait_for_termination()

    async def reload(self) -> None:
        """Re-read tenant and policy files now (SIGHUP); the kube source needs no nudge."""
        if self.file_source is not None:
            await self.file_source.check()

    # -- addresses ---------------------------------------------------------------------------

    @property
    def unix_target(self) -> str:
        """The gRPC target of the Unix socket, e.g. ``unix:///run/exportgate/policy.sock``."""
        if self._unix_socket is None:
            raise RuntimeError("this server does not listen on a Unix socket")
        return f"unix://{self._unix_socket}"

    # -- internals ---------------------------------------------------------------------------

    def _bind(self, server: grpc.aio.Server) -> None:
        lst = self.config.listen
        if lst.unix_socket is not None:
            path = lst.unix_socket.absolute()
            if len(os.fsencode(path)) > _MAX_SOCKET_PATH:
                raise ConfigError(
                    f"socket path {path} is {len(os.fsencode(path))} bytes, longer than the "
                    f"{_MAX_SOCKET_PATH} a Unix socket allows; choose a shorter --listen path"
                )
            try:
                _clear_stale_socket(path)
                path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise ConfigError(
                    f"cannot create the socket {path}: {exc.strerror or exc}; "
                    "choose a writable directory for --listen"
                ) from exc
            try:
                server.add_insecure_port(f"unix://{path}")
            except RuntimeError as exc:
                raise ConfigError(f"cannot listen on unix://{path}: {exc}") from exc
            self._unix_socket = path

    async def _run_source(self) -> None:
        src = self.config.source
        if src.kind == "files":
            self.file_source = FileSource(
                self.loader,
                tenant_paths=src.tenant_paths,
                policy_paths=src.policy_paths,
                poll_interval=src.poll_interval,
            )
            await self.file_source.run()
        else:
            from exportgate_sidecar.sources.kube import KubeSource

            await KubeSource(
                self.loader,
                self._kube_api,
                watch_timeout=src.watch_timeout,
                backoff=src.retry_backoff,
                backoff_max=src.retry_backoff_max,
            ).run()

    def _on_snapshot(self, old: Snapshot | None, new: Snapshot, changed: frozenset[str]) -> None:
        self.metrics.observe_snapshot(
            new.generation, len(new.tenants), new.policy_count, new.version
        )
        self.metrics.source_errors.set(len(self.store.errors))
        assert self.health is not None and self.journal is not None
        self.health.snapshot_loaded()
        if old is None or old.version != new.version:
            # An audit record of the switch; decisions carry the version, this says from when.
            self._tasks = [t for t in self._tasks if not t.done()]
            self._tasks.append(
                asyncio.get_running_loop().create_task(
                    self._record_snapshot(new, old.version if old else None)
                )
            )

    async def _record_snapshot(self, snapshot: Snapshot, previous: str | None) -> None:
        assert self.journal is not None
        try:
            await self.journal.snapshot_changed(
                {
                    "policyVersion": snapshot.version,
                    "previousPolicyVersion": previous,
                    "policyVersions": dict(snapshot.engine.policy_versions),
                    "tenants": len(snapshot.tenants),
                    "policies": snapshot.policy_count,
                }
            )
        except Exception as exc:
            # Decisions themselves carry the version; a missing switch record is worth a
            # warning, not an outage (a failing log shows up on the next decision anyway).
            log.warning("could not record the policy snapshot switch", error=str(exc))


def _clear_stale_socket(path: Path) -> None:
    """Remove a socket left by a previous run; refuse to delete anything that is not one."""
    try:
        mode = path.lstat().st_mode
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(mode):
        raise ConfigError(f"{path} exists and is not a socket; remove it or listen elsewhere")
    path.unlink()


@contextlib.asynccontextmanager
async def serve_in_background(
    config: SidecarConfig,
    *,
    wait_ready: bool = True,
    ready_timeout: float = 30.0,
    kube_api: Any = None,
) -> AsyncIterator[SidecarServer]:
    """Run a sidecar in this event loop for the duration of the block (tests, embedding).

    With `wait_ready` the block starts only once the first snapshot is served.
    """
    server = SidecarServer(config, kube_api=kube_api)
    await server.start()
    try:
        if wait_ready:
            await server.wait_ready(ready_timeout)
        yield server
    finally:
        await server.stop(grace=1.0)
