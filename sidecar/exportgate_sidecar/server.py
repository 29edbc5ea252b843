"""The sidecar program: the policy service (`exportgate.service.PolicyHost`) behind gRPC.

`SidecarServer` adds to the host a gRPC server on a Unix socket (PolicyService, the standard
health service, reflection) and the optional Prometheus endpoint. `serve_in_background(config)`
is the async context manager tests and embedders use to run one in-process::

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

from exportgate.heap import HeapSettler
from exportgate.service.config import ConfigError, SidecarConfig
from exportgate.service.host import PolicyHost
from exportgate.v1 import policy_pb2_grpc as pb_grpc
from exportgate.wire.client import SERVICE_NAME
from exportgate_sidecar.metrics_endpoint import MetricsEndpoint
from exportgate_sidecar.servicer import PolicyServicer

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


class SidecarServer(PolicyHost):
    def __init__(
        self, config: SidecarConfig, *, kube_api: Any = None, heap: HeapSettler | None = None
    ) -> None:
        """`kube_api`: a `kubernetes.client.ApiClient` for the kube source (built from
        `config.source.kubeconfig` or in-cluster config when None); `heap`: see `PolicyHost`."""
        if config.listen.unix_socket is None:
            raise ConfigError("nothing to listen on: give --listen unix://PATH")
        super().__init__(config, kube_api=kube_api, heap=heap)
        self.metrics_endpoint: MetricsEndpoint | None = None
        self._server: grpc.aio.Server | None = None
        self._unix_socket: Path | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    async def _start(self) -> None:
        cfg = self.config
        await self._open()
        await self._begin()
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

    async def _open_front_door(self) -> None:
        assert self.health is not None and self.service is not None
        server = grpc.aio.server(options=_SERVER_OPTIONS)
        pb_grpc.add_PolicyServiceServicer_to_server(
            PolicyServicer(self.service, decision_log=str(self.config.decision_log)), server
        )
        health_pb2_grpc.add_HealthServicer_to_server(self.health.servicer, server)
        reflection.enable_server_reflection(
            (SERVICE_NAME, _HEALTH_SERVICE, reflection.SERVICE_NAME),
            server,
        )
        self._bind(server)
        await server.start()
        self._server = server

    async def stop(self, grace: float | None = None) -> None:
        """Stop taking calls, let in-flight ones finish for `grace` seconds, close the log
        (`ShutdownStalled` when it does not close within the configured timeout)."""
        grace = self.config.shutdown_grace if grace is None else grace
        if self.health is not None:
            await self.health.shutdown()
        if self._server is not None:
            await self._server.stop(grace)
            self._server = None
        if self.metrics_endpoint is not None:
            await asyncio.to_thread(self.metrics_endpoint.close)
            self.metrics_endpoint = None
        try:
            await super().stop(grace)
        finally:
            if self._unix_socket is not None:
                with contextlib.suppress(FileNotFoundError):
                    self._unix_socket.unlink()
        log.info("stopped")

    async def wait_for_termination(self) -> None:
        if self._server is not None:
            await self._server.wait_for_termination()

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
