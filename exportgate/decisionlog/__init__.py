"""The decision log: append-only, hash-chained, durable JSON lines that auditors can verify.

Write with `DecisionLog`, check with `verify_files`, ask questions with `query` / `summarize`.
The on-disk format is a stable contract described in docs/decision-log.md.
"""

from exportgate.decisionlog.canonical import FORMAT_VERSION, GENESIS, canonical_bytes, record_hash
from exportgate.decisionlog.errors import DecisionLogError, RecordFormatError
from exportgate.decisionlog.query import RecordFilter, StoredRecord, Summary, query, summarize
from exportgate.decisionlog.record import LogEntry
from exportgate.decisionlog.verify import FileReport, Problem, VerifyResult, verify_files
from exportgate.decisionlog.writer import DecisionLog

__all__ = [
    "FORMAT_VERSION",
    "GENESIS",
    "DecisionLog",
    "DecisionLogError",
    "FileReport",
    "LogEntry",
    "Problem",
    "RecordFilter",
    "RecordFormatError",
    "StoredRecord",
    "Summary",
    "VerifyResult",
    "canonical_bytes",
    "query",
    "record_hash",
    "summarize",
    "verify_files",
]
