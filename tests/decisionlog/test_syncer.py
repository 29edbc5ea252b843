"""The asyncio callers' fsync thread: one per log, signalled per round, every loop answered."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

from exportgate.decisionlog import DecisionLog, DecisionLogError, verify_files
from exportgate.decisionlog.syncer import SyncThread
from tests.decisionlog.builders import make_decision


def _fsync_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "decisionlog-fsync"]


async def test_one_long_lived_thread_serves_every_round_and_ends_with_the_log(
    log_path: Path,
) -> None:
    before = len(_fsync_threads())
    log = DecisionLog(log_path)
    try:
        for index in range(20):  # one at a time: a round per record, the same thread each time
            record = await log.arecord(make_decision(name=f"solo-{index}"))
            assert log.durable_seq >= record["seq"]
        await asyncio.gather(*(log.arecord(make_decision(name=f"c-{i}")) for i in range(50)))
        assert len(_fsync_threads()) == before + 1
    finally:
        log.close()
    assert len(_fsync_threads()) == before
    assert verify_files([log_path]).ok


def test_callers_on_two_event_loops_are_each_answered(log_path: Path) -> None:
    # Two threads, each with its own event loop, sharing one log: a round resolves the waiters
    # of each loop on that loop.
    errors: list[BaseException] = []
    seqs: list[int] = []
    lock = threading.Lock()

    with DecisionLog(log_path) as log:

        async def many(worker: int) -> None:
            records = await asyncio.gather(
                *(log.arecord(make_decision(name=f"w{worker}-{i}")) for i in range(30))
            )
            with lock:
                seqs.extend(r["seq"] for r in records)
                if log.durable_seq < max(r["seq"] for r in records):
                    errors.append(AssertionError("answered before durable"))

        def run(worker: int) -> None:
            try:
                asyncio.run(many(worker))
            except BaseException as exc:  # reported below
                errors.append(exc)

        threads = [threading.Thread(target=run, args=(n,)) for n in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
    assert not errors
    assert sorted(seqs) == list(range(1, 61))
    assert verify_files([log_path]).ok


async def test_a_write_after_close_is_refused_not_hung(log_path: Path) -> None:
    log = DecisionLog(log_path)
    await log.arecord(make_decision())
    log.close()
    try:
        await asyncio.wait_for(log.arecord(make_decision(name="late")), timeout=10)
    except Exception as exc:
        assert "closed" in str(exc)
    else:
        raise AssertionError("a closed log accepted a record")


# A failing fsync cannot be produced on demand on a real disk, so the two tests below give the
# thread a round function that fails as the writer's would (raising DecisionLogError); the
# thread, the futures and the event loop are real.


async def test_a_failed_round_before_the_write_is_retried_not_reported() -> None:
    calls: list[int] = []
    durable = {"done": False}

    def sync_round() -> None:
        calls.append(1)
        if len(calls) == 1:
            raise DecisionLogError("fsync failed for an earlier batch")
        durable["done"] = True

    syncer = SyncThread(sync_round, name="decisionlog-fsync-test")
    try:
        result = await asyncio.wait_for(
            syncer.when_durable(lambda: durable["done"], lambda: False, "records"), timeout=10
        )
    finally:
        syncer.stop()
    assert result == "records"
    assert len(calls) == 2


async def test_a_failed_round_that_covered_the_write_reaches_every_waiter() -> None:
    def sync_round() -> None:
        raise DecisionLogError("fsync failed: EIO")

    syncer = SyncThread(sync_round, name="decisionlog-fsync-test")
    try:
        waiters = [syncer.when_durable(lambda: False, lambda: True, i) for i in range(5)]
        outcomes = await asyncio.wait_for(
            asyncio.gather(*waiters, return_exceptions=True), timeout=10
        )
    finally:
        syncer.stop()
    assert all(isinstance(o, DecisionLogError) and "EIO" in str(o) for o in outcomes)


async def test_a_round_that_does_not_return_shows_as_waiting_time() -> None:
    """How a hung disk shows before any write fails: the oldest waiter's wait grows while its
    round does not return, and is 0 again once it has (the service's health reads it). A round
    that blocks on an event stands in for an fsync that hangs: a real one cannot be produced on
    demand here (tests/faults/test_stalled_log.py freezes the real thread instead)."""
    release = threading.Event()
    syncer = SyncThread(lambda: release.wait(10), name="test-hang")
    assert syncer.waiting_for() == 0.0
    waiter = syncer.next_round()
    await asyncio.sleep(0.3)
    assert syncer.waiting_for() >= 0.25
    release.set()
    await asyncio.wait_for(waiter, 5)
    assert syncer.waiting_for() == 0.0
    syncer.stop()
