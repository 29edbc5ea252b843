from __future__ import annotations

import json
import os
import random
from itertools import pairwise
from pathlib import Path

import pytest

from exportgate.decisionlog import DecisionLog, DecisionLogError, verify_files
from exportgate.decisionlog.segments import archive_path, rotated_segments
from tests.decisionlog.builders import make_decision

LIMIT = 64 * 1024


def write_rotating(path: Path, count: int) -> list[Path]:
    with DecisionLog(path, max_bytes=LIMIT) as log:
        for index in range(count):
            log.record(make_decision(name=f"job-{index}"))
    return [*rotated_segments(path), path]


def first_record(path: Path) -> dict[str, object]:
    with path.open("rb") as stream:
        record: dict[str, object] = json.loads(stream.readline())
    return record


def test_rotation_continues_the_chain_across_files(log_path: Path) -> None:
    files = write_rotating(log_path, 200)
    assert len(files) >= 3
    assert all(f.stat().st_size <= LIMIT for f in files)
    assert files[0].name == "decisions-sidecar-0.000000000001.jsonl"
    for before, after in pairwise(files):
        head = first_record(after)
        assert head["type"] == "rotated"
        assert head["previousFile"] == before.name
        last = json.loads(before.read_bytes().splitlines()[-1])
        assert head["prev"] == last["hash"]
        assert head["seq"] == last["seq"] + 1
    shuffled = files[:]
    random.Random(7).shuffle(shuffled)
    result = verify_files(shuffled)
    assert result.ok, result.to_dict()
    assert sum(r.records for r in result.files) == 200 + len(files) - 1


def test_a_missing_middle_segment_is_detected(log_path: Path) -> None:
    files = write_rotating(log_path, 200)
    kept = [files[0], *files[2:]]
    result = verify_files(kept)
    assert not result.ok
    broken = next(r for r in result.files if r.problem)
    assert broken.path == str(files[2])
    assert broken.problem is not None
    assert "does not continue" in broken.problem.reason
    assert "a segment is missing" in broken.problem.reason


def test_later_segments_alone_verify_with_a_note_unless_genesis_is_required(
    log_path: Path,
) -> None:
    files = write_rotating(log_path, 200)
    result = verify_files(files[1:])
    assert result.ok
    assert any("which was not supplied" in note for note in result.files[0].notes)
    strict = verify_files(files[1:], require_genesis=True)
    assert not strict.ok and strict.exit_code == 1


def test_a_crash_between_rename_and_new_file_resumes_from_the_segment(log_path: Path) -> None:
    with DecisionLog(log_path) as log:
        for index in range(3):
            log.record(make_decision(name=f"job-{index}"))
    # What a crash right after the rename leaves behind: a segment and no active file.
    segment = archive_path(log_path, 1)
    os.rename(log_path, segment)
    with DecisionLog(log_path) as log:
        log.record(make_decision(name="after"))
    head = first_record(log_path)
    assert head["type"] == "rotated"
    assert head["previousFile"] == segment.name
    assert verify_files([segment, log_path], require_genesis=True).ok


def test_an_active_file_removed_while_open_is_recreated_not_written_into_the_void(
    log_path: Path,
) -> None:
    with DecisionLog(log_path) as log:
        log.record(make_decision(name="before"))
        moved = log_path.with_name("moved-away.jsonl")
        os.rename(log_path, moved)
        log.record(make_decision(name="after"))
    head = first_record(log_path)
    assert head["type"] == "rotated"
    assert head["previousFile"] == log_path.name
    assert "removed or renamed" in str(head["reason"])
    result = verify_files([moved, log_path])
    assert result.ok, result.to_dict()
    assert any("renamed" in note for note in result.files[1].notes)


def test_an_active_file_replaced_while_open_is_refused(log_path: Path) -> None:
    with DecisionLog(log_path) as log:
        log.record(make_decision())
        os.rename(log_path, log_path.with_name("old.jsonl"))
        log_path.write_text("")
        with pytest.raises(DecisionLogError, match="replaced by another file"):
            log.record(make_decision())


def test_a_too_small_rotation_limit_is_refused(log_path: Path) -> None:
    with pytest.raises(ValueError, match="max_bytes must be at least"):
        DecisionLog(log_path, max_bytes=100)
