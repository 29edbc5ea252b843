"""Opening, recovery and rotation of the active file: the part of the writer that reads.

`FileLifecycle` is a mixin of `DecisionLog` (writer.py): it holds the steps that set the chain
state from what is on disk (resume after the last valid record, name damage in a ``recovery``
record, continue a rotated segment's chain) and that move to a new file (size rotation, the
active file removed behind the writer's back). Split from the writer only to keep each module
readable; the two share the writer's state and its lock discipline (methods ending in
``_locked`` run with ``_lock`` held).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from exportgate.decisionlog.canonical import GENESIS
from exportgate.decisionlog.errors import DecisionLogError
from exportgate.decisionlog.files import recovery_message
from exportgate.decisionlog.ids import uuid7
from exportgate.decisionlog.record import RECOVERY, ROTATED, unix_ms
from exportgate.decisionlog.render import ChainLinker
from exportgate.decisionlog.segments import archive_path, first_record, rotated_segments, scan_tail


class FileLifecycle:
    """Resume, recover and rotate; see the module docstring."""

    path: Path
    _fd: int
    _identity: tuple[int, int]
    _size: int
    _file_first_seq: int | None
    _retired: list[int]
    _broken: str | None
    _fsync: bool
    _clock: Callable[[], datetime]
    _linker: ChainLinker

    def _open_file(self, path: Path, *, exclusive: bool = False) -> int:
        raise NotImplementedError

    def _fd_identity(self, fd: int) -> tuple[int, int]:
        raise NotImplementedError

    def _error(self, what: str, exc: OSError) -> DecisionLogError:
        raise NotImplementedError

    def _render_locked(
        self, events: list[tuple[str, dict[str, Any]]]
    ) -> tuple[bytes, list[dict[str, Any]]]:
        raise NotImplementedError

    def _write_locked(self, data: bytes, before: tuple[str, int, str]) -> None:
        raise NotImplementedError

    def _write_writer_record_locked(self, kind: str, body: dict[str, Any], prefix: bytes) -> None:
        before = self._linker.snapshot()
        data, _ = self._render_locked([(kind, body)])
        self._write_locked(prefix + data, before)

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
                "message": recovery_message(tail, cause),
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
