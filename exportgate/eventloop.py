"""The event loop the policy sidecar runs on.

uvloop (libuv) by default: most of the sidecar's time per call is the event loop's and
grpc.aio's own work (waking up, scheduling callbacks, socket I/O), which uvloop does in C
(bench/NOTES.md has the measured gain). grpc.aio runs on it as on the stdlib loop: tests/sidecar
and tests/faults (deadlines, cancellation, kill -9) pass on both.
``EXPORTGATE_EVENT_LOOP=asyncio`` selects the stdlib loop, an escape hatch should a future uvloop
or grpcio release disagree; without uvloop installed the stdlib loop is used.

The webhook stays on the stdlib loop: its guarded listener hands each accepted connection to
`loop.start_tls` from a task, which relies on the loop not reading from the socket before that
task runs; uvloop starts reading at once, so a ClientHello could be read by the wrong protocol
(measured: handshakes hanging until their timeout under load).
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
