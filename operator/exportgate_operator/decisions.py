"""Decision ids for re-audits, durable in the decision log when one is configured.

Each re-audit verdict is recorded with operation AUDIT, so an annotation's decision id leads an
auditor to the full record (rule, citation, jurisdictions, policy versions). Without a log the
id is still a fresh UUIDv7 that the Events and reports carry.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from exportgate.core.decision import Decision
from exportgate.core.types import Tenant, Workload
from exportgate.decisionlog import DecisionLog, LogEntry
from exportgate.decisionlog.ids import uuid7

COMPONENT = "exportgate-operator"


class DecisionRecorder:
    def __init__(self, path: str | None, *, fsync: bool = True) -> None:
        self._log: DecisionLog | None = None
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

    def close(self) -> None:
        if self._log is not None:
            with contextlib.suppress(Exception):
                self._log.close()
            self._log = None
