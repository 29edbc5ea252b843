"""Where a writer's chain lives on disk: the active file, rotated segments, and its tail.

A writer appends to one *active* file (the path it was given). On rotation the active file is
renamed to ``<stem>.<first seq, 12 digits><suffix>`` (``decisions.000000000001.jsonl``) and a
new active file is started, so every segment keeps the name it has when the next segment
refers to it, and the names sort in chain order.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from exportgate.decisionlog.lines import Damage, Line, iter_lines_reversed, judge

_FIRST_LINE_LIMIT = 1 << 20  # a record is a few KiB; a longer "first line" is damage


@dataclass(slots=True)
class TailState:
    """What a writer needs to know about a file before appending to it."""

    size: int
    last: dict[str, Any] | None  # the last valid record, None if there is none
    damaged: list[Damage] = field(default_factory=list)  # bad lines after `last`, file order
    ends_with_newline: bool = True


def scan_tail(fd: int) -> TailState:
    """Find the last valid record of the file open on `fd`, and the damage after it."""
    size = os.fstat(fd).st_size
    damaged: list[Damage] = []
    last: dict[str, Any] | None = None
    ends_with_newline = size == 0 or os.pread(fd, 1, size - 1) == b"\n"
    for line in iter_lines_reversed(fd, size):
        record, reason = judge(line)
        if record is not None:
            last = record
            break
        damaged.append(Damage.of(line, reason or "invalid"))
    damaged.reverse()
    return TailState(size=size, last=last, damaged=damaged, ends_with_newline=ends_with_newline)


def first_record(fd: int) -> dict[str, Any] | None:
    """The first line of the file as a record, if it is a valid one."""
    head = os.pread(fd, _FIRST_LINE_LIMIT, 0)
    cut = head.find(b"\n")
    if cut < 0:
        return None
    record, _ = judge(Line(1, 0, head[:cut], True))
    return record


def _pattern(active: Path) -> re.Pattern[str]:
    return re.compile(
        re.escape(active.stem) + r"\.(\d{12})(?:-(\d+))?" + re.escape(active.suffix) + r"\Z"
    )


def archive_path(active: Path, first_seq: int) -> Path:
    """A free name for the active file once it is rotated."""
    base = f"{active.stem}.{first_seq:012d}"
    candidate = active.with_name(base + active.suffix)
    counter = 1
    while candidate.exists():  # the same seq twice only happens if a chain was restarted
        candidate = active.with_name(f"{base}-{counter}{active.suffix}")
        counter += 1
    return candidate


def rotated_segments(active: Path) -> list[Path]:
    """Rotated segments of `active` in chain order (by first seq, then collision counter)."""
    pattern = _pattern(active)
    found: list[tuple[int, int, Path]] = []
    try:
        names = os.listdir(active.parent)
    except FileNotFoundError:
        return []
    for name in names:
        match = pattern.match(name)
        if match:
            found.append((int(match.group(1)), int(match.group(2) or 0), active.with_name(name)))
    return [path for _, _, path in sorted(found)]
