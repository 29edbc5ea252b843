"""Freeze single threads of a running process, for faults that SIGSTOP cannot make.

SIGSTOP stops a whole process. To stall one part of it for real (the decision log's fsync
thread, as a disk that stops answering would), the test attaches to just that thread with
ptrace and interrupts it: the kernel stops that thread alone, the others (the event loop) run
on. Detaching resumes it where it was. Needs ptrace rights over the process (root, or its
parent under Yama's default); the test is skipped otherwise.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import subprocess
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

import pytest

_PTRACE_DETACH = 17
_PTRACE_SEIZE = 0x4206
_PTRACE_INTERRUPT = 0x4207
_WALL = 0x40000000  # __WALL: wait for a thread, not only a child process

_libc = ctypes.CDLL(None, use_errno=True)
_libc.ptrace.argtypes = [ctypes.c_long, ctypes.c_long, ctypes.c_void_p, ctypes.c_void_p]
_libc.ptrace.restype = ctypes.c_long


def thread_ids(pid: int) -> set[int]:
    """The ids of the threads of `pid` now."""
    return {int(t) for t in os.listdir(f"/proc/{pid}/task")}


def _ptrace(request: int, tid: int) -> None:
    if _libc.ptrace(request, tid, None, None) != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"ptrace({request}, {tid}): {os.strerror(errno)}")


@contextmanager
def frozen_threads(tids: Iterable[int]) -> Iterator[None]:
    """Stop the threads `tids` (all of one process) for the duration of the block.

    ptrace requests must come from the thread that attached: use this from one thread only."""
    attached: list[int] = []
    try:
        for tid in tids:
            try:
                _ptrace(_PTRACE_SEIZE, tid)
            except OSError as exc:
                pytest.skip(f"cannot ptrace the process under test: {exc}")
            attached.append(tid)
            _ptrace(_PTRACE_INTERRUPT, tid)
            os.waitpid(tid, _WALL)  # returns once the thread is stopped
        yield
    finally:
        for tid in attached:
            try:
                _ptrace(_PTRACE_DETACH, tid)
            except ProcessLookupError:
                reap_exited([tid])  # the process ended meanwhile: only its exit is left to take


def reap_exited(tids: Iterable[int]) -> None:
    """Collect the exit of those of `tids` (frozen by this thread) that have ended. A frozen
    thread that the process's exit kills stays a zombie until its tracer collects it, and the
    process's own exit status is not reported before that."""
    for tid in tids:
        with contextlib.suppress(ChildProcessError):  # already collected, or not ours
            os.waitpid(tid, _WALL | os.WNOHANG)


def await_exit_reaping(
    child: subprocess.Popen[str], tids: Iterable[int], within_s: float, failure: str
) -> None:
    """Wait up to `within_s` for `child` to exit while collecting the exits of its frozen
    threads (`reap_exited`: ours to collect as their tracer); past it, kill the child and fail
    the test with `failure` (what it shows is unbounded)."""
    deadline = time.monotonic() + within_s
    while child.poll() is None and time.monotonic() < deadline:
        reap_exited(tids)
        time.sleep(0.1)
    if child.poll() is None:
        child.kill()
        reap_exited(tids)
        pytest.fail(failure)
