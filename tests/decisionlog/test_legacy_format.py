"""The decision-log format is a stable contract: a log written before a writer change must
still verify, and today's writer must write the very same bytes for the same inputs."""

from __future__ import annotations

import json
from pathlib import Path

from exportgate.cli.main import main as exportgate_main
from exportgate.decisionlog import verify_files
from exportgate.decisionlog.canonical import canonical_bytes, record_hash
from tests.decisionlog.legacy_inputs import TORN_BYTES, start_clock, write_first, write_rest

FIXTURE = Path(__file__).parent / "fixtures" / "legacy.jsonl"


def test_the_legacy_log_still_verifies() -> None:
    result = verify_files([FIXTURE], allow_recovered=True)
    assert result.ok, result.to_dict()
    assert exportgate_main(["audit", "verify", "--allow-recovered", str(FIXTURE)]) == 0
    # Its torn line is still reported as damage when recovery is not accepted.
    assert exportgate_main(["audit", "verify", str(FIXTURE)]) == 1


def test_every_legacy_line_is_reproduced_by_todays_canonical_form() -> None:
    for line in FIXTURE.read_bytes().splitlines():
        if line == TORN_BYTES:
            continue
        record = json.loads(line)
        assert record_hash(record) == record["hash"]
        assert canonical_bytes(record) == line


def test_todays_writer_writes_the_legacy_bytes_for_the_same_inputs(tmp_path: Path) -> None:
    legacy = FIXTURE.read_bytes()
    clock = start_clock()
    # Replaying the first record advances the clock exactly as the original run did; its
    # random chain id is then replaced by the fixture's, which the writer resumes from.
    write_first(tmp_path / "scratch.jsonl", clock)
    replay = tmp_path / "replay.jsonl"
    replay.write_bytes(legacy.split(b"\n", 1)[0] + b"\n")
    write_rest(replay, clock)
    *legacy_lines, legacy_recovery = legacy.splitlines()
    *replay_lines, replay_recovery = replay.read_bytes().splitlines()
    assert replay_lines == legacy_lines
    # The recovery record's id is drawn at random by the writer: with the fixture's id put
    # back, today's record must hash and serialise to exactly the fixture's line.
    recovery = json.loads(replay_recovery)
    assert recovery["type"] == "recovery"
    recovery["id"] = json.loads(legacy_recovery)["id"]
    recovery["hash"] = record_hash(recovery)
    assert canonical_bytes(recovery) == legacy_recovery
    assert replay.read_bytes().endswith(b"\n")
    assert verify_files([replay], allow_recovered=True).ok
