"""The policy host settles its program's heap when the first snapshot is in and again after a
switch, and leaves the collector alone when it is given no settler (library use)."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Iterator

import pytest

from exportgate.heap import HeapSettler
from exportgate.service.host import PolicyHost
from tests.sidecar.builders import SidecarFiles, policy_doc


@pytest.fixture(autouse=True)
def _unfrozen() -> Iterator[None]:
    yield
    gc.unfreeze()


async def _until(condition: object, timeout: float = 10.0) -> None:
    async with asyncio.timeout(timeout):
        while not condition():  # type: ignore[operator]
            await asyncio.sleep(0.02)


async def test_first_snapshot_then_each_switch_settles(files: SidecarFiles) -> None:
    heap = HeapSettler(quiet_s=0.05, min_interval_s=0.0)
    host = PolicyHost(files.config(), heap=heap)
    await host.start()
    try:
        await host.wait_ready(20)
        assert heap.settles == 1 and gc.get_freeze_count() > 0
        files.write_policies(policy_doc("2.0.0"))
        await host.reload()
        await _until(lambda: host.store.current.version != "" and heap.settles >= 2)
    finally:
        await host.stop()
    assert not heap.pending, "stopping drops a pending settle"


async def test_without_a_settler_nothing_is_frozen(files: SidecarFiles) -> None:
    gc.unfreeze()
    host = PolicyHost(files.config())
    await host.start()
    try:
        await host.wait_ready(20)
    finally:
        await host.stop()
    assert gc.get_freeze_count() == 0
