"""The writer's fsync thread for asyncio callers: one long-lived thread, signalled per round.

An asyncio caller must not block its event loop on an fsync, so the sync round runs on a
thread. This used to be one executor job per waiting write (a work item, a concurrent future,
an asyncio future chained to it, and a wake-up of the loop per waiter); the hand-off cost more
CPU than rendering the record (bench/NOTES.md, "logpath"). Here one thread waits on a
condition; each waiter registers a plain asyncio future and signals it; the thread takes every
waiter registered so far, runs one sync round (which covers every append made before it
starts, hence every registered waiter's), and resolves the waiters of each event loop with one
`call_soon_threadsafe`. Waiters that register while a round runs are covered by the next one.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Callable
from typing import TypeVar

from exportgate.decisionlog.errors import DecisionLogError

_Waiter = tuple[asyncio.AbstractEventLoop, "asyncio.Future[None]"]
T = TypeVar("T")


class SyncThread:
    """Runs `sync_round` on its own thread whenever an asyncio caller waits for one."""

    def __init__(self, sync_round: Callable[[], None], name: str) -> None:
        self._sync_round = sync_round
        self._name = name
        self._cond = threading.Condition(threading.Lock())
        self._waiters: list[_Waiter] = []
        self._thread: threading.Thread | None = None
        self._stopping = False
        # Since when (time.monotonic) the oldest waiter not yet answered has waited, None when
        # none waits: how a hung disk (or a thread that never runs) shows before any write
        # fails (`waiting_for`).
        self._oldest_wait: float | None = None

    def next_round(self) -> asyncio.Future[None]:
        """A future settled by a sync round that starts after this call (result None, or the
        round's `DecisionLogError`). Cancelling it does not stop the round others wait for."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        with self._cond:
            if self._stopping:
                raise DecisionLogError("the decision log is closed; nothing was recorded")
            if self._thread is None:
                # A daemon: a process that exits without closing its log has no one waiting
                # for this thread's answer; close() joins it when the log is closed properly.
                self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
                self._thread.start()
            self._waiters.append((loop, future))
            if self._oldest_wait is None:
                self._oldest_wait = time.monotonic()
            self._cond.notify()
        return future

    def when_durable(
        self, durable: Callable[[], bool], hopeless: Callable[[], bool], value: T
    ) -> asyncio.Future[T]:
        """A future of `value`, settled once `durable()` holds after a round, or with the
        round's error once `hopeless()` says no further round can make it durable (a failed
        round that began before the write is not hopeless: the next one is asked for).

        Driven by callbacks, not a task: no turn of the loop is spent until a round ends."""
        result: asyncio.Future[T] = asyncio.get_running_loop().create_future()

        def after(round_done: asyncio.Future[None] | None) -> None:
            if result.done():  # the caller stopped waiting
                return
            if durable():
                result.set_result(value)
                return
            if round_done is not None:
                error = round_done.exception()
                if error is not None and hopeless():
                    result.set_exception(error)
                    return
            try:
                self.next_round().add_done_callback(after)
            except DecisionLogError as exc:
                result.set_exception(exc)

        after(None)
        return result

    def waiting_for(self) -> float:
        """Seconds the oldest unanswered waiter has waited for its sync round; 0 when none
        waits."""
        since = self._oldest_wait
        return 0.0 if since is None else max(0.0, time.monotonic() - since)

    def stop(self) -> None:
        """Finish the waiters already registered, then end the thread."""
        with self._cond:
            self._stopping = True
            self._cond.notify()
            thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join()

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._waiters and not self._stopping:
                    self._cond.wait()
                if not self._waiters:
                    return
                waiters, self._waiters = self._waiters, []
                # Those registered from here on are answered by the next round: they wait from
                # now at the latest.
                next_wait = time.monotonic()
            error: BaseException | None = None
            try:
                self._sync_round()
            except BaseException as exc:  # every waiter must hear of it, whatever it is
                error = exc
            with self._cond:
                self._oldest_wait = next_wait if self._waiters else None
            by_loop: dict[asyncio.AbstractEventLoop, list[asyncio.Future[None]]] = {}
            for loop, future in waiters:
                by_loop.setdefault(loop, []).append(future)
            for loop, futures in by_loop.items():
                # A closed loop raises RuntimeError: nobody is left there to tell.
                with contextlib.suppress(RuntimeError):
                    loop.call_soon_threadsafe(_settle, futures, error)


def _settle(futures: list[asyncio.Future[None]], error: BaseException | None) -> None:
    for future in futures:
        if future.done():  # its waiter was cancelled
            continue
        if error is None:
            future.set_result(None)
        else:
            future.set_exception(error)


def done_future(value: T) -> asyncio.Future[T]:
    """A future of `value` that is already settled, on the running loop."""
    future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
    future.set_result(value)
    return future
