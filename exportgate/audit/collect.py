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
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO

from exportgate.audit.figures import Figures
from exportgate.audit.integrity import FileStatus, file_status
from exportgate.audit.rows import COLUMNS, decision_row
from exportgate.decisionlog.record import DECISION, rfc3339_ms
from exportgate.decisionlog.verify import RecordSink, verify_files


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

    def merged_rows(self) -> Iterator[list[str]]:
        """Every decision row of every file, ordered by time (then by file and line)."""
        with contextlib.ExitStack() as stack:
            readers = [
                csv.reader(stack.enter_context(open(p, newline="", encoding="utf-8")))
                for p in self.spills
            ]
            yield from heapq.merge(*readers, key=lambda row: row[0])

    def close(self) -> None:
        for path in self.spills:
            with contextlib.suppress(OSError):
                path.unlink()
        with contextlib.suppress(OSError):
            self.spill_dir.rmdir()


def collect(
    paths: Sequence[str | os.PathLike[str]],
    *,
    since: datetime | None = None,
    until: datetime | None = None,
) -> Collected:
    """Verify and count `paths` in one pass; close the result when done with its rows."""
    low = rfc3339_ms(since) if since else None
    high = rfc3339_ms(until) if until else None
    figures = Figures()
    spill_dir = Path(tempfile.mkdtemp(prefix="exportgate-audit-"))
    result = Collected([], figures, low, high, spill_dir)
    streams: list[TextIO] = []

    def sink(path: str) -> RecordSink:
        spill = spill_dir / f"{len(result.spills):05d}.csv"
        result.spills.append(spill)
        stream = open(spill, "w", newline="", encoding="utf-8")  # noqa: SIM115 closed below
        streams.append(stream)
        write = csv.writer(stream).writerow

        def take(line: int, record: dict[str, Any]) -> None:
            stamp = record.get("time")
            if not isinstance(stamp, str):
                return
            if (low is not None and stamp < low) or (high is not None and stamp >= high):
                return
            if record["type"] == DECISION:
                row = decision_row(record, path, line)
                figures.add_decision(record, row)
                write(row)
            else:
                figures.add_other(record, path, line)

        return take

    try:
        verified = verify_files(paths, allow_recovered=True, sink=sink)
    except BaseException:
        for stream in streams:
            stream.close()
        result.close()
        raise
    for stream in streams:
        stream.close()
    result.files = [file_status(report) for report in verified.files]
    return result


def write_csv(collected: Collected, out: TextIO) -> int:
    """Header plus one row per decision, in time order; returns the number of rows."""
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    count = 0
    for row in collected.merged_rows():
        writer.writerow(row)
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
