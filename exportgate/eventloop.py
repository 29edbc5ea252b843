"""The event loop the webhook and the policy sidecar run on.

uvloop (libuv) by default: most of the sidecar's time per call is the event loop's and
grpc.aio's own work (waking up, scheduling callbacks, socket I/O), and much of the webhook's per
review is TLS and socket I/O and callbacks, which uvloop does in C (bench/NOTES.md has the
measured gains). grpc.aio runs on it as on the stdlib loop: tests/sidecar and tests/faults
(deadlines, cancellation, kill -9) pass on both; the webhook's listener and sessions are tested
on both (tests/webhook, the ``both_loops`` marker).
``EXPORTGATE_EVENT_LOOP=asyncio`` selects the stdlib loop, an escape hatch should a future uvloop
or grpcio release disagree; without uvloop installed the stdlib loop is used.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

_T = TypeVar("_T")

ENV = "EXPORTGATE_EVENT_LOOP"


def loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's loop factory, or None for the stdlib default."""
    if os.environ.get(ENV, "uvloop") == "asyncio":
        return None
    try:
        import uvloop
    except ImportError:  # pragma: no cover - a dependency; only a stripped install lacks it
        return None
    factory: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
    return factory


def run(main: Coroutine[Any, Any, _T]) -> _T:
    """`asyncio.run(main)` on the chosen loop."""
    with asyncio.Runner(loop_factory=loop_factory()) as runner:
        return runner.run(main)
