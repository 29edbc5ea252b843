"""Keeping the garbage collector's full passes off the admission path.

CPython's cyclic collector now and then walks every container object the process holds (a
generation-2 pass), on whichever thread happens to allocate: in the webhook and the sidecar
that is the event loop, so every review in flight waits for the pass. Those processes hold
several hundred thousand long-lived objects (the accelerator and model catalogues, the compiled
adapters, the tenants and policies of the current snapshot); measured on the 2-vCPU bench
machine (bench/NOTES.md, "Heap settling"), one pass stopped the loop for up to 49 ms under load.

`gc.freeze()` moves every object that exists at that moment into a permanent generation the
collector's passes skip (reference counting still frees them). So a program *settles* its heap
once it holds what it keeps for the long run: one full collection, then freeze. Later passes
walk only what was allocated since (caches, in-flight reviews), which is small.

What a later policy snapshot replaces is still collectable: `HeapSettler.soon` settles again
after a switch, unfreezing first so that the pass sees the old snapshot. It waits `quiet_s`, so
that reviews which still hold the old snapshot have finished with it (otherwise it would be
frozen again, alive), and settles at most once per `min_interval_s`, so a burst of tenant
updates costs one pass, not one per update. Each settle is one full pass, the same work the
collector would do on its own, at a time of our choosing and far less often.
"""

from __future__ import annotations

import asyncio
import gc
import time
from dataclasses import dataclass

import structlog

log = structlog.get_logger("exportgate.heap")


@dataclass(frozen=True, slots=True)
class Settled:
    """What one settle did."""

    collected: int
    frozen: int
    seconds: float


class HeapSettler:
    """Settles this process's heap now (`settle`) or after a policy switch (`soon`)."""

    def __init__(self, *, quiet_s: float = 15.0, min_interval_s: float = 60.0) -> None:
        self.quiet_s = quiet_s
        self.min_interval_s = min_interval_s
        self._last = float("-inf")
        self._pending: asyncio.TimerHandle | None = None
        self.settles = 0

    def settle(self) -> Settled:
        """Collect everything collectable, then freeze what is left (blocks for one pass)."""
        began = time.perf_counter()
        gc.unfreeze()  # so that this pass also sees what earlier settles froze
        collected = gc.collect()
        gc.freeze()
        self._last = time.monotonic()
        self.settles += 1
        settled = Settled(collected, gc.get_freeze_count(), time.perf_counter() - began)
        log.info(
            "heap settled",
            collected=settled.collected,
            frozen=settled.frozen,
            seconds=round(settled.seconds, 4),
        )
        return settled

    def soon(self) -> None:
        """Settle once reviews holding replaced data are done: after `quiet_s`, and no sooner
        than `min_interval_s` after the last settle. Calls while one is pending are merged."""
        if self._pending is not None:
            return
        wait = max(self.quiet_s, self._last + self.min_interval_s - time.monotonic())
        self._pending = asyncio.get_running_loop().call_later(wait, self._due)

    def _due(self) -> None:
        self._pending = None
        self.settle()

    def cancel(self) -> None:
        """Drop a pending settle (the program is stopping)."""
        if self._pending is not None:
            self._pending.cancel()
            self._pending = None

    @property
    def pending(self) -> bool:
        return self._pending is not None
