from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest

from exportgate.core.types import Action
from exportgate.decisionlog import (
    GENESIS,
    DecisionLog,
    DecisionLogError,
    LogEntry,
    RecordFormatError,
    record_hash,
    verify_files,
)
from tests.decisionlog.builders import make_decision
from tests.decisionlog.conftest import SteppingClock

Records = Callable[[Path], list[dict[str, Any]]]


def test_first_record_starts_a_chain_and_is_returned_as_written(
    log_path: Path, clock: SteppingClock, records_of: Records
) -> None:
    with DecisionLog(log_path, clock=clock, component="sidecar/exportgate-0") as log:
        returned = log.record(make_decision(), user="alice", operation="CREATE")
    [stored] = records_of(log_path)
    assert stored == returned
    assert stored["type"] == "decision"
    assert (stored["v"], stored["seq"], stored["prev"]) == (1, 1, GENESIS)
    assert stored["hash"] == record_hash(stored)
    # The clock's first reading dated the new chain's id, the second one the record.
    assert stored["time"] == "2025-03-01T00:00:01.000Z"
    assert stored["component"] == "sidecar/exportgate-0"
    assert stored["id"] and stored["chain"]
    assert log_path.read_bytes().endswith(b"}\n")


def test_records_chain_by_hash_and_sequence(
    log_path: Path, clock: SteppingClock, records_of: Records
) -> None:
    with DecisionLog(log_path, clock=clock) as log:
        for index in range(5):
            log.record(make_decision(name=f"job-{index}"))
    records = records_of(log_path)
    assert [r["seq"] for r in records] == [1, 2, 3, 4, 5]
    for before, after in pairwise(records):
        assert after["prev"] == before["hash"]
        assert after["chain"] == before["chain"]
    assert len({r["id"] for r in records}) == 5
    assert verify_files([log_path]).ok


def test_decision_id_overrides_the_generated_id(log_path: Path) -> None:
    with DecisionLog(log_path) as log:
        assert log.record(make_decision(), decision_id="admission-4b7c")["id"] == "admission-4b7c"


def test_reopening_resumes_the_chain(log_path: Path, records_of: Records) -> None:
    with DecisionLog(log_path) as log:
        log.record(make_decision())
        chain, seq, head = log.head
    with DecisionLog(log_path) as log:
        assert log.head == (chain, seq, head)
        log.record(make_decision())
    first, second = records_of(log_path)
    assert second["prev"] == first["hash"]
    assert (second["seq"], second["chain"]) == (2, first["chain"])
    assert verify_files([log_path]).ok


def test_record_many_writes_a_batch_in_order(log_path: Path, records_of: Records) -> None:
    entries = [LogEntry(make_decision(name=f"job-{i}"), request_uid=f"uid-{i}") for i in range(4)]
    with DecisionLog(log_path) as log:
        returned = log.record_many(entries)
        assert log.record_many([]) == []
    assert [r["requestUid"] for r in returned] == ["uid-0", "uid-1", "uid-2", "uid-3"]
    assert records_of(log_path) == returned
    assert verify_files([log_path]).ok


def test_raw_events_join_the_chain(log_path: Path, records_of: Records) -> None:
    with DecisionLog(log_path) as log:
        log.record(make_decision())
        log.record_raw({"type": "policy-reload", "policyVersion": "sha256:new"})
    decision, reload = records_of(log_path)
    assert reload["type"] == "policy-reload"
    assert reload["prev"] == decision["hash"]
    assert verify_files([log_path]).ok


def test_a_bad_value_writes_nothing_and_leaves_the_chain_usable(
    log_path: Path, records_of: Records
) -> None:
    with DecisionLog(log_path) as log:
        log.record(make_decision())
        with pytest.raises(RecordFormatError, match="float"):
            log.record(make_decision(), extra={"latencyMs": 1.5})
        log.record(make_decision(), extra={"latencyUs": 1500})
    records = records_of(log_path)
    assert [r["seq"] for r in records] == [1, 2]
    assert verify_files([log_path]).ok


def test_a_second_writer_on_the_same_file_is_refused(log_path: Path) -> None:
    with DecisionLog(log_path), pytest.raises(
        DecisionLogError, match="already open for writing by another writer"
    ):
        DecisionLog(log_path)
    DecisionLog(log_path).close()  # free again once the first writer closed


