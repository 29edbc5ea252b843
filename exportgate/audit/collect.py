"""One pass over many logs: verify every chain, count the figures, spill rows for the merge.

Each file is read once. Its records are verified as they stream past (`verify_files` with a
sink) and each accepted decision is counted into `Figures` and written as a CSV row to a
temporary spill file of its own. A writer's records are in time order, so the spill files are
too, and the merged view (CSV, JSON) is a k-way merge of them by time: memory stays flat however
many records there are.
"""

from __future__ import annotations

import contextlib
import csv
import heapq
import json
import os
import tempfile
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Final, TextIO

from exportgate.audit.figures import Figures
from exportgate.audit.integrity import FileStatus, file_status
from exportgate.audit.rows import COLUMNS, csv_line, decision_row
from exportgate.decisionlog.record import DECISION, rfc3339_ms
from exportgate.decisionlog.verify import FileReport, check_continuity, verify_file


@dataclass(slots=True)
class Collected:
    files: list[FileStatus]
    figures: Figures
    since: str | None
    until: str | None
    spill_dir: Path
    spills: list[Path] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(status.ok for status in self.files)

    def merged_lines(self) -> Iterator[str]:
        """Every decision as its CSV line, ordered by time (then by file and line).

        Rows hold no line breaks (`rows.decision_row`), so a spill file has one line per row
        and the merge never parses CSV: the key is the time, the text before the first comma.
        """
        with contextlib.ExitStack() as stack:
            spills = [stack.enter_context(open(p, encoding="utf-8")) for p in self.spills]
            yield from heapq.merge(*spills, key=lambda line: line.partition(",")[0])

    def merged_rows(self) -> Iterator[list[str]]:
        """Every decision row of every file, ordered by time (then by file and line)."""
        yield from csv.reader(self.merged_lines())

    def close(self) -> None:
        for path in self.spills:
            with contextlib.suppress(OSError):
                path.unlink()
        with contextlib.suppress(OSError):
            self.spill_dir.rmdir()


PARALLEL_FROM_BYTES: Final = 16 * 1024 * 1024
"""Below this much log, one process is quicker than starting others."""


def collect(
    paths: Sequence[str | os.PathLike[str]],
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    workers: int | None = None,
) -> Collected:
    """Verify and count `paths` in one pass; close the result when done with its rows.

    Files are independent until their chains are joined, so they are read by up to
    `workers` processes (default: one per CPU) and their figures added up; the continuity of
    segments is checked afterwards from the per-file reports.
    """
    low = rfc3339_ms(since) if since else None
    high = rfc3339_ms(until) if until else None
    spill_dir = Path(tempfile.mkdtemp(prefix="exportgate-audit-"))
    result = Collected([], Figures(), low, high, spill_dir)
    jobs = []
    for index, path in enumerate(paths):
        spill = spill_dir / f"{index:05d}.csv"
        result.spills.append(spill)
        jobs.append(_Job(os.fspath(path), spill, low, high))
    workers = min(workers or os.cpu_count() or 1, len(jobs))
    reports: list[FileReport] = []
    try:
        with contextlib.ExitStack() as stack:
            if workers > 1 and _total_size(jobs) >= PARALLEL_FROM_BYTES:
                pool = stack.enter_context(ProcessPoolExecutor(workers))
                parts: Iterator[tuple[FileReport, Figures]] = pool.map(_collect_file, jobs)
            else:
                parts = map(_collect_file, jobs)
            # Added up as each file's part arrives: a part holds up to DENIAL_ROWS rows, and
            # keeping every file's part until the last one is done cost more memory than
            # anything else in the report.
            for report, figures in parts:
                reports.append(report)
                result.figures.merge(figures)
    except BaseException:
        result.close()
        raise
    check_continuity(reports, require_genesis=False)
    result.files = [file_status(report) for report in reports]
    return result


@dataclass(frozen=True, slots=True)
class _Job:
    path: str
    spill: Path
    low: str | None
    high: str | None


def _total_size(jobs: Sequence[_Job]) -> int:
    total = 0
    for job in jobs:
        with contextlib.suppress(OSError):
            total += os.stat(job.path).st_size
    return total


def _collect_file(job: _Job) -> tuple[FileReport, Figures]:
    """Verify one file, count its records in the period and spill their rows (any process)."""
    figures = Figures()
    low, high, path = job.low, job.high, job.path
    with open(job.spill, "w", newline="", encoding="utf-8") as stream:
        write = stream.write

        def take(line: int, record: dict[str, Any]) -> None:
            stamp = record.get("time")
            if not isinstance(stamp, str):
                return
            if (low is not None and stamp < low) or (high is not None and stamp >= high):
                return
            if record["type"] == DECISION:
                row = decision_row(record, path, line)
                figures.add_decision(record, row)
                write(csv_line(row))
            else:
                figures.add_other(record, path, line)

        report = verify_file(path, allow_recovered=True, on_record=take)
    return report, figures


def write_csv(collected: Collected, out: TextIO) -> int:
    """Header plus one row per decision, in time order; returns the number of rows."""
    csv.writer(out, lineterminator="\n").writerow(COLUMNS)
    count = 0
    for line in collected.merged_lines():  # already CSV: copied, not parsed and re-encoded
        out.write(line)
        count += 1
    return count


def write_json(collected: Collected, out: TextIO) -> None:
    """Files, figures and every decision row (as objects), streamed."""
    head = {
        "period": {"since": collected.since, "until": collected.until},
        "ok": collected.ok,
        "files": [status.to_dict() for status in collected.files],
        "figures": collected.figures.to_dict(),
    }
    text = json.dumps(head, ensure_ascii=False, indent=1)
    out.write(text[:-2] + ',\n "decisions": [')
    first = True
    for row in collected.merged_rows():
        out.write(("\n  " if first else ",\n  ") + json.dumps(dict(zip(COLUMNS, row, strict=True))))
        first = False
    out.write("\n ]\n}\n")
