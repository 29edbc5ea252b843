"""The figures of an audit report, counted while the logs stream past (nothing is kept whole).

Memory is bounded by the number of distinct tenants, rules, hours and so on, not by the number
of records: a quarter of logs from a large provider fits in a few MiB. Only the most recent
`DENIAL_ROWS` denials are kept as table rows; the CSV has all of them.
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from exportgate.audit.rows import COLUMNS, NONE
from exportgate.decisionlog.record import UNKNOWN_CLUSTER

DENIAL_ROWS: Final = 2000
MINUTE_KEYS: Final = 4 * 24 * 60  # (minute, action) pairs kept before counting by hour only
_CLASSES: Final = COLUMNS.index("acceleratorClasses")
_VENDORS: Final = COLUMNS.index("modelVendors")
_REPLAYABLE: Final = COLUMNS.index("replayable")
EVENT_ROWS: Final = 1000
DENY: Final = "deny"
EXPIRED: Final = "Expired"
# Record types the writer and the programs write about the log itself, not decisions.
HOUSEKEEPING: Final = frozenset(
    {"recovery", "rotated", "policy-snapshot", "writer-check", "not-delivered"}
)


_COUNTERS: Final = (
    "by_action",
    "by_hour_action",
    "by_tenant_action",
    "by_cluster_action",
    "deny_by_rule",
    "deny_by_citation",
    "deny_by_class",
    "deny_by_vendor",
    "other_types",
)


def is_threshold_record(kind: str) -> bool:
    """Compute-accounting threshold crossings, whatever their exact type name turns out to be.

    The operator's accounting writes them (``type`` mentioning a threshold); records of a type
    this version does not know are counted by type and listed, never dropped.
    """
    return "threshold" in kind


def threshold_party(record: Mapping[str, Any]) -> str:
    """Who crossed a threshold, for charts and tables: the tenant, or for a crossing by a group
    of tenants (`scope: group`, no single `tenant`) the group, else the record's type."""
    if record.get("tenant"):
        return str(record["tenant"])
    if record.get("scope") == "group" and (record.get("groupName") or record.get("group")):
        return f"group {record.get('groupName') or record.get('group')}"
    return str(record.get("type"))


