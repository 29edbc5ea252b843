"""Verifying decision logs: is every chain intact, and if not, where does it first break?

Each file is checked on its own first: every line must be a valid record (canonical JSON, own
hash correct), each record must point at the previous one (``prev``) and count on from it
(``seq``). A run of damaged lines is accepted only when the very next record is a ``recovery``
record naming exactly those bytes, and only if the auditor allows recoveries; otherwise it is
the file's first problem. Then files are grouped by chain id and ordered by seq, and each
segment must continue where the one before it ended (``previousFile``, ``prev``, ``seq``).

What this cannot detect on its own: records removed from the *end* of the newest file, or a
chain rewritten wholesale by someone who recomputed every hash after their edit. Both are
caught by comparing the head (`FileReport.head`) with a value anchored elsewhere
(docs/decision-log.md, "Anchoring the head").
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from exportgate.decisionlog.canonical import GENESIS
from exportgate.decisionlog.lines import Damage, Line, iter_lines, judge
from exportgate.decisionlog.record import RECOVERY

TAMPERED = "tampered"
TORN = "torn"
MISSING_SEGMENT = "missing-segment"
READ_BUFFER = 1 << 16


@dataclass(frozen=True, slots=True)
class Problem:
    line: int
    reason: str
    kind: str = TAMPERED
    """`TAMPERED` (edited, removed, reordered or foreign lines), `TORN` (a last line cut short
    by a crash) or `MISSING_SEGMENT` (the chain continues from a file that is not there)."""


@dataclass(frozen=True, slots=True)
class Recovered:
    """Damaged lines accounted for by the recovery record on line `by_line`."""

    lines: tuple[int, ...]
    by_line: int
    torn: bool  # True when the damage is one unterminated line: the mark of a crash mid-write
    cause: str | None = None  # the writer's own failure, when it was not a crash

    def describe(self) -> str:
        if self.torn:
            why = f"write cut short: {self.cause}" if self.cause else "crash during write"
            return (
                f"line {self.lines[0]} is torn ({why}); the chain resumes at "
                f"line {self.by_line} with a recovery record"
            )
        shown = ", ".join(str(n) for n in self.lines)
        return (
            f"line(s) {shown} are not valid records; the writer named them in the recovery "
            f"record on line {self.by_line} when it reopened the file"
        )


@dataclass(slots=True)
class FileReport:
    path: str
    lines: int = 0
    records: int = 0
    chain: str | None = None
    first_seq: int | None = None
    last_seq: int | None = None
    first_line: int | None = None  # line of the first valid record
    first_prev: str | None = None
    previous_file: str | None = None
    head: str | None = None  # hash of the last valid record before any problem
    problem: Problem | None = None
    recovered: list[Recovered] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    read_error: str | None = None

    @property
    def ok(self) -> bool:
        return self.problem is None and self.read_error is None

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "ok": self.ok,
            "lines": self.lines,
            "records": self.records,
            "chain": self.chain,
            "firstSeq": self.first_seq,
            "lastSeq": self.last_seq,
            "head": self.head,
            "previousFile": self.previous_file,
            "problem": (
                {
                    "line": self.problem.line,
                    "reason": self.problem.reason,
                    "kind": self.problem.kind,
                }
                if self.problem
                else None
            ),
            "recovered": [
                {
                    "lines": list(r.lines),
                    "byLine": r.by_line,
                    "torn": r.torn,
                    "cause": r.cause,
                    "text": r.describe(),
                }
                for r in self.recovered
            ],
            "notes": list(self.notes),
            "readError": self.read_error,
        }


@dataclass(slots=True)
class VerifyResult:
    files: list[FileReport]

    @property
    def ok(self) -> bool:
        return all(report.ok for report in self.files)

    @property
    def exit_code(self) -> int:
        """0 intact, 1 tampered or damaged, 2 a file could not be read at all."""
        if any(report.read_error for report in self.files):
            return 2
        return 0 if self.ok else 1

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "files": [report.to_dict() for report in self.files]}


RecordSink = Callable[[int, dict[str, Any]], None]
"""Called with (line number, record) for each record accepted into a file's chain."""


def verify_files(
    paths: Iterable[str | os.PathLike[str]],
    *,
    allow_recovered: bool = False,
    require_genesis: bool = False,
    sink: Callable[[str], RecordSink | None] | None = None,
) -> VerifyResult:
    """Verify each file's chain, then the continuity of files that belong to the same chain.

    `allow_recovered` accepts damage that a recovery record accounts for (reported as a note
    instead of a problem). `require_genesis` makes a chain whose first segment was not supplied
    a problem rather than a note. `sink(path)` may return a callback that receives each record
    of that file as it is verified, so a report is built in the same single pass.
    """
    reports = [
        verify_file(
            path,
            allow_recovered=allow_recovered,
            on_record=sink(os.fspath(path)) if sink is not None else None,
        )
        for path in paths
    ]
    check_continuity(reports, require_genesis=require_genesis)
    return VerifyResult(reports)


def verify_file(
    path: str | os.PathLike[str],
    *,
    allow_recovered: bool = False,
    on_record: RecordSink | None = None,
) -> FileReport:
    report = FileReport(path=os.fspath(path))
    try:
        # Records are a few KiB: a 64 KiB buffer reads them in a quarter of the calls.
        with open(path, "rb", buffering=READ_BUFFER) as stream:
            _FileChecker(report, allow_recovered, on_record).run(iter_lines(stream))
    except IsADirectoryError:
        report.read_error = "is a directory; pass the log files themselves"
    except OSError as exc:
        report.read_error = f"cannot read: {exc.strerror or exc}"
    return report


