"""The sidecar's side of the decision log: record before answering, and know when it can't.

`exportgate.decisionlog.DecisionLog` does the hard part: hash chaining, and group commit (a
batch is appended with one write, and coroutines waiting at the same moment share one fsync on
the log's own thread). This wrapper adds what the sidecar needs around it: record ids in batch
order, a probe that tells the health service when a broken log works again, and an audit record
whenever the policy snapshot changes, so an auditor can tell from the log alone which policy
version was in force from when.
"""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from exportgate.decisionlog import DecisionLog, DecisionLogError, LogEntry

__all__ = ["DecisionJournal", "LogEntry"]

SNAPSHOT_RECORD = "policy-snapshot"
CHECK_RECORD = "writer-check"


class DecisionJournal:
    def __init__(self, log: DecisionLog) -> None:
        self._log = log

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

    async def write(self, entries: Sequence[LogEntry]) -> list[str]:
        """Durably record `entries` (one write, a shared fsync); their record ids, in order.

        Raises `DecisionLogError` when they are not known to be on disk.
        """
        records = await self._log.arecord_many(entries)
        return [str(r["id"]) for r in records]

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
        await asyncio.to_thread(self._log.close)


def _component() -> str:
    # The pod name is the host name in Kubernetes: enough to tell replicas' logs apart.
    return f"exportgate-sidecar@{socket.gethostname()}/{os.getpid()}"
