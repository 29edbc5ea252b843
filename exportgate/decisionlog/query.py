"""Answering auditors' questions from decision logs: which decisions, and how many.

"Every deny for tenant acme last quarter" is ``RecordFilter(tenants={"acme"}, actions={"deny"},
since=..., until=...)``. Queries read the records as stored; verify the files first (the CLI
does so unless told not to), because a query cannot tell an edited record from a real one.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from exportgate.decisionlog.lines import iter_lines, judge
from exportgate.decisionlog.record import DECISION


@dataclass(frozen=True, slots=True)
class StoredRecord:
    path: str
    line: int
    record: dict[str, Any]
    raw: bytes  # the line exactly as stored, without its newline


def parse_time(text: str) -> datetime:
    """An RFC 3339 instant, or a date (midnight UTC). Naive times are taken as UTC."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(
            f"{text!r} is not an RFC 3339 time or a date; write e.g. 2025-01-01 or "
            "2025-01-01T00:00:00Z"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment


def parse_bound(text: str) -> datetime:
    """Like `parse_time`; a bare date means the start of that day (UTC)."""
    try:
        day = date.fromisoformat(text)
    except ValueError:
        return parse_time(text)
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def iter_records(paths: Iterable[str | os.PathLike[str]]) -> Iterator[StoredRecord]:
    """Every valid record of the files, in file order. Invalid lines are skipped."""
    for path in paths:
        with open(path, "rb") as stream:
            for line in iter_lines(stream):
                record, _ = judge(line)
                if record is not None:
                    yield StoredRecord(os.fspath(path), line.number, record, line.content)


@dataclass(frozen=True, slots=True)
class RecordFilter:
    """Conditions combined with AND; a set matches any of its members; None matches all.

    `since` is inclusive and `until` exclusive, so consecutive periods never overlap.
    """

    types: frozenset[str] = frozenset({DECISION})
    tenants: frozenset[str] | None = None
    actions: frozenset[str] | None = None
    rules: frozenset[str] | None = None
    users: frozenset[str] | None = None
    object_contains: str | None = None
    since: datetime | None = None
    until: datetime | None = None

    def matches(self, record: dict[str, Any]) -> bool:
        if record.get("type") not in self.types:
            return False
        if self.tenants is not None and record.get("tenant") not in self.tenants:
            return False
        if self.actions is not None and record.get("action") not in self.actions:
            return False
        if self.users is not None and record.get("user") not in self.users:
            return False
        if self.rules is not None and not (_rules_of(record) & self.rules):
            return False
        if self.object_contains is not None and self.object_contains not in object_text(record):
            return False
        if self.since is not None or self.until is not None:
            try:
                moment = parse_time(str(record.get("time")))
            except ValueError:
                return False
            if self.since is not None and moment < self.since:
                return False
            if self.until is not None and moment >= self.until:
                return False
        return True


def _rules_of(record: dict[str, Any]) -> set[str]:
    """The deciding rule and every other rule that matched: "denied under R" includes both."""
    rules = {record["rule"]} if isinstance(record.get("rule"), str) else set()
    for violation in record.get("violations") or ():
        if isinstance(violation, dict) and isinstance(violation.get("rule"), str):
            rules.add(violation["rule"])
    return rules


def object_text(record: dict[str, Any]) -> str:
    """``apiVersion Kind/namespace/name`` (``Kind/name`` when cluster-scoped)."""
    obj = record.get("object")
    if not isinstance(obj, dict):
        return ""
    parts = [str(obj.get("kind") or "")]
    if obj.get("namespace"):
        parts.append(str(obj["namespace"]))
    parts.append(str(obj.get("name") or ""))
    return f"{obj.get('apiVersion') or ''} {'/'.join(parts)}".strip()


def query(
    paths: Iterable[str | os.PathLike[str]], record_filter: RecordFilter
) -> Iterator[StoredRecord]:
    return (stored for stored in iter_records(paths) if record_filter.matches(stored.record))


@dataclass(slots=True)
class Summary:
    total: int = 0
    by_action: Counter[str] = field(default_factory=Counter)
    by_tenant: Counter[str] = field(default_factory=Counter)
    by_rule: Counter[str] = field(default_factory=Counter)
    by_tenant_action: Counter[tuple[str, str]] = field(default_factory=Counter)
    first_time: str | None = None
    last_time: str | None = None

    def add(self, record: dict[str, Any]) -> None:
        tenant = str(record.get("tenant") or "(none)")
        action = str(record.get("action") or "(none)")
        self.total += 1
        self.by_action[action] += 1
        self.by_tenant[tenant] += 1
        self.by_tenant_action[(tenant, action)] += 1
        if isinstance(record.get("rule"), str):
            self.by_rule[record["rule"]] += 1
        stamp = record.get("time")
        if isinstance(stamp, str):
            # Fixed-width RFC 3339 UTC strings compare in time order.
            self.first_time = min(self.first_time or stamp, stamp)
            self.last_time = max(self.last_time or stamp, stamp)

    def to_dict(self) -> dict[str, Any]:
        return {
            "total": self.total,
            "firstTime": self.first_time,
            "lastTime": self.last_time,
            "byAction": dict(sorted(self.by_action.items())),
            "byTenant": {
                tenant: {
                    "total": count,
                    **{
                        action: n
                        for (t, action), n in sorted(self.by_tenant_action.items())
                        if t == tenant
                    },
                }
                for tenant, count in sorted(self.by_tenant.items())
            },
            "byRule": dict(sorted(self.by_rule.items())),
        }


def summarize(records: Iterable[StoredRecord]) -> Summary:
    summary = Summary()
    for stored in records:
        summary.add(stored.record)
    return summary
