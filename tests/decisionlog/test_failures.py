"""A decision log that cannot write must say so, loudly, and never report a record as durable.

Disk-full and read-only are produced for real on a small tmpfs mounted for the test (needs
root, as in CI's container; skipped otherwise). Only an fsync error is faked: it cannot be
produced without a failing block device.
"""

from __future__ import annotations

import errno
import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from exportgate.decisionlog import DecisionLog, DecisionLogError, verify_files
from exportgate.decisionlog import writer as writer_module
from tests.decisionlog.builders import make_decision
from tests.tmpfs import tmpfs


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    with tmpfs(tmp_path / "small-disk", "size=256k,mode=0755") as disk:
        yield disk


@pytest.fixture
def read_only_disk(tmp_path: Path) -> Iterator[Path]:
    with tmpfs(tmp_path / "read-only-disk", "size=64k,ro") as disk:
        yield disk


def _fill(disk: Path, leave: int) -> Path:
    """Fill `disk` until about `leave` bytes are free; returns the filler file."""
    filler = disk / "filler"
    info = os.statvfs(disk)
    free = info.f_bavail * info.f_frsize
    filler.write_bytes(b"\0" * max(0, free - leave))
    return filler


def test_a_full_disk_raises_and_every_returned_record_is_on_disk(small_disk: Path) -> None:
    path = small_disk / "decisions.jsonl"
    returned: list[str] = []
    log = DecisionLog(path)
    filler = _fill(small_disk, leave=16 * 1024)
    with pytest.raises(DecisionLogError) as raised:
        for index in range(1000):
            returned.append(log.record(make_decision(name=f"job-{index}"))["id"])
    message = str(raised.value)
    assert "disk is full" in message
    assert "must not be acted on as an allow" in message
    assert returned, "some records should have fitted before the disk filled up"
    stored_ids = {
        json.loads(line)["id"]
        for line in path.read_bytes().splitlines()
        if line.endswith(b"}")  # the torn line, if any, is not a record
    }
    assert set(returned) <= stored_ids

    # Still full: every further attempt fails the same way, nothing is half-accepted.
    with pytest.raises(DecisionLogError, match="disk is full"):
        log.record(make_decision(name="still-full"))

    filler.unlink()
    after = log.record(make_decision(name="space-again"))
    log.close()
    result = verify_files([path], allow_recovered=True)
    assert result.ok, result.to_dict()
    records = [json.loads(line) for line in path.read_bytes().splitlines() if line.endswith(b"}")]
    assert records[-1]["id"] == after["id"]
    if path.read_bytes().count(b"\n") != len(records):  # a write was cut short by the full disk
        assert any(r["type"] == "recovery" for r in records)
        [recovered] = result.files[0].recovered
        assert "write cut short: write failed after" in recovered.describe()
        assert "No space left on device" in recovered.describe()


async def test_a_full_disk_fails_async_callers_too(small_disk: Path) -> None:
    path = small_disk / "decisions.jsonl"
    with DecisionLog(path) as log:
        _fill(small_disk, leave=0)
        with pytest.raises(DecisionLogError, match="disk is full"):
            for index in range(1000):
                await log.arecord(make_decision(name=f"job-{index}"))


def test_a_read_only_volume_fails_at_startup_with_a_clear_message(read_only_disk: Path) -> None:
    with pytest.raises(DecisionLogError, match="read-only") as raised:
        DecisionLog(read_only_disk / "decisions.jsonl")
    assert "cannot open decision log" in str(raised.value)


def test_a_missing_directory_fails_at_startup(tmp_path: Path) -> None:
    with pytest.raises(DecisionLogError, match="directory does not exist"):
        DecisionLog(tmp_path / "no-such-dir" / "decisions.jsonl")


def test_a_failed_fsync_fails_every_record_it_covered(
    log_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = DecisionLog(log_path)
    log.record(make_decision(name="durable"))
    real_fsync = os.fsync

    # FAKE: an fsync I/O error needs a failing block device; this stands in for one, once.
    def failing_fsync(fd: int) -> None:
        monkeypatch.setattr(writer_module.os, "fsync", real_fsync)
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(writer_module.os, "fsync", failing_fsync)
    with pytest.raises(DecisionLogError, match="cannot fsync"):
        log.record(make_decision(name="not-known-durable"))
    # The log rescans the file and carries on; the next record is durable again.
    log.record(make_decision(name="durable-again"))
    log.close()
    assert verify_files([log_path]).ok
