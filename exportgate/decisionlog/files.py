"""File-level helpers of the writer: opening with a lock, errors in words, directory syncs.

Kept apart from `writer.py` so the writer reads as append, sync, recover and rotate.
"""

from __future__ import annotations

import errno
import fcntl
import os
import socket
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

from exportgate.decisionlog.errors import DecisionLogError
from exportgate.decisionlog.segments import TailState

OPEN_FLAGS: Final = os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC
FILE_MODE: Final = 0o640


def utc_now() -> datetime:
    return datetime.now(UTC)


def default_component() -> str:
    """``<program>@<host>/<pid>``; adapters pass something better, e.g. ``sidecar/<pod>``."""
    program = Path(sys.argv[0]).name if sys.argv and sys.argv[0] else "python"
    return f"{program}@{socket.gethostname()}/{os.getpid()}"


def open_locked(path: Path, *, fsync: bool, exclusive: bool = False) -> int:
    """Open `path` for appending under an exclusive ``flock`` (one writer per file)."""
    flags = OPEN_FLAGS | (os.O_EXCL if exclusive else 0)
    try:
        fd = os.open(path, flags, FILE_MODE)
    except OSError as exc:
        raise log_error(path, "cannot open", exc) from exc
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
        raise log_error(path, "cannot lock", exc) from exc
    try:
        if os.fstat(fd).st_size == 0 and fsync:
            fsync_directory(path.parent)  # the new file's name must survive a crash too
    except OSError as exc:
        os.close(fd)
        raise log_error(path, "cannot sync the directory of", exc) from exc
    return fd


def fd_identity(fd: int) -> tuple[int, int]:
    info = os.fstat(fd)
    return info.st_dev, info.st_ino


def log_error(path: Path, what: str, exc: OSError) -> DecisionLogError:
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
        f"{what} decision log {path}: {reason} ({hint}); the decision was not "
        "recorded, so it must not be acted on as an allow"
    )


def recovery_message(tail: TailState, cause: str | None) -> str:
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


def fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