def test_a_closed_log_refuses_to_record(log_path: Path) -> None:
    log = DecisionLog(log_path)
    log.close()
    log.close()  # idempotent
    with pytest.raises(DecisionLogError, match="closed"):
        log.record(make_decision())


def test_threads_share_one_valid_chain(log_path: Path, records_of: Records) -> None:
    per_thread, threads = 50, 8
    returned: list[str] = []
    lock = threading.Lock()

    with DecisionLog(log_path) as log:

        def work(worker: int) -> None:
            for index in range(per_thread):
                record = log.record(make_decision(name=f"w{worker}-{index}"))
                with lock:
                    returned.append(record["id"])

        pool = [threading.Thread(target=work, args=(n,)) for n in range(threads)]
        for thread in pool:
            thread.start()
        for thread in pool:
            thread.join()
    records = records_of(log_path)
    assert len(records) == per_thread * threads
    assert sorted(r["id"] for r in records) == sorted(returned)
    assert [r["seq"] for r in records] == list(range(1, len(records) + 1))
    result = verify_files([log_path])
    assert result.ok, result.to_dict()


async def test_coroutines_share_fsyncs_and_one_valid_chain(
    log_path: Path, records_of: Records
) -> None:
    with DecisionLog(log_path) as log:
        results = await asyncio.gather(
            *(log.arecord(make_decision(name=f"job-{i}"), operation="CREATE") for i in range(200))
        )
        batch = await log.arecord_many([LogEntry(make_decision(action=Action.ALLOW))] * 3)
    assert len(batch) == 3
    records = records_of(log_path)
    assert len(records) == 203
    assert {r["id"] for r in results} <= {r["id"] for r in records}
    assert verify_files([log_path]).ok


async def test_a_cancelled_caller_does_not_cancel_the_shared_fsync(log_path: Path) -> None:
    with DecisionLog(log_path) as log:
        first = asyncio.ensure_future(log.arecord(make_decision(name="cancelled")))
        second = asyncio.ensure_future(log.arecord(make_decision(name="kept")))
        await asyncio.sleep(0)
        first.cancel()
        record = await second
        assert record["object"]["name"] == "kept"
    assert verify_files([log_path]).ok


def test_concurrent_threads_share_fsyncs_and_return_only_once_durable(
    log_path: Path, records_of: Records
) -> None:
    # Real threads on a real file with real fsyncs: while one thread's fsync runs, the others
    # append and queue; the next leader's single fsync then covers all of them.
    per_thread, threads = 40, 8
    start = threading.Barrier(threads)
    not_durable: list[int] = []
    returned: list[int] = []
    lock = threading.Lock()

    with DecisionLog(log_path) as log:

        def work(worker: int) -> None:
            start.wait(timeout=10)
            for index in range(per_thread):
                record = log.record(make_decision(name=f"w{worker}-{index}"))
                durable = log.durable_seq  # read right after record() returned
                with lock:
                    returned.append(record["seq"])
                    if durable < record["seq"]:
                        not_durable.append(record["seq"])

        pool = [threading.Thread(target=work, args=(n,)) for n in range(threads)]
        for thread in pool:
            thread.start()
        for thread in pool:
            thread.join(timeout=60)
        rounds = log.sync_rounds
    total = per_thread * threads
    assert not not_durable, "record() returned before an fsync covered the record"
    assert sorted(returned) == list(range(1, total + 1))
    assert 1 <= rounds < total, f"{rounds} fsyncs for {total} records: none were shared"
    records = records_of(log_path)
    assert [r["seq"] for r in records] == list(range(1, total + 1))
    assert verify_files([log_path]).ok


def test_one_caller_at_a_time_gets_one_fsync_per_record(log_path: Path) -> None:
    with DecisionLog(log_path) as log:
        for index in range(5):
            record = log.record(make_decision(name=f"solo-{index}"))
            assert log.durable_seq == record["seq"]
        assert log.sync_rounds == 5


async def test_coroutines_return_only_once_durable_and_share_fsyncs(log_path: Path) -> None:
    with DecisionLog(log_path) as log:

        async def one(index: int) -> tuple[int, int]:
            record = await log.arecord(make_decision(name=f"c-{index}"))
            return record["seq"], log.durable_seq

        results = await asyncio.gather(*(one(i) for i in range(100)))
        assert all(durable >= seq for seq, durable in results)
        assert log.sync_rounds < 100
    assert verify_files([log_path]).ok
