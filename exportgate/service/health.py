"""The standard gRPC health service (`grpc.health.v1`), driven by what a decision needs.

The sidecar reports SERVING only while it can actually answer: a policy snapshot is loaded, the
decision log is writable, and its fsync is not stuck (a hung disk fails no write; it just never
returns, so a write waiting longer than `stall_after` for its fsync counts as unwritable).
Kubernetes probes (``grpc:`` probes or grpc-health-probe) and the webhook read it; NOT_SERVING
keeps a pod out of rotation instead of letting it answer errors.

Status is kept for the overall server ("") and for ``exportgate.v1.PolicyService``.
"""

from __future__ import annotations

import asyncio
import contextlib

import structlog
from grpc_health.v1 import health_pb2
from grpc_health.v1._async import HealthServicer

from exportgate.service.journal import DecisionJournal
from exportgate.wire.client import SERVICE_NAME

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING

log = structlog.get_logger("exportgate.sidecar.health")

#: A write waiting longer than this for its fsync takes the service out of rotation: a local
#: disk answers in milliseconds, and the webhook's review budget is 2 s.
DEFAULT_STALL_AFTER_S = 2.0


class HealthMonitor:
    def __init__(
        self,
        journal: DecisionJournal,
        *,
        probe_interval: float = 2.0,
        stall_after: float = DEFAULT_STALL_AFTER_S,
    ) -> None:
        self.servicer = HealthServicer()
        self._journal = journal
        self._probe_interval = probe_interval
        self._stall_after = stall_after
        self._stalled = False
        self._snapshot_loaded = False
        # The journal was opened (and so proven writable) before the monitor exists.
        self._log_writable = True
        self._published: bool | None = None
        self._changed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    @property
    def serving(self) -> bool:
        return self._snapshot_loaded and self._log_writable and not self._stalled

    async def start(self) -> None:
        # The servicer starts out SERVING for ""; say the truth before the port opens.
        await self._publish()
        self._task = asyncio.get_running_loop().create_task(self._run())

    def snapshot_loaded(self) -> None:
        self._snapshot_loaded = True
        self._changed.set()

    def log_result(self, ok: bool) -> None:
        """Called after every decision-log write: a failure takes the server out of rotation
        at once; the probe loop brings it back when the log is writable again."""
        if ok != self._log_writable:
            self._log_writable = ok
            self._changed.set()

    async def _run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), timeout=self._probe_interval)
            self._changed.clear()
            stalled = self._journal.stalled_for() > self._stall_after
            if stalled != self._stalled:
                self._stalled = stalled
                log.warning(
                    "decision log fsync stalled" if stalled else "decision log fsync returned",
                    stall_after_s=self._stall_after,
                )
            # What changed is published before the log is probed: a failed write takes the
            # server out of rotation at once, and on a sick disk the probe itself may take a
            # while (a health check in between found it still SERVING).
            await self._publish()
            if not self._log_writable and not stalled:
                await self._probe_log()
                await self._publish()

    async def _probe_log(self) -> None:
        try:
            await self._journal.probe()
        except Exception as exc:
            log.warning("decision log still not writable", error=str(exc))
            self._log_writable = False
        else:
            log.info("decision log writable again")
            self._log_writable = True

    async def _publish(self) -> None:
        serving = self.serving
        if serving == self._published:
            return
        status = SERVING if serving else NOT_SERVING
        for service in ("", SERVICE_NAME):
            await self.servicer.set(service, status)
        log.info(
            "health",
            status="SERVING" if serving else "NOT_SERVING",
            snapshot_loaded=self._snapshot_loaded,
            decision_log_writable=self._log_writable,
            decision_log_stalled=self._stalled,
        )
        self._published = serving

    async def shutdown(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.servicer.enter_graceful_shutdown()
