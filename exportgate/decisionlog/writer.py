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

Records are rendered by a structlog processor chain: the value check, the event-to-type rename
and the chain linker, which stamps seq and prev and renders the canonical JSON line together with
its hash in a single serialisation (`canonical.canonical_line`). The final "logger" only
collects the rendered lines; this class writes and syncs them, because durability and the
chain's rollback on failure need more control than a logging sink offers.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import errno
import fcntl
import os
import socket
import sys
import threading
from collections.abc import Callable, Iterable, Mapping, MutableMapping
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Final

import structlog

from exportgate.core.decision import Decision
from exportgate.decisionlog.canonical import (
    FORMAT_VERSION,
    GENESIS,
    canonical_line,
    check_values,
)
from exportgate.decisionlog.errors import DecisionLogError
from exportgate.decisionlog.ids import uuid7
from exportgate.decisionlog.record import (
    DECISION,
    RECOVERY,
    ROTATED,
    LogEntry,
    decision_body,
    raw_body,
    rfc3339_ms,
    unix_ms,
)
from exportgate.decisionlog.segments import (
    TailState,
    archive_path,
    first_record,
    rotated_segments,
    scan_tail,
)

Clock = Callable[[], datetime]

MIN_ROTATE_BYTES: Final = 64 * 1024
_OPEN_FLAGS: Final = os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC
_FILE_MODE: Final = 0o640


def _utc_now() -> datetime:
    return datetime.now(UTC)


def default_component() -> str:
    """``<program>@<host>/<pid>``; adapters pass something better, e.g. ``sidecar/<pod>``."""
    program = Path(sys.argv[0]).name if sys.argv and sys.argv[0] else "python"
    return f"{program}@{socket.gethostname()}/{os.getpid()}"


class _ChainLinker:
    """structlog renderer: stamps format version, chain, seq and prev, then renders the line.

    The hash and the line come from one serialisation of the record (`canonical_line`): the
    record is the largest part of a decision's cost, so it is not dumped twice.

    The state advances as records are rendered; the writer takes a `snapshot` before rendering
    a batch and `restore`s it if the batch does not reach the file, so a failed write never
    leaves a gap or a dangling `prev` in the chain.
    """

    def __init__(self) -> None:
        self.chain = ""
        self.next_seq = 1
        self.prev = GENESIS
        self.linked: list[dict[str, Any]] = []

    def start(self, chain: str, next_seq: int, prev: str) -> None:
        self.chain, self.next_seq, self.prev = chain, next_seq, prev

    def resume_after(self, record: Mapping[str, Any]) -> None:
        self.start(record["chain"], record["seq"] + 1, record["hash"])

    def snapshot(self) -> tuple[str, int, str]:
        return self.chain, self.next_seq, self.prev

    def restore(self, state: tuple[str, int, str]) -> None:
        self.chain, self.next_seq, self.prev = state

    def __call__(
        self, logger: Any, method_name: str, event_dict: MutableMapping[str, Any]
    ) -> str:
        event_dict["v"] = FORMAT_VERSION
        event_dict["chain"] = self.chain
        event_dict["seq"] = self.next_seq
        event_dict["prev"] = self.prev
        digest, line = canonical_line(event_dict)
        event_dict["hash"] = digest
        self.next_seq += 1
        self.prev = digest
        self.linked.append(dict(event_dict))
        return line


