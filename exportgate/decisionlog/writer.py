"""`DecisionLog`: the durable, hash-chained, append-only writer every component uses.

Guarantees (docs/decision-log.md has the full contract):

* `record()` returns only once the record is on stable storage (``write`` + ``fsync``); if that
  cannot be done it raises `DecisionLogError` and the caller must deny or fail the request;
* each record is appended with one ``write`` on an ``O_APPEND`` descriptor and chained to the
  previous one by hash, so an edit, deletion or reordering is detectable;
* concurrent callers share fsyncs (group commit): while one fsync runs, later records are
  written and the next fsync covers all of them, so throughput is not one fsync per decision;
* a file left with a torn last line by a crash is never silently continued: the writer names
  the damaged bytes in a ``recovery`` record, which `audit verify` reports;
* one writer per file, enforced with an exclusive ``flock``: replicas each get their own file.

Records are rendered by a structlog processor chain (`render.py`); this class writes and syncs
them. Opening, recovery and rotation are in `lifecycle.py`, file helpers in `files.py`.
"""

from __future__ import annotations

import asyncio
import errno
import os
import threading
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Final

import structlog

from exportgate.core.decision import Decision
from exportgate.decisionlog.errors import DecisionLogError
from exportgate.decisionlog.files import (
    default_component,
    fd_identity,
    log_error,
    open_locked,
    utc_now,
)
from exportgate.decisionlog.ids import uuid7
from exportgate.decisionlog.lifecycle import FileLifecycle
from exportgate.decisionlog.record import (
    CLUSTER_ENV,
    DECISION,
    LogEntry,
    decision_body,
    raw_body,
    rfc3339_ms,
    unix_ms,
)
from exportgate.decisionlog.render import ChainLinker, ProcessorChain, check_event
from exportgate.decisionlog.snapshots import Pending, SnapshotDirectory, attach
from exportgate.decisionlog.syncer import SyncThread, done_future

Clock = Callable[[], datetime]

MIN_ROTATE_BYTES: Final = 64 * 1024


