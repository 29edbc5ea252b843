"""Decision ids for re-audits, durable in the decision log when one is configured.

Each re-audit verdict is recorded with operation AUDIT, so an annotation's decision id leads an
auditor to the full record (rule, citation, jurisdictions, policy versions). Without a log the
id is still a fresh UUIDv7 that the Events and reports carry.

Closing waits for the log's last fsync, and on a disk that has stopped answering that wait has
no end: the operator would hang in Terminating until the kubelet kills it. So `close` waits at
most `close_timeout` seconds (like the policy service's `--log-close-timeout`), then logs that
the last records may not be durable and gives up; the program then exits with status 1
(`exportgate_operator.runner.LogCloseStalled`).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from exportgate.core.decision import Decision
from exportgate.core.types import Tenant, Workload
from exportgate.decisionlog import DecisionLog, LogEntry
from exportgate.decisionlog.ids import uuid7
from exportgate.logsetup import get_logger

COMPONENT = "exportgate-operator"

#: Seconds closing the log may wait for its last fsync (the policy service's default too).
CLOSE_TIMEOUT_S = 10.0

log = get_logger(__name__)


class DecisionRecorder:
    def __init__(
        self, path: str | None, *, fsync: bool = True, close_timeout: float = CLOSE_TIMEOUT_S
    ) -> None:
        self._log: DecisionLog | None = None
        self._close_timeout = close_timeout
        self._closing_path = ""
        self.stalled: str | None = None
        """Why the last `close` gave up (the fsync did not return in time); None otherwise."""
        if path:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            self._log = DecisionLog(path, fsync=fsync, component=COMPONENT)

    @property
    def enabled(self) -> bool:
        return self._log is not None

    async def record(
        self,
        decisions: Sequence[Decision],
        *,
        operation: str = "AUDIT",
        extra: dict[str, Any] | None = None,
        inputs: Sequence[tuple[Workload | None, Tenant | None]] | None = None,
    ) -> list[str]:
        """Record `decisions` (one write, one fsync) and return their ids, in order.

        `inputs`, one (workload, tenant record) per decision, are logged so that
        `exportgate audit explain` can replay the re-audit decision."""
        if not decisions:
            return []
        if self._log is None:
            now = int(datetime.now(UTC).timestamp() * 1000)
            return [uuid7(now) for _ in decisions]
        given = list(inputs) if inputs is not None else [(None, None)] * len(decisions)
        entries = [
            LogEntry(d, operation=operation, extra=extra, workload=w, tenant_record=t)
            for d, (w, t) in zip(decisions, given, strict=True)
        ]
        records = await self._log.arecord_many(entries)
        return [str(record["id"]) for record in records]

    async def record_event(self, fields: Mapping[str, Any]) -> str:
        """Record a non-decision record (``type`` names it, e.g. ``compute-threshold``) and
        return its id; without a log, a fresh id that Events and reports can still carry."""
        if self._log is None:
            return uuid7(int(datetime.now(UTC).timestamp() * 1000))
        record = await asyncio.to_thread(self._log.record_raw, fields)
        return str(record["id"])

    def close(self) -> bool:
        """Close the log, waiting at most `close_timeout` seconds; False when it gave up."""
        closed = self._start_close()
        return closed is None or self._closed_in_time(closed.wait(self._close_timeout))

    async def aclose(self) -> bool:
        """`close` without blocking the event loop (kopf's cleanup runs on it)."""
        closed = self._start_close()
        if closed is None:
            return True
        # Polled, not awaited on a thread pool: a pool thread stuck in the kernel would be
        # joined at interpreter exit, which is the hang this bound is for.
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._close_timeout
        while not closed.is_set() and loop.time() < deadline:
            await asyncio.sleep(min(0.05, max(0.0, deadline - loop.time())))
        return self._closed_in_time(closed.is_set())

    def _start_close(self) -> threading.Event | None:
        """Close the log on a daemon thread of its own (it may never return); the event is set
        once it has. None when there is no log (any more)."""
        decision_log, self._log = self._log, None
        if decision_log is None:
            return None
        closed = threading.Event()

        def run() -> None:
            with contextlib.suppress(Exception):  # every caller was answered already
                decision_log.close()
            closed.set()

        self._closing_path = str(decision_log.path)
        threading.Thread(target=run, name="exportgate-decision-log-close", daemon=True).start()
        return closed

    def _closed_in_time(self, closed: bool) -> bool:
        if not closed:
            self.stalled = (
                f"decision log {self._closing_path}: not closed within "
                f"{self._close_timeout:g}s at shutdown, its fsync does not return (a hung or "
                "very slow disk); the last re-audit records may not be durable"
            )
            log.error("decision log close stalled: giving up", reason=self.stalled)
        return closed