def _check_event(
    logger: Any, method_name: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor: refuse values whose JSON text a verifier could not reproduce."""
    check_values(event_dict)
    return event_dict


class _RenderedLines:
    """The structlog "logger" at the end of the chain: it keeps the rendered lines."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def msg(self, line: str) -> None:
        self.lines.append(line)


class DecisionLog:
    """A durable, hash-chained JSON-lines decision log with one writer (this object).

    `record`, `record_many` and `record_raw` block until the records are on stable storage
    (or raise `DecisionLogError`); they are thread-safe and group-commit concurrent callers
    into shared fsyncs. From asyncio use `arecord` / `arecord_many`: the append itself runs
    inline (a page-cache write, microseconds) and the fsync on a dedicated thread, shared by
    every coroutine waiting at that moment.

    ``fsync=False`` skips the fsyncs: records survive a process crash but not a power loss.
    Only for tests and benchmarks. ``max_bytes`` rotates the active file when the next append
    would take it past that size. ``component`` names the writer in every record (default
    ``<program>@<host>/<pid>``).
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        fsync: bool = True,
        clock: Clock = _utc_now,
        component: str | None = None,
        max_bytes: int | None = None,
    ) -> None:
        if max_bytes is not None and max_bytes < MIN_ROTATE_BYTES:
            raise ValueError(f"max_bytes must be at least {MIN_ROTATE_BYTES}, got {max_bytes}")
        self.path = Path(path)
        self.component = component or default_component()
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

        self._linker = _ChainLinker()
        self._rendered = _RenderedLines()
        self._render = structlog.BoundLogger(
            self._rendered,
            [
                _check_event,
                structlog.processors.EventRenamer("type"),
                self._linker,
            ],
            {},
        )

        self._flush_guard = threading.Lock()
        self._flush_inflight: concurrent.futures.Future[None] | None = None
        self._executor: concurrent.futures.ThreadPoolExecutor | None = None

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
        events = [(DECISION, decision_body(entry)) for entry in entries]
        if not events:
            return []
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
        events = [(DECISION, decision_body(entry)) for entry in entries]
        if not events:
            return []
        records, ticket = self._append(events)
        await self._await_durable(ticket)
        return records

    @property
    def sync_rounds(self) -> int:
        """How many sync rounds (one fsync of the active file each) have completed.

        Fewer than the records written when callers overlap: that is the group commit at work,
        and what operators and tests look at to see it.
        """
        return self._sync_rounds

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
        if self._executor is not None:
            self._executor.shutdown(wait=True)

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
        self._rendered.lines.clear()
        self._linker.linked.clear()
        try:
            for kind, body in events:
                fields = dict(body)
                if fields.get("id") is None:
                    fields["id"] = uuid7(ms)
                fields["time"] = stamp
                fields["component"] = self.component
                self._render.msg(kind, **fields)
        except BaseException:
            self._linker.restore(before)
            raise
        data = "".join(line + "\n" for line in self._rendered.lines).encode("utf-8")
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

    def _write_writer_record_locked(self, kind: str, body: dict[str, Any], prefix: bytes) -> None:
        before = self._linker.snapshot()
        data, _ = self._render_locked([(kind, body)])
        self._write_locked(prefix + data, before)

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

    async def _await_durable(self, ticket: int) -> None:
        while self._durable_ticket < ticket:
            with self._flush_guard:
                flush = self._flush_inflight
                if flush is None or flush.done():
                    if self._executor is None:
                        self._executor = concurrent.futures.ThreadPoolExecutor(
                            max_workers=1, thread_name_prefix="decisionlog-fsync"
                        )
                    flush = self._flush_inflight = self._executor.submit(self._sync_all)
            try:
                # shield: a cancelled caller must not cancel the fsync others are waiting on.
                await asyncio.shield(asyncio.wrap_future(flush))
            except DecisionLogError:
                if self._durable_ticket >= ticket:
                    return
                if ticket <= self._failed_ticket:
                    raise
                # The failed round was taken before our write: go round again.
                continue

    # --- opening, recovery, rotation -------------------------------------------------------

    def _open_locked(self) -> None:
        fd = self._open_file(self.path)
        self._fd = fd
        self._identity = self._fd_identity(fd)
        self._resume_locked(reason_if_new="writer started with no active file")

    def _reopen_locked(self) -> None:
        """Rescan the active file after a failed write or fsync, then carry on from it."""
        self._resume_locked(
            reason_if_new="active file had no valid record after a failure", cause=self._broken
        )
        self._broken = None

    def _resume_locked(self, *, reason_if_new: str, cause: str | None = None) -> None:
        """Set the chain state from the file's tail; name any damage in a recovery record.

        `cause` is None when the file is being opened (damage then comes from an earlier
        process, typically one that crashed mid-write), or the failure this writer hit itself.
        """
        try:
            tail = scan_tail(self._fd)
        except OSError as exc:
            raise self._error("cannot read", exc) from exc
        self._size = tail.size
        continuation: dict[str, Any] = {}
        if tail.last is not None:
            self._linker.resume_after(tail.last)
        else:
            continuation = self._continue_from_segment()
        first = None if tail.size == 0 else first_record(self._fd)
        self._file_first_seq = first["seq"] if first else self._linker.next_seq
        if tail.damaged:
            body = {
                **continuation,
                "damaged": [d.to_dict() for d in tail.damaged],
                "message": _recovery_message(tail, cause),
                "cause": cause or "found when the writer opened the file",
            }
            prefix = b"" if tail.ends_with_newline else b"\n"
            self._write_writer_record_locked(RECOVERY, body, prefix)
        elif continuation:
            body = {**continuation, "reason": reason_if_new}
            self._write_writer_record_locked(ROTATED, body, b"")

    def _continue_from_segment(self) -> dict[str, Any]:
        """No valid record in the active file: continue the newest rotated segment's chain."""
        for segment in reversed(rotated_segments(self.path)):
            try:
                fd = os.open(segment, os.O_RDONLY | os.O_CLOEXEC)
            except OSError:
                continue
            try:
                last = scan_tail(fd).last
            finally:
                os.close(fd)
            if last is not None:
                self._linker.resume_after(last)
                return {"previousFile": segment.name}
        self._linker.start(uuid7(unix_ms(self._clock())), 1, GENESIS)
        return {}

    def _rotate_locked(self) -> None:
        old_fd = self._fd
        archived = archive_path(self.path, self._file_first_seq or self._linker.next_seq)
        try:
            if self._fsync:
                # The old segment must be complete on disk before the next one refers to it.
                os.fsync(old_fd)
            os.rename(self.path, archived)
            new_fd = self._open_file(self.path, exclusive=True)
        except OSError as exc:
            raise self._error("cannot rotate", exc) from exc
        self._retired.append(old_fd)
        self._fd = new_fd
        self._identity = self._fd_identity(new_fd)
        self._size = 0
        self._file_first_seq = self._linker.next_seq
        self._write_writer_record_locked(
            ROTATED, {"previousFile": archived.name, "reason": "size limit reached"}, b""
        )

    def _check_identity_locked(self) -> None:
        """Catch the active file being removed or replaced behind the writer's back.

        Without this, records would go on being appended to an unlinked inode that nobody
        will ever read, and every one of them would be reported as durably logged.
        """
        try:
            current = os.stat(self.path)
        except FileNotFoundError:
            old_name = self.path.name
            try:
                new_fd = self._open_file(self.path, exclusive=True)
            except OSError as exc:
                raise self._error("cannot recreate", exc) from exc
            self._retired.append(self._fd)
            self._fd = new_fd
            self._identity = self._fd_identity(new_fd)
            self._size = 0
            self._file_first_seq = self._linker.next_seq
            self._write_writer_record_locked(
                ROTATED,
                {
                    "previousFile": old_name,
                    "reason": "the active file was removed or renamed while the writer had it "
                    "open; its earlier records are wherever it was moved to",
                },
                b"",
            )
            return
        except OSError as exc:
            raise self._error("cannot stat", exc) from exc
        if (current.st_dev, current.st_ino) != self._identity:
            raise DecisionLogError(
                f"decision log {self.path} was replaced by another file while this writer had it "
                "open; refusing to mix two chains in one file. Move the foreign file away and "
                "restart the writer."
            )

    def _open_file(self, path: Path, *, exclusive: bool = False) -> int:
        flags = _OPEN_FLAGS | (os.O_EXCL if exclusive else 0)
        try:
            fd = os.open(path, flags, _FILE_MODE)
        except OSError as exc:
            raise self._error("cannot open", exc) from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise DecisionLogError(
                f"decision log {path} is already open for writing by another writer; "
                "give each process its own file (e.g. put the pod name in the file name)"
            ) from None
        except OSError as exc:
            os.close(fd)
            raise self._error("cannot lock", exc) from exc
        try:
            if os.fstat(fd).st_size == 0 and self._fsync:
                _fsync_directory(path.parent)  # the new file's name must survive a crash too
        except OSError as exc:
            os.close(fd)
            raise self._error("cannot sync the directory of", exc) from exc
        return fd

    @staticmethod
    def _fd_identity(fd: int) -> tuple[int, int]:
        info = os.fstat(fd)
        return info.st_dev, info.st_ino

    def _error(self, what: str, exc: OSError) -> DecisionLogError:
        reason = exc.strerror or str(exc)
        hint = {
            errno.ENOSPC: "the disk is full; free space or enlarge the volume",
            errno.EDQUOT: "the disk quota is exhausted",
            errno.EROFS: "the file system is read-only",
            errno.EACCES: "check the permissions of the file and its directory",
            errno.EPERM: "check the permissions and attributes of the file",
            errno.ENOENT: "the directory does not exist",
        }.get(exc.errno or 0, "check the volume the log is on")
        return DecisionLogError(
            f"{what} decision log {self.path}: {reason} ({hint}); the decision was not "
            "recorded, so it must not be acted on as an allow"
        )


def _recovery_message(tail: TailState, cause: str | None) -> str:
    torn = [d for d in tail.damaged if not d.terminated]
    if cause is not None:
        return (
            f"this writer's own write was cut short ({cause}); the caller was told the record "
            "was not logged; the partial bytes are kept as they were and the chain resumes here"
        )
    if len(tail.damaged) == 1 and torn:
        return (
            "the previous writer stopped in the middle of writing a record (crash or kill); "
            "its bytes are kept as they were and the chain resumes here"
        )
    return (
        f"{len(tail.damaged)} line(s) at the end of the file were not valid records when the "
        "writer reopened it; they are kept as they were and the chain resumes here"
    )


def _fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
