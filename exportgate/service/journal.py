"""The sidecar's side of the decision log: record before answering, and know when it can't.

`exportgate.decisionlog.DecisionLog` does the hard part: hash chaining, and group commit (a
batch is appended with one write, and coroutines waiting at the same moment share one fsync on
the log's own thread). This wrapper adds what the sidecar needs around it: record ids in batch
order, a probe that tells the health service when a broken log works again, and an audit record
whenever the policy snapshot changes, so an auditor can tell from the log alone which policy
version was in force from when.

Records reach the file before they are durable, and a caller can give up (deadline, cancel) in
between. Such decisions are in the log but were never answered; the journal then adds a
``not-delivered`` record naming them, so that the log never shows an allow nobody acted on
without saying so.
"""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import structlog

from exportgate.decisionlog import DecisionLog, DecisionLogError, LogEntry

__all__ = ["DecisionJournal", "LogEntry"]

SNAPSHOT_RECORD = "policy-snapshot"
CHECK_RECORD = "writer-check"
NOT_DELIVERED_RECORD = "not-delivered"

log = structlog.get_logger("exportgate.sidecar.journal")


class DecisionJournal:
    def __init__(self, log: DecisionLog) -> None:
        self._log = log
        # Writes whose caller gave up, still finishing in the background (kept referenced so
        # they are not garbage-collected, and awaited on close).
        self._orphans: set[asyncio.Future[Any]] = set()

    @classmethod
    def open(cls, path: Path, *, fsync: bool = True) -> DecisionJournal:
        """Open (or create) the log; raises `DecisionLogError` with the reason and a fix."""
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise DecisionLogError(
                f"cannot create the decision log's directory {path.parent}: "
                f"{exc.strerror or exc}; point --decision-log at a writable directory"
            ) from exc
        return cls(DecisionLog(path, fsync=fsync, component=_component()))

    @property
    def path(self) -> Path:
        return self._log.path

    def stalled_for(self) -> float:
        """Seconds the oldest write has waited for its fsync; 0 when none waits."""
        return self._log.sync_waiting_for()

    async def write(self, entries: Sequence[LogEntry]) -> list[str]:
        """Durably record `entries` (one write, a shared fsync); their record ids, in order.

        Raises `DecisionLogError` when they are not known to be on disk. If the calling task is
        cancelled meanwhile (the gRPC caller's deadline passed, or it hung up), the write still
        completes and is then marked as not delivered; the cancellation propagates.
        """
        # Appended now (or raises); the future settles once durable. Shielded, so a cancelled
        # caller leaves it running, and without a task of its own (a turn of the loop each).
        write = self._log.start_record_many(entries)
        try:
            records = await asyncio.shield(write)
        except asyncio.CancelledError:
            self._orphans.add(write)
            write.add_done_callback(self._after_abandoned_write)
            raise
        return [str(r["id"]) for r in records]

    async def not_delivered(self, ids: Sequence[str], reason: str) -> None:
        """Record that the decisions `ids` are in the log but were never answered."""
        await asyncio.to_thread(
            self._log.record_raw,
            {"type": NOT_DELIVERED_RECORD, "decisionIds": list(ids), "reason": reason},
        )

    def _after_abandoned_write(self, write: asyncio.Future[Any]) -> None:
        self._orphans.discard(write)
        if write.cancelled() or write.exception() is not None:
            return  # nothing durable was reported; the writer's own records say what happened
        ids = [str(r["id"]) for r in write.result()]
        note = asyncio.get_running_loop().create_task(
            self._note_not_delivered(ids, "the caller gave up (deadline or cancellation) before "
                                     "the answer was sent; the caller received no decision")
        )  # fmt: skip
        self._orphans.add(note)
        note.add_done_callback(self._orphans.discard)

    async def _note_not_delivered(self, ids: list[str], reason: str) -> None:
        try:
            await self.not_delivered(ids, reason)
        except Exception as exc:
            log.error("could not mark decisions as not delivered", ids=ids, error=str(exc))
        else:
            log.warning("decisions logged but not delivered", ids=ids, reason=reason)

    async def probe(self) -> None:
        """Raise unless a record can be written now. Only called after a failure, so the first
        record after an outage also tells an auditor when logging resumed."""
        await asyncio.to_thread(
            self._log.record_raw,
            {"type": CHECK_RECORD, "note": "decision log writable again after a failure"},
        )

    async def snapshot_changed(self, fields: dict[str, Any]) -> None:
        await asyncio.to_thread(self._log.record_raw, {"type": SNAPSHOT_RECORD, **fields})

    async def close(self) -> None:
        # Let abandoned writes land and be marked before the log closes.
        while self._orphans:
            await asyncio.gather(*list(self._orphans), return_exceptions=True)
        await asyncio.to_thread(self._log.close)


def _component() -> str:
    # The pod name is the host name in Kubernetes: enough to tell replicas' logs apart.
    return f"exportgate-sidecar@{socket.gethostname()}/{os.getpid()}"