class DecisionLog(FileLifecycle):
    """A durable, hash-chained JSON-lines decision log with one writer (this object).

    `record`, `record_many` and `record_raw` block until the records are on stable storage
    (or raise `DecisionLogError`); they are thread-safe and group-commit concurrent callers
    into shared fsyncs. From asyncio use `arecord` / `arecord_many`: the append itself runs
    inline (a page-cache write, microseconds) and the fsync on a dedicated thread, shared by
    every coroutine waiting at that moment.

    ``fsync=False`` skips the fsyncs: records survive a process crash but not a power loss.
    Only for tests and benchmarks. ``max_bytes`` rotates the active file when the next append
    would take it past that size. ``component`` names the writer in every record (default
    ``<program>@<host>/<pid>``); ``cluster`` the cluster (default: $EXPORTGATE_CLUSTER_NAME;
    unset, records carry no ``cluster`` and read as ``unknown``).
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        fsync: bool = True,
        clock: Clock = utc_now,
        component: str | None = None,
        max_bytes: int | None = None,
        cluster: str | None = None,
    ) -> None:
        if max_bytes is not None and max_bytes < MIN_ROTATE_BYTES:
            raise ValueError(f"max_bytes must be at least {MIN_ROTATE_BYTES}, got {max_bytes}")
        self.path = Path(path)
        self.component = component or default_component()
        # Which cluster every record comes from, so logs of many clusters can be audited
        # together; the chart sets the variable from its clusterName value.
        # Unset: no field at all (the bytes of earlier versions), read as "unknown".
        self.cluster = cluster or os.environ.get(CLUSTER_ENV) or None
        self._snapshots = SnapshotDirectory(self.path, fsync=fsync)
        self._fsync = fsync
        self._clock = clock
        self._max_bytes = max_bytes

        self._lock = threading.Lock()  # file, chain state, counters
        self._sync_lock = threading.Lock()  # one fsync round at a time; taken before _lock
        self._fd = -1
        self._identity: tuple[int, int] = (0, 0)
        self._size = 0
        self._file_first_seq: int | None = None
        self._retired: list[int] = []  # descriptors of rotated files, closed after their fsync
        self._broken: str | None = None  # why the next append must rescan the file first
        self._closed = False
        # Durability bookkeeping uses append tickets, not seq: a ticket is handed out per
        # successful append and only ever grows.
        self._written_ticket = 0
        self._durable_ticket = 0
        self._failed_ticket = 0  # appends up to here were written but their fsync failed
        self._sync_rounds = 0
        self._durable_seq = 0

        self._linker = ChainLinker()
        self._chain = ProcessorChain(
            [check_event, structlog.processors.EventRenamer("type"), self._linker]
        )

        self._syncer = SyncThread(self._sync_all, name="decisionlog-fsync")

        with self._lock:
            try:
                self._open_locked()
            except BaseException:
                if self._fd >= 0:
                    os.close(self._fd)
                    self._fd = -1
                raise
        try:
            self._sync_through(self._written_ticket)  # a recovery record is durable up front
        except DecisionLogError:
            self.close()
            raise

    # --- public API ------------------------------------------------------------------------

    def record(
        self,
        decision: Decision,
        *,
        decision_id: str | None = None,
        user: str | None = None,
        request_uid: str | None = None,
        operation: str | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Durably append one decision record and return it (with its ``id``)."""
        entry = LogEntry(decision, decision_id, user, request_uid, operation, extra)
        return self.record_many([entry])[0]

    def record_many(self, entries: Iterable[LogEntry]) -> list[dict[str, Any]]:
        """Durably append several decision records with one write and one fsync."""
        pending: Pending = []
        events = self._decision_events(entries, pending)
        if not events:
            return []
        self._snapshots.store_all(pending)  # snapshot files before the records naming them
        records, ticket = self._append(events)
        self._sync_through(ticket)
        return records

    def record_raw(self, fields: Mapping[str, Any]) -> dict[str, Any]:
        """Durably append a non-decision event, e.g. ``{"type": "policy-reload", ...}``."""
        records, ticket = self._append([raw_body(fields)])
        self._sync_through(ticket)
        return records[0]

    async def arecord(
        self,
        decision: Decision,
        *,
        decision_id: str | None = None,
        user: str | None = None,
        request_uid: str | None = None,
        operation: str | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """`record` for asyncio: the fsync runs off the event loop and is shared."""
        entry = LogEntry(decision, decision_id, user, request_uid, operation, extra)
        return (await self.arecord_many([entry]))[0]

    async def arecord_many(self, entries: Iterable[LogEntry]) -> list[dict[str, Any]]:
        return await self.start_record_many(entries)

    def start_record_many(
        self, entries: Iterable[LogEntry]
    ) -> asyncio.Future[list[dict[str, Any]]]:
        """`arecord_many` begun now, on the running loop: the records are appended before this
        returns (or it raises `DecisionLogError`), and the future settles once they are durable.

        For callers that must let the write finish even if they are cancelled (shield the
        future): no task is created for that, unlike ``ensure_future(arecord_many(...))``,
        which also costs a turn of the loop before the write starts.
        """
        pending: Pending = []
        events = self._decision_events(entries, pending)
        if pending:  # a new policy version or tenant record: its file is written off the loop
            return asyncio.ensure_future(self._store_then_record(events, pending))
        if not events:
            return done_future([])
        records, ticket = self._append(events)
        return self._durable(ticket, records)

    async def _store_then_record(self, events: list[Any], pending: Pending) -> list[dict[str, Any]]:
        await asyncio.to_thread(self._snapshots.store_all, pending)
        records, ticket = self._append(events)
        return await self._durable(ticket, records)

    def _decision_events(self, entries: Iterable[LogEntry], pending: Pending) -> list[Any]:
        return [(DECISION, attach(self._snapshots, e, decision_body(e), pending)) for e in entries]

    @property
    def sync_rounds(self) -> int:
        """Completed sync rounds (one fsync each): fewer than records when group commit works."""
        return self._sync_rounds

    def sync_waiting_for(self) -> float:
        """Seconds the oldest asyncio caller has waited for its fsync round; 0 when none waits.
        A disk that hangs shows here long before any write fails."""
        return self._syncer.waiting_for()

    @property
    def durable_seq(self) -> int:
        """The seq of the last record a completed sync round covers (0 before the first)."""
        return self._durable_seq

    @property
    def head(self) -> tuple[str, int, str]:
        """(chain id, seq, hash) of the last record written: anchor it elsewhere (see docs)."""
        with self._lock:
            return self._linker.chain, self._linker.next_seq - 1, self._linker.prev

    def close(self) -> None:
        """Sync and close. Further appends raise `DecisionLogError`."""
        with self._sync_lock, self._lock:
            if self._closed:
                return
            self._closed = True
            fds = [*self._retired, self._fd]
            self._retired = []
            self._fd = -1
            for fd in fds:
                if fd < 0:
                    continue
                try:
                    if self._fsync:
                        os.fsync(fd)
                except OSError:
                    pass  # every caller was already answered; nothing is waiting on this sync
                finally:
                    os.close(fd)
        self._syncer.stop()

    def __enter__(self) -> DecisionLog:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # --- appending -------------------------------------------------------------------------

    def _append(self, events: list[tuple[str, dict[str, Any]]]) -> tuple[list[dict[str, Any]], int]:
        """Render and write `events` as one batch; return the records and the append ticket."""
        with self._lock:
            if self._closed:
                raise DecisionLogError(f"decision log {self.path} is closed; nothing was recorded")
            if self._broken is not None:
                self._reopen_locked()
            self._check_identity_locked()
            before = self._linker.snapshot()
            data, records = self._render_locked(events)
            if (
                self._max_bytes is not None
                and self._size > 0
                and self._size + len(data) > self._max_bytes
            ):
                self._linker.restore(before)
                self._rotate_locked()
                before = self._linker.snapshot()
                data, records = self._render_locked(events)
            self._write_locked(data, before)
            return records, self._written_ticket

    def _render_locked(
        self, events: list[tuple[str, dict[str, Any]]]
    ) -> tuple[bytes, list[dict[str, Any]]]:
        """Run the structlog chain over `events`; advances the chain state (see `_write_locked`)."""
        now = self._clock()
        stamp, ms = rfc3339_ms(now), unix_ms(now)
        before = self._linker.snapshot()
        self._linker.linked.clear()
        lines: list[str] = []
        try:
            for kind, body in events:
                fields = dict(body)  # `body` stays as given: a rotation renders the batch again
                if fields.get("id") is None:
                    fields["id"] = uuid7(ms)
                fields["time"] = stamp
                fields["component"] = self.component
                if self.cluster is not None:
                    fields["cluster"] = self.cluster
                lines.append(self._chain.render(kind, fields))
        except BaseException:
            self._linker.restore(before)
            raise
        data = ("\n".join(lines) + "\n").encode("utf-8") if lines else b""
        return data, list(self._linker.linked)

    def _write_locked(self, data: bytes, before: tuple[str, int, str]) -> None:
        """Append `data` with one write (looping only on a short write), or undo the batch.

        `before` is the chain state from before the batch was rendered: if the write fails, the
        chain goes back to it, so the next record does not point at a record that is not there.
        """
        written = 0
        try:
            while written < len(data):
                done = os.write(self._fd, data[written:])
                if done <= 0:
                    raise OSError(errno.EIO, "write returned no progress")
                written += done
        except OSError as exc:
            self._linker.restore(before)
            # Part of the batch may be on disk as a torn line; rescan before the next append.
            self._broken = f"write failed after {written} of {len(data)} bytes: {exc}"
            raise self._error("cannot write to", exc) from exc
        self._size += written
        self._written_ticket += 1

    # --- durability ------------------------------------------------------------------------

    def _sync_through(self, ticket: int) -> None:
        """Block until append `ticket` is on stable storage (one fsync serves many callers)."""
        with self._sync_lock:
            if ticket <= self._durable_ticket:
                return
            if ticket <= self._failed_ticket:
                raise DecisionLogError(
                    f"decision log {self.path}: fsync failed for this record; "
                    "it is not known to be on disk"
                )
            # The leader: this one fsync covers every record appended so far, including those
            # of callers queued behind `_sync_lock`, who then find their ticket durable.
            with self._lock:
                target = self._written_ticket
                target_seq = self._linker.next_seq - 1
                retired, self._retired = self._retired, []
                fds = [*retired, self._fd]
            try:
                if self._fsync:
                    for fd in fds:
                        if fd >= 0:
                            os.fsync(fd)
            except OSError as exc:
                with self._lock:
                    self._failed_ticket = max(self._failed_ticket, target)
                    # After a failed fsync the kernel may have dropped the dirty pages; rescan.
                    self._broken = f"fsync failed: {exc}"
                raise self._error("cannot fsync", exc) from exc
            finally:
                for fd in retired:
                    os.close(fd)
            self._sync_rounds += 1
            self._durable_seq = max(self._durable_seq, target_seq)
            self._durable_ticket = max(self._durable_ticket, target)

    def _sync_all(self) -> None:
        with self._lock:
            target = self._written_ticket
        self._sync_through(target)

    def _durable(
        self, ticket: int, records: list[dict[str, Any]]
    ) -> asyncio.Future[list[dict[str, Any]]]:
        """A future of `records`, settled once append `ticket` is on stable storage."""
        if not self._fsync:
            # No fsync to wait for: the round is bookkeeping only, not worth a thread hop.
            self._sync_through(ticket)
            return done_future(records)
        return self._syncer.when_durable(
            lambda: self._durable_ticket >= ticket,
            # The failed round covered our write, or the log closed: no round will help.
            lambda: ticket <= self._failed_ticket or self._closed,
            records,
        )

    def _open_file(self, path: Path, *, exclusive: bool = False) -> int:
        return open_locked(path, fsync=self._fsync, exclusive=exclusive)

    @staticmethod
    def _fd_identity(fd: int) -> tuple[int, int]:
        return fd_identity(fd)

    def _error(self, what: str, exc: OSError) -> DecisionLogError:
        return log_error(self.path, what, exc)