@dataclass(slots=True)
class Figures:
    total: int = 0
    replayable: int = 0
    first_time: str | None = None
    last_time: str | None = None
    by_action: Counter[str] = field(default_factory=Counter)
    by_hour_action: Counter[tuple[str, str]] = field(default_factory=Counter)
    by_minute_action: Counter[tuple[str, str]] | None = field(default_factory=Counter)
    """Per minute only while it stays small (short periods); None once it outgrew that."""
    by_tenant_action: Counter[tuple[str, str]] = field(default_factory=Counter)
    by_cluster_action: Counter[tuple[str, str]] = field(default_factory=Counter)
    deny_by_rule: Counter[str] = field(default_factory=Counter)
    deny_by_citation: Counter[str] = field(default_factory=Counter)
    deny_by_class: Counter[str] = field(default_factory=Counter)
    deny_by_vendor: Counter[str] = field(default_factory=Counter)
    kyc_expiries: dict[tuple[str, str], list[Any]] = field(default_factory=dict)
    other_types: Counter[str] = field(default_factory=Counter)
    thresholds: list[dict[str, Any]] = field(default_factory=list)
    thresholds_total: int = 0
    events: list[dict[str, Any]] = field(default_factory=list)
    denial_rows: deque[list[str]] = field(default_factory=lambda: deque(maxlen=DENIAL_ROWS))

    def add_decision(self, record: dict[str, Any], row: list[str]) -> None:
        stamp = row[0]
        action = row[4] or NONE
        tenant = row[5] or NONE
        self.total += 1
        if row[_REPLAYABLE] == "yes":
            self.replayable += 1
        self._seen(stamp)
        self.by_action[action] += 1
        self.by_hour_action[(stamp[:13], action)] += 1
        minutes = self.by_minute_action
        if minutes is not None:
            minutes[(stamp[:16], action)] += 1
            if len(minutes) > MINUTE_KEYS:
                self.by_minute_action = None  # a long period: hours and days are enough
        self.by_tenant_action[(tenant, action)] += 1
        self.by_cluster_action[(row[2] or UNKNOWN_CLUSTER, action)] += 1
        if action != DENY:
            return
        self.denial_rows.append(row)
        self.deny_by_rule[row[12] or NONE] += 1
        self.deny_by_citation[row[13] or NONE] += 1
        classes = row[_CLASSES]
        for klass in classes.split(";") if classes else ["no accelerator"]:
            self.deny_by_class[klass] += 1
        vendors = row[_VENDORS]
        for vendor in vendors.split(";") if vendors else ():
            self.deny_by_vendor[vendor] += 1
        if record.get("verification") == EXPIRED:
            key = (tenant, row[15] or NONE)
            seen = self.kyc_expiries.get(key)
            if seen is None:
                self.kyc_expiries[key] = [1, stamp, stamp]
            else:
                seen[0] += 1
                seen[1] = min(seen[1], stamp)
                seen[2] = max(seen[2], stamp)

    def add_other(self, record: dict[str, Any], path: str, line: int) -> None:
        kind = str(record.get("type"))
        self.other_types[kind] += 1
        stamp = record.get("time")
        if isinstance(stamp, str):
            self._seen(stamp)
        if is_threshold_record(kind):
            self.thresholds_total += 1
            if len(self.thresholds) < EVENT_ROWS:
                self.thresholds.append(_event(record, path, line))
        elif kind not in HOUSEKEEPING and len(self.events) < EVENT_ROWS:
            self.events.append(_event(record, path, line))

    def _seen(self, stamp: str) -> None:
        # Fixed-width RFC 3339 UTC strings compare in time order.
        if self.first_time is None or stamp < self.first_time:
            self.first_time = stamp
        if self.last_time is None or stamp > self.last_time:
            self.last_time = stamp

    def merge(self, other: Figures) -> None:
        """Add the figures of another part of the logs (a file counted in another process)."""
        self.total += other.total
        self.replayable += other.replayable
        for stamp in (other.first_time, other.last_time):
            if stamp is not None:
                self._seen(stamp)
        for name in _COUNTERS:
            getattr(self, name).update(getattr(other, name))
        if self.by_minute_action is not None and other.by_minute_action is not None:
            self.by_minute_action.update(other.by_minute_action)
            if len(self.by_minute_action) > MINUTE_KEYS:
                self.by_minute_action = None
        else:
            self.by_minute_action = None
        for key, (count, first, last) in other.kyc_expiries.items():
            seen = self.kyc_expiries.get(key)
            if seen is None:
                self.kyc_expiries[key] = [count, first, last]
            else:
                seen[0] += count
                seen[1] = min(seen[1], first)
                seen[2] = max(seen[2], last)
        self.thresholds_total += other.thresholds_total
        self.thresholds = sorted(
            self.thresholds + other.thresholds, key=lambda r: str(r.get("time"))
        )[:EVENT_ROWS]
        self.events = sorted(self.events + other.events, key=lambda r: str(r.get("time")))[
            :EVENT_ROWS
        ]
        rows = sorted([*self.denial_rows, *other.denial_rows], key=lambda row: row[0])
        self.denial_rows = deque(rows[-DENIAL_ROWS:], maxlen=DENIAL_ROWS)

    def tenants(self) -> list[tuple[str, int, Counter[str]]]:
        """(tenant, total, counts by action), most denied first."""
        per: dict[str, Counter[str]] = {}
        for (tenant, action), count in self.by_tenant_action.items():
            per.setdefault(tenant, Counter())[action] += count
        return sorted(
            ((t, sum(c.values()), c) for t, c in per.items()),
            key=lambda item: (-item[2][DENY], -item[1], item[0]),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "decisions": self.total,
            "replayable": self.replayable,
            "firstTime": self.first_time,
            "lastTime": self.last_time,
            "byAction": dict(sorted(self.by_action.items())),
            "byTenant": {t: {"total": n, **dict(sorted(c.items()))} for t, n, c in self.tenants()},
            "byCluster": _nested(self.by_cluster_action),
            "byHour": _nested(self.by_hour_action),
            "denials": {
                "byRule": dict(self.deny_by_rule.most_common()),
                "byCitation": dict(self.deny_by_citation.most_common()),
                "byAcceleratorClass": dict(self.deny_by_class.most_common()),
                "byModelVendor": dict(self.deny_by_vendor.most_common()),
            },
            "kycExpiries": [
                {"tenant": t, "verificationRef": ref, "denials": n, "first": a, "last": b}
                for (t, ref), (n, a, b) in sorted(self.kyc_expiries.items())
            ],
            "thresholdCrossings": {"total": self.thresholds_total, "records": self.thresholds},
            "otherRecords": dict(sorted(self.other_types.items())),
            "otherEvents": self.events,
        }


def _nested(counter: Counter[tuple[str, str]]) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for (outer, inner), count in sorted(counter.items()):
        out.setdefault(outer, {})[inner] = count
    return out


def _event(record: dict[str, Any], path: str, line: int) -> dict[str, Any]:
    """A non-decision record as the report lists it: the fields that say what happened."""
    skip = {"v", "chain", "seq", "prev", "hash"}
    return {
        "file": path,
        "line": line,
        **{k: v for k, v in record.items() if k not in skip},
    }
