"""`PolicyHost`: the policy service with everything it runs on, minus any transport.

It opens the decision log, reads tenants and policies (files or the Kubernetes API) into one
immutable snapshot at a time, keeps the decision cache and the recent-decision map in step with
that snapshot, records each policy switch in the log, tracks health, and holds the
`PolicyService` that decides. Two programs host it:

- the sidecar (`exportgate_sidecar.SidecarServer`) adds a gRPC server on a Unix socket;
- the webhook with ``--sidecar embedded`` asks `service` directly (`exportgate.service.local`).

Everything runs on the caller's event loop; blocking work goes to threads: the fsync of the
decision log, reading files, building engines, and the Kubernetes watches.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from typing import Any, NoReturn

import structlog

from exportgate.heap import HeapSettler
from exportgate.service.cache import DecisionCache
from exportgate.service.config import SidecarConfig
from exportgate.service.evaluate import Activity, PolicyService
from exportgate.service.health import HealthMonitor
from exportgate.service.journal import DecisionJournal
from exportgate.service.metrics import SidecarMetrics
from exportgate.service.recent import RecentDecisions
from exportgate.service.sources.files import FileSource
from exportgate.world.loader import SnapshotLoader
from exportgate.world.snapshot import Snapshot, SnapshotStore

log = structlog.get_logger("exportgate.sidecar")


class ShutdownStalled(Exception):
    """The decision log could not be closed in time at shutdown: its fsync does not return."""


def exit_stalled(exc: ShutdownStalled) -> NoReturn:
    """End the program now, saying why. A thread is stuck in the kernel on the hung disk, and
    the interpreter's normal exit would wait for it (thread pools are joined at exit), so this
    exits without it. Nothing is lost that was promised: every answer that needed a record
    was sent only after its record was durable."""
    log.error("shutdown stalled: exiting without the decision log's last fsync", error=str(exc))
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(1)


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


class PolicyHost:
    def __init__(
        self,
        config: SidecarConfig,
        *,
        kube_api: Any = None,
        metrics: SidecarMetrics | None = None,
        heap: HeapSettler | None = None,
    ) -> None:
        """`kube_api`: a `kubernetes.client.ApiClient` for the kube source (built from
        `config.source.kubeconfig` or in-cluster config when None). `metrics`: where the
        service's metrics go (a registry of their own by default). `heap`: the program's heap
        settler (`exportgate.heap`), settled when the first snapshot is loaded and again after
        each switch; None (a library use, tests) leaves the collector alone."""
        config.validate()
        self.config = config
        self.heap = heap
        self._kube_api = kube_api
        self.store = SnapshotStore()
        self.cache = DecisionCache(config.cache)
        self.recent = RecentDecisions(max_entries=config.reuse_max_entries, ttl=config.reuse_window)
        self.metrics = metrics or SidecarMetrics()
        self.loader = SnapshotLoader(
            self.store, packs=config.packs, default_action=config.default_action
        )
        self.file_source: FileSource | None = None
        self.journal: DecisionJournal | None = None
        self.health: HealthMonitor | None = None
        self.service: PolicyService | None = None
        self.activity = Activity()
        self._tasks: list[asyncio.Task[Any]] = []

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        """Open the log and start loading tenants and policies.

        Returns at once; the service refuses calls (UNAVAILABLE) until the first snapshot is
        loaded: see `wait_ready`. On failure everything opened so far is closed again before
        the error propagates. If that cleanup itself cannot finish (the log's fsync does not
        return), `ShutdownStalled` names both, so the program exits (`exit_stalled`) saying why
        it could not start; any other cleanup failure is logged and the start error raised."""
        try:
            await self._start()
        except BaseException as failure:
            try:
                await self.stop(grace=0)
            except ShutdownStalled as stalled:
                raise ShutdownStalled(f"start failed ({_describe(failure)}), then {stalled}") from (
                    failure
                )
            except Exception as cleanup:
                log.error(
                    "cleanup after a failed start failed",
                    start=_describe(failure),
                    error=str(cleanup),
                )
            raise

    async def _start(self) -> None:
        await self._open()
        await self._begin()

    async def _open(self) -> None:
        """Open the log and credentials and build the service; nothing runs yet."""
        cfg = self.config
        # Fails here, with the reason, when the log cannot be opened: better a pod that does not
        # start than one that looks alive but can never answer.
        self.journal = await asyncio.to_thread(DecisionJournal.open, cfg.decision_log)
        if cfg.source.kind == "kube" and self._kube_api is None:
            # Same reasoning for credentials: a service that can never reach the API server
            # should say why at startup, not sit NOT_SERVING with the reason buried in a task.
            from exportgate.service.sources.kube import kube_api_client

            self._kube_api = await asyncio.to_thread(kube_api_client, cfg.source.kubeconfig)
        self.health = HealthMonitor(self.journal)
        self.store.subscribe(self.cache.on_snapshot)
        self.store.subscribe(self.recent.on_snapshot)
        self.store.subscribe(self._on_snapshot)
        self.service = PolicyService(
            config=cfg,
            store=self.store,
            cache=self.cache,
            recent=self.recent,
            journal=self.journal,
            health=self.health,
            metrics=self.metrics,
            activity=self.activity,
        )

    async def _begin(self) -> None:
        """Start health reporting, the front door, then the source of tenants and policies."""
        assert self.health is not None
        # Health says the truth (NOT_SERVING) before any front door opens.
        await self.health.start()
        await self._open_front_door()
        self._tasks.append(asyncio.create_task(self._run_source(), name="source"))

    async def _open_front_door(self) -> None:
        """Start taking calls from outside the process (a program hosting the service adds
        one here; embedded, callers in the process use `service` directly)."""

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
        not picked up yet is not "in flight" yet, and stopping would cancel it. Its caller sent
        it before being told to go away; draining answers it (and logs it) instead.
        """
        timeout = self.config.shutdown_grace if timeout is None else timeout
        if self.health is not None:
            await self.health.shutdown()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while loop.time() < deadline and self.activity.quiet_for() < quiet:
            await asyncio.sleep(min(0.02, quiet))

    async def stop(self, grace: float | None = None) -> None:
        """Stop the source and close the log (after the front door stopped taking calls).
        Raises `ShutdownStalled` when the log does not close within the configured
        `log_close_timeout` (the program then ends with `exit_stalled`)."""
        if self.health is not None:
            await self.health.shutdown()
        if self.heap is not None:
            self.heap.cancel()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()
        if self.journal is not None:
            journal, self.journal = self.journal, None
            close_timeout = self.config.log_close_timeout
            try:
                await asyncio.wait_for(journal.close(), close_timeout)
            except TimeoutError:
                raise ShutdownStalled(
                    f"decision log {journal.path}: not closed within {close_timeout:g}s at "
                    "shutdown, its fsync does not return (a hung or very slow disk). No review "
                    "was answered on a record that is not durable; records of reviews that "
                    "were refused meanwhile may be missing from the file"
                ) from None

    async def reload(self) -> None:
        """Re-read tenant and policy files now (SIGHUP); the kube source needs no nudge."""
        if self.file_source is not None:
            await self.file_source.check()

    # -- internals ---------------------------------------------------------------------------

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
            from exportgate.service.sources.kube import KubeSource

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
        if self.heap is not None:
            # What the process keeps for the long run is now loaded (or replaced): keep the
            # collector's full passes off the reviews (see exportgate/heap.py).
            if old is None:
                self.heap.settle()
            else:
                self.heap.soon()
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