class _FileChecker:
    def __init__(
        self, report: FileReport, allow_recovered: bool, on_record: RecordSink | None = None
    ) -> None:
        self.report = report
        self.on_record = on_record
        self.allow_recovered = allow_recovered
        self.last: dict[str, Any] | None = None
        self.last_line = 0
        self.damaged: list[tuple[Line, Damage]] = []

    def run(self, lines: Iterable[Line]) -> None:
        report = self.report
        for line in lines:
            report.lines = line.number
            record, reason = judge(line)
            if record is None:
                self.damaged.append((line, Damage.of(line, reason or "invalid")))
                continue
            problem = self._account_for_damage(line, record) or self._check_link(line, record)
            if problem is not None:
                report.problem = problem
                return
            self._accept(line, record)
        if self.damaged:
            line, damage = self.damaged[0]
            suffix = (
                "; no recovery record follows (the writer has not reopened the file since)"
                if not line.terminated
                else ""
            )
            report.problem = Problem(
                line.number, damage.reason + suffix, TORN if not line.terminated else TAMPERED
            )
        elif report.lines == 0:
            report.notes.append("empty file")

    def _account_for_damage(self, line: Line, record: dict[str, Any]) -> Problem | None:
        named = record.get("damaged") if record["type"] == RECOVERY else None
        if not self.damaged:
            if named:
                return Problem(
                    line.number,
                    "recovery record names damaged lines that are not in the file "
                    "(lines were removed or rewritten after the recovery)",
                )
            return None
        first, damage = self.damaged[0]
        if not (
            isinstance(named, list)
            and len(named) == len(self.damaged)
            and all(d.names(entry) for (_, d), entry in zip(self.damaged, named, strict=True))
        ):
            return Problem(first.number, damage.reason)
        recovered = Recovered(
            lines=tuple(bad.number for bad, _ in self.damaged),
            by_line=line.number,
            torn=len(named) == 1 and isinstance(named[0], dict) and not named[0].get("terminated"),
            cause=_own_failure(record.get("cause")),
        )
        self.damaged = []
        if not self.allow_recovered:
            return Problem(
                recovered.lines[0], recovered.describe(), TORN if recovered.torn else TAMPERED
            )
        self.report.recovered.append(recovered)
        return None

    def _check_link(self, line: Line, record: dict[str, Any]) -> Problem | None:
        last = self.last
        if last is None:
            if record["prev"] == GENESIS:
                if record["seq"] != 1:
                    return Problem(
                        line.number, f"seq gap (a chain starts at seq 1, found {record['seq']})"
                    )
                return None
            if isinstance(record.get("previousFile"), str):
                return None
            return Problem(
                line.number,
                "prev does not match: the record neither starts a chain nor names a previous "
                "file (records were removed from the start of the file)",
            )
        if record["chain"] != last["chain"]:
            return Problem(
                line.number,
                f"record belongs to chain {record['chain']}, not {last['chain']} "
                "(lines from another log were inserted)",
            )
        if record["prev"] != last["hash"]:
            return Problem(
                line.number, f"prev does not match line {self.last_line} (deleted or reordered)"
            )
        if record["seq"] != last["seq"] + 1:
            return Problem(
                line.number, f"seq gap (expected {last['seq'] + 1}, found {record['seq']})"
            )
        return None

    def _accept(self, line: Line, record: dict[str, Any]) -> None:
        report = self.report
        if self.last is None:
            report.chain = record["chain"]
            report.first_seq = record["seq"]
            report.first_line = line.number
            report.first_prev = record["prev"]
            previous = record.get("previousFile")
            report.previous_file = previous if isinstance(previous, str) else None
        report.records += 1
        report.last_seq = record["seq"]
        report.head = record["hash"]
        self.last = record
        self.last_line = line.number
        if self.on_record is not None:
            self.on_record(line.number, record)


def _own_failure(cause: object) -> str | None:
    """The recovery's cause when the writer hit a failure itself (a write or fsync error)."""
    if isinstance(cause, str) and cause.startswith(("write failed", "fsync failed")):
        return cause
    return None


def check_continuity(reports: Sequence[FileReport], *, require_genesis: bool) -> None:
    """Order the segments of each chain by seq and check each continues the one before."""
    chains: dict[str, list[FileReport]] = {}
    for report in reports:
        if report.read_error is None and report.chain is not None:
            chains.setdefault(report.chain, []).append(report)
    for segments in chains.values():
        segments.sort(key=lambda r: (r.first_seq or 0, r.last_seq or 0))
        first = segments[0]
        if first.first_prev != GENESIS and first.problem is None:
            text = (
                f"chain {first.chain} begins in {first.previous_file or 'an earlier file'}, "
                f"which was not supplied; verified from seq {first.first_seq}"
            )
            if require_genesis:
                first.problem = Problem(first.first_line or 1, text, MISSING_SEGMENT)
            else:
                first.notes.append(text)
        for before, after in itertools.pairwise(segments):
            if after.problem is not None or before.problem is not None:
                continue  # the earlier problem is the one to report
            if after.first_prev != before.head or after.first_seq != (before.last_seq or 0) + 1:
                after.problem = Problem(
                    after.first_line or 1,
                    f"does not continue {before.path} (which ends at seq {before.last_seq}): "
                    f"this file starts at seq {after.first_seq} after "
                    f"{after.previous_file or 'no named file'}; a segment is missing, "
                    "duplicated or altered",
                    MISSING_SEGMENT
                    if (after.first_seq or 0) > (before.last_seq or 0) + 1
                    else TAMPERED,
                )
            elif after.previous_file != Path(before.path).name:
                # The hashes prove the order; the name only helps people find files.
                after.notes.append(
                    f"continues {before.path} as its hashes prove, although it names "
                    f"{after.previous_file} (the earlier file was renamed)"
                )
