"""Tampering with a log in every way an auditor cares about, and what verify says about it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from exportgate.decisionlog import DecisionLog, record_hash, verify_files
from exportgate.decisionlog.canonical import canonical_json
from tests.decisionlog.builders import make_decision


def write_log(path: Path, count: int = 5, component: str = "sidecar/exportgate-0") -> Path:
    with DecisionLog(path, component=component) as log:
        for index in range(count):
            log.record(make_decision(name=f"job-{index}"))
    return path


def lines_of(path: Path) -> list[bytes]:
    return path.read_bytes().splitlines(keepends=True)


def rewrite(path: Path, lines: list[bytes]) -> None:
    path.write_bytes(b"".join(lines))


def first_problem(path: Path, **options: bool) -> tuple[int, str]:
    [report] = verify_files([path], **options).files
    assert report.problem is not None, report.to_dict()
    return report.problem.line, report.problem.reason


def test_an_intact_log_verifies(log_path: Path) -> None:
    result = verify_files([write_log(log_path)])
    assert result.ok and result.exit_code == 0
    [report] = result.files
    assert (report.records, report.first_seq, report.last_seq) == (5, 1, 5)
    assert report.head == json.loads(lines_of(log_path)[-1])["hash"]


def test_an_edited_field_is_a_hash_mismatch(log_path: Path) -> None:
    lines = lines_of(write_log(log_path))
    lines[2] = lines[2].replace(b'"action":"deny"', b'"action":"allow"')
    rewrite(log_path, lines)
    assert first_problem(log_path) == (3, "hash mismatch (record edited)")
    assert verify_files([log_path]).exit_code == 1


def test_an_edit_with_a_recomputed_hash_breaks_the_next_link(log_path: Path) -> None:
    lines = lines_of(write_log(log_path))
    record = json.loads(lines[2])
    record["action"] = "allow"
    record["hash"] = record_hash(record)
    lines[2] = canonical_json(record).encode() + b"\n"
    rewrite(log_path, lines)
    assert first_problem(log_path) == (4, "prev does not match line 3 (deleted or reordered)")


def test_a_deleted_line_breaks_the_chain(log_path: Path) -> None:
    lines = lines_of(write_log(log_path))
    del lines[2]
    rewrite(log_path, lines)
    assert first_problem(log_path) == (3, "prev does not match line 2 (deleted or reordered)")


def test_swapped_lines_break_the_chain(log_path: Path) -> None:
    lines = lines_of(write_log(log_path))
    lines[1], lines[2] = lines[2], lines[1]
    rewrite(log_path, lines)
    assert first_problem(log_path) == (2, "prev does not match line 1 (deleted or reordered)")


def test_removing_the_first_lines_is_detected(log_path: Path) -> None:
    rewrite(log_path, lines_of(write_log(log_path))[2:])
    line, reason = first_problem(log_path)
    assert line == 1
    assert "neither starts a chain nor names a previous file" in reason


def test_a_truncated_last_line_is_torn(log_path: Path) -> None:
    data = write_log(log_path).read_bytes()
    log_path.write_bytes(data[:-40])
    line, reason = first_problem(log_path)
    assert line == 5
    assert reason.startswith("torn line (no newline at the end: a crash during write)")


def test_appended_garbage_is_not_json(log_path: Path) -> None:
    with write_log(log_path).open("ab") as stream:
        stream.write(b"this is not a record\n")
    assert first_problem(log_path) == (6, "not JSON")


def test_a_reformatted_line_is_not_canonical(log_path: Path) -> None:
    lines = lines_of(write_log(log_path))
    lines[1] = json.dumps(json.loads(lines[1]), indent=None).encode() + b"\n"  # ", " and ": "
    rewrite(log_path, lines)
    line, reason = first_problem(log_path)
    assert (line, reason.split(" (")[0]) == (2, "not in canonical form")


def test_a_duplicate_key_smuggled_in_front_is_not_canonical(log_path: Path) -> None:
    # A reader that keeps the first of duplicate keys would see "allow"; Python keeps the last.
    lines = lines_of(write_log(log_path))
    lines[1] = b'{"action":"allow",' + lines[1][1:]
    rewrite(log_path, lines)
    assert first_problem(log_path)[0] == 2


def test_a_record_from_another_chain_is_named(tmp_path: Path) -> None:
    mine = write_log(tmp_path / "a.jsonl")
    other = write_log(tmp_path / "b.jsonl")
    lines = lines_of(mine)
    lines.insert(2, lines_of(other)[2])
    rewrite(mine, lines)
    line, reason = first_problem(mine)
    assert line == 3 and "belongs to chain" in reason


def test_a_seq_gap_is_named(log_path: Path) -> None:
    lines = lines_of(write_log(log_path))
    record = json.loads(lines[4])
    record["seq"] = 9
    record["hash"] = record_hash(record)
    lines[4] = canonical_json(record).encode() + b"\n"
    rewrite(log_path, lines)
    assert first_problem(log_path) == (5, "seq gap (expected 5, found 9)")


def test_files_of_several_writers_are_verified_independently(tmp_path: Path) -> None:
    good = write_log(tmp_path / "decisions-sidecar-0.jsonl", component="sidecar-0")
    bad = write_log(tmp_path / "decisions-sidecar-1.jsonl", component="sidecar-1")
    lines = lines_of(bad)
    del lines[1]
    rewrite(bad, lines)
    result = verify_files([good, bad])
    assert [report.ok for report in result.files] == [True, False]
    assert result.files[1].problem is not None and result.files[1].problem.line == 2
    assert result.exit_code == 1


def test_an_empty_file_is_intact(tmp_path: Path) -> None:
    empty = tmp_path / "empty.jsonl"
    empty.touch()
    [report] = verify_files([empty]).files
    assert report.ok and report.notes == ["empty file"]


def test_unreadable_inputs_are_bad_input_not_tampering(tmp_path: Path) -> None:
    result = verify_files([tmp_path / "missing.jsonl", tmp_path])
    assert result.exit_code == 2
    assert [r.read_error for r in result.files] == [
        "cannot read: No such file or directory",
        "is a directory; pass the log files themselves",
    ]


@pytest.fixture
def recovered_log(log_path: Path) -> Path:
    data = write_log(log_path, count=3).read_bytes()
    log_path.write_bytes(data + b'{"type":"decision","half')  # a crash mid-write
    with DecisionLog(log_path) as log:
        log.record(make_decision(name="after-restart"))
    return log_path


def test_a_recovered_tear_fails_by_default_with_a_clear_message(recovered_log: Path) -> None:
    assert first_problem(recovered_log) == (
        4,
        "line 4 is torn (crash during write); the chain resumes at line 5 with a recovery record",
    )


def test_a_recovered_tear_is_accepted_when_allowed_and_still_reported(recovered_log: Path) -> None:
    result = verify_files([recovered_log], allow_recovered=True)
    assert result.ok
    [report] = result.files
    assert report.records == 5  # 3 before, the recovery record, 1 after
    assert [(r.lines, r.by_line, r.torn) for r in report.recovered] == [((4,), 5, True)]


def test_editing_the_torn_bytes_after_recovery_is_detected(recovered_log: Path) -> None:
    lines = lines_of(recovered_log)
    lines[3] = b'{"type":"decision","HALF\n'
    rewrite(recovered_log, lines)
    line, reason = first_problem(recovered_log, allow_recovered=True)
    assert (line, reason) == (4, "not JSON")


def test_removing_the_torn_line_but_keeping_the_recovery_is_detected(recovered_log: Path) -> None:
    lines = lines_of(recovered_log)
    del lines[3]
    rewrite(recovered_log, lines)
    line, reason = first_problem(recovered_log, allow_recovered=True)
    assert line == 4 and "names damaged lines that are not in the file" in reason
