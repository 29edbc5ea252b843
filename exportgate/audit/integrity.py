"""What an auditor reads first: is each file intact, torn, tampered, or missing segments?

`verify_files` finds the first problem of each file and of each chain; this module says it in
the words of the report, one status per file, with what that means for the figures below it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from exportgate.decisionlog.verify import MISSING_SEGMENT, TORN, FileReport

INTACT: Final = "intact"
RECOVERED: Final = "recovered"
STATUS_TORN: Final = "torn"
TAMPERED: Final = "tampered"
MISSING: Final = "missing-segments"
UNREADABLE: Final = "unreadable"
BAD: Final = frozenset({STATUS_TORN, TAMPERED, MISSING, UNREADABLE})


@dataclass(frozen=True, slots=True)
class FileStatus:
    path: str
    status: str
    text: str
    records: int
    chain: str | None
    first_seq: int | None
    last_seq: int | None
    head: str | None

    @property
    def ok(self) -> bool:
        return self.status not in BAD

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "status": self.status,
            "text": self.text,
            "records": self.records,
            "chain": self.chain,
            "firstSeq": self.first_seq,
            "lastSeq": self.last_seq,
            "head": self.head,
        }


def file_status(report: FileReport) -> FileStatus:
    status, text = _judge(report)
    return FileStatus(
        path=report.path,
        status=status,
        text=text,
        records=report.records,
        chain=report.chain,
        first_seq=report.first_seq,
        last_seq=report.last_seq,
        head=report.head,
    )


def _judge(report: FileReport) -> tuple[str, str]:
    if report.read_error is not None:
        return UNREADABLE, f"{report.read_error}; none of its decisions are in this report"
    problem = report.problem
    if problem is not None:
        where = f"line {problem.line}: {problem.reason}"
        if problem.kind == TORN:
            return STATUS_TORN, (
                f"{where}. The last record was cut short by a crash and the writer has not "
                f"reopened the file since; the {report.records} records before it are intact "
                "and included"
            )
        if problem.kind == MISSING_SEGMENT:
            return MISSING, (
                f"{where}. Its own {report.records} records verify and are included, but "
                "decisions between the previous segment and this one are missing"
            )
        return TAMPERED, (
            f"{where}. Only the {report.records} records before that line are included; "
            "everything from it on cannot be trusted"
        )
    missing = [n for n in report.notes if "was not supplied" in n]
    if missing:
        return MISSING, (
            f"{missing[0]}. Pass the earlier segments too to audit the chain from its start; "
            f"the {report.records} records given verify and are included"
        )
    if report.recovered:
        return RECOVERED, (
            "; ".join(r.describe() for r in report.recovered)
            + f". The chain is intact around it; {report.records} records included"
        )
    if not report.records:
        return INTACT, "no records"
    return INTACT, (
        f"{report.records} records, seq {report.first_seq}-{report.last_seq}, head {report.head}"
    )
