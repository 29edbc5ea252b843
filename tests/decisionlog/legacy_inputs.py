"""The inputs behind `fixtures/legacy.jsonl`, a decision log written by the writer as it was
before the single-pass serialisation (commit 6069366), kept to prove the format did not move.

`write_log` replays these inputs. `python -m tests.decisionlog.legacy_inputs PATH` wrote the
fixture once; the tests replay the same inputs with today's writer and compare bytes. Every
input is fixed (ids, clock, component) except the chain id of the very first record, which the
writer draws at random: the test copies that first line from the fixture and lets the writer
resume from it, so everything after it must come out byte for byte the same, except the id of
the final recovery record (random too).
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from exportgate.core.types import Action
from exportgate.decisionlog import DecisionLog, LogEntry
from tests.decisionlog.builders import make_decision

COMPONENT = "fixture@legacy/1"
TORN_BYTES = b'{"v":1,"type":"decision","chain":"cut sh'
"""What a writer killed mid-write would have left: the replay appends it before reopening."""


class FixedClock:
    """One second per reading from a fixed start, so record times are the same every run."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        current = self.now
        self.now += timedelta(seconds=1)
        return current


def _id(n: int) -> str:
    return f"0190e0a0-0000-7000-8000-{n:012d}"


def write_first(path: Path, clock: FixedClock) -> None:
    """The first record: it starts the chain (random chain id)."""
    with DecisionLog(path, clock=clock, component=COMPONENT) as log:
        log.record(make_decision(name="first"), decision_id=_id(1), operation="CREATE")


def write_rest(path: Path, clock: FixedClock) -> None:
    """Everything after the first record, resuming its chain."""
    with DecisionLog(path, clock=clock, component=COMPONENT) as log:
        log.record(
            make_decision(action=Action.ALLOW, name="trainer-ü ✓", namespace=None, tenant=None),
            decision_id=_id(2),
            user="system:serviceaccount:ml:trainer",
            request_uid="5b1c0d2e-aaaa-bbbb-cccc-000000000002",
            operation="UPDATE",
            extra={"policyVersion": "sha256:abc", "nested": {"list": [1, "two", None, True]}},
        )
        log.record_raw(
            {"type": "policy-reload", "id": _id(3), "policies": ["ear-3a090"], "count": 2}
        )
        log.record_many(
            [
                LogEntry(make_decision(name=f"batch-{n}", country="RU"), decision_id=_id(10 + n))
                for n in range(3)
            ]
        )
        log.record(make_decision(name="last"), decision_id=_id(20), operation="AUDIT")
    with path.open("ab") as raw:  # a crash in the middle of a write
        raw.write(TORN_BYTES)
    # Reopening names the torn bytes in a recovery record. It is the last line because the
    # writer gives it a random id, which a replay cannot reproduce (see the test).
    DecisionLog(path, clock=clock, component=COMPONENT).close()


def start_clock() -> FixedClock:
    return FixedClock(datetime(2025, 3, 1, 12, 0, 0, 250000, tzinfo=UTC))


def write_log(path: Path) -> None:
    clock = start_clock()
    write_first(path, clock)
    write_rest(path, clock)


if __name__ == "__main__":
    write_log(Path(sys.argv[1]))
