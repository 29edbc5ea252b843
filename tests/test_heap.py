"""Heap settling: what is settled is skipped by the collector's passes, what a later settle
finds dead is collected, and settles after a switch wait, merge and can be cancelled."""

from __future__ import annotations

import asyncio
import gc
import time
import weakref
from collections.abc import Iterator

import pytest

from exportgate.heap import HeapSettler


class _Node:
    """A container in a reference cycle: only the cyclic collector can free it."""

    def __init__(self) -> None:
        self.me = self


@pytest.fixture(autouse=True)
def _unfrozen() -> Iterator[None]:
    # The test process itself must not stay frozen after a test.
    yield
    gc.unfreeze()


def test_settle_freezes_what_is_alive_and_collects_what_is_not() -> None:
    dead = weakref.ref(_Node())  # cyclic garbage before the settle
    kept = _Node()
    settled = HeapSettler().settle()
    assert dead() is None
    assert settled.collected >= 1 and settled.frozen > 0 and gc.get_freeze_count() > 0
    assert settled.seconds >= 0
    ref = weakref.ref(kept)
    del kept
    gc.collect()
    assert ref() is not None, "frozen: the collector's passes skip it"


def test_the_next_settle_collects_what_was_frozen_and_died_since() -> None:
    settler = HeapSettler()
    old = _Node()  # e.g. the policy snapshot that a switch later replaces
    settler.settle()
    ref = weakref.ref(old)
    del old
    settler.settle()
    assert ref() is None


async def test_soon_waits_for_the_quiet_period_and_merges_calls() -> None:
    settler = HeapSettler(quiet_s=0.1, min_interval_s=0.0)
    began = time.monotonic()
    settler.soon()
    settler.soon()  # a burst of switches is one settle
    assert settler.pending
    while settler.pending:
        await asyncio.sleep(0.01)
    assert time.monotonic() - began >= 0.1
    assert settler.settles == 1


async def test_soon_keeps_the_minimum_interval_after_the_last_settle() -> None:
    settler = HeapSettler(quiet_s=0.0, min_interval_s=0.3)
    settler.settle()
    began = time.monotonic()
    settler.soon()
    while settler.pending:
        await asyncio.sleep(0.01)
    assert time.monotonic() - began >= 0.25
    assert settler.settles == 2


async def test_cancel_drops_a_pending_settle() -> None:
    settler = HeapSettler(quiet_s=0.05)
    settler.soon()
    settler.cancel()
    await asyncio.sleep(0.1)
    assert settler.settles == 0 and not settler.pending
