"""`audit explain`: one decision in words, and whether it replays the same.

The record is found by id in the logs given, while they are verified (one pass): an
explanation taken from a file that does not verify says so first, because its words could
have been edited.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from exportgate.audit.integrity import FileStatus, file_status
from exportgate.audit.replay import Replay, ReplayUnavailable, compare, replay, tenant_from
from exportgate.audit.rows import accelerator_classes
from exportgate.core.engine import PolicyEngine
from exportgate.decisionlog.record import DECISION, UNKNOWN_CLUSTER
from exportgate.decisionlog.verify import RecordSink, verify_files


@dataclass(slots=True)
class Found:
    record: dict[str, Any] | None = None
    path: str = ""
    line: int = 0
    files: list[FileStatus] = field(default_factory=list)

    @property
    def status(self) -> FileStatus | None:
        return next((f for f in self.files if f.path == self.path), None)


def find(decision_id: str, logs: Sequence[str]) -> Found:
    found = Found()

    def sink(path: str) -> RecordSink:
        def take(line: int, record: dict[str, Any]) -> None:
            if (
                found.record is None
                and record.get("id") == decision_id
                and record.get("type") == DECISION
            ):
                found.record, found.path, found.line = record, path, line

        return take

    result = verify_files(logs, allow_recovered=True, sink=sink)
    found.files = [file_status(report) for report in result.files]
    return found


def _or(value: Any, default: str = "-") -> str:
    return default if value in (None, "", [], {}) else str(value)


def describe(record: dict[str, Any]) -> list[str]:
    """The record in sentences: who asked for what, for whom, what decided it and why."""
    obj = record.get("object") or {}
    where = f"{obj.get('namespace')}/" if obj.get("namespace") else ""
    extra = record.get("extra") or {}
    groups = ", ".join(extra.get("groups") or ()) or "none logged"
    lines = [
        f"Decision {record.get('id')} at {record.get('time')} "
        f"(evaluated for {record.get('evaluatedAt')}), cluster "
        f"{record.get('cluster') or UNKNOWN_CLUSTER}, written by {record.get('component')}.",
        f"Who asked: user {_or(record.get('user'), 'unknown')} (groups: {groups}), "
        f"{_or(record.get('operation'), 'an operation not logged')} of "
        f"{obj.get('kind')} {where}{obj.get('name')} ({obj.get('apiVersion')}); "
        f"admission request {_or(record.get('requestUid'))}.",
    ]
    tenant = record.get("tenant")
    snapshot = record.get("snapshot") or {}
    jurisdictions = "; ".join(
        f"{j.get('country')} ({j.get('role')}{', via ' + j['via'] if j.get('via') else ''})"
        for j in record.get("jurisdictions") or ()
    )
    if tenant:
        lines.append(
            f"For tenant {tenant}: verification {record.get('verification')} "
            f"(evidence {_or(record.get('verificationRef'), 'not recorded')}); jurisdictions: "
            f"{jurisdictions or 'none'}; tenant record "
            f"{_or(snapshot.get('tenant'), 'not kept (no tenant record, or written before records were kept)')}."  # noqa: E501
        )
    else:
        lines.append(
            f"No tenant was bound to the object (verification {record.get('verification')})."
        )
    wants = [
        f"{a.get('count')} x {a.get('resource')} -> "
        f"{', '.join(a.get('products') or ()) or 'unknown product'}"
        f"{'' if a.get('pinned') else ' (not pinned: any of these)'}"
        for a in record.get("accelerators") or ()
    ] + [
        f"model {m.get('reference')} -> {_or(m.get('model'), 'not in the catalogue')} "
        f"(vendor {_or(m.get('provider'), 'unknown')})"
        for m in record.get("models") or ()
    ]
    classes = ", ".join(accelerator_classes(record))
    lines.append(
        f"Asked for: {'; '.join(wants) or 'nothing exportgate guards'}"
        + (f" [classes: {classes}]." if classes else ".")
    )
    action = str(record.get("action", "")).upper()
    if record.get("rule"):
        lines.append(
            f"Outcome: {action}, decided by rule {record.get('rule')} "
            f"citing {record.get('citation')}."
        )
        lines.append(f"What the tenant was told: {record.get('message')}")
        others = [v for v in (record.get("violations") or ())[1:] if isinstance(v, dict)]
        if others:
            lines.append(
                "Other rules that matched: "
                + "; ".join(
                    f"{v.get('rule')} ({v.get('action')}, {v.get('citation')})" for v in others
                )
                + "."
            )
    else:
        lines.append(f"Outcome: {action}: no export-control rule applied.")
    lines.append(
        f"Policy version {record.get('policyVersion')} "
        f"(policy snapshot {_or(snapshot.get('policy'), 'not kept')}); "
        f"versions: {', '.join(f'{k} {v}' for k, v in (record.get('policyVersions') or {}).items())}."  # noqa: E501
    )
    return lines


def difference_lines(result: Replay) -> list[str]:
    return [
        f"  {key}: logged {logged!r}\n  {' ' * len(key)}  now    {now!r}"
        for key, logged, now in result.differences
    ]


def _tenant_record_lines(record: dict[str, Any], directories: Sequence[Path]) -> list[str]:
    """What the kept tenant record said at the time (when it was kept)."""
    try:
        tenant = tenant_from(record, directories)
    except (ReplayUnavailable, KeyError, ValueError, TypeError):
        return []
    if tenant is None:
        return []
    verification = tenant.verification
    parent = tenant.ultimate_parent
    return [
        f"The tenant record then: {tenant.legal_name}, incorporated in {tenant.incorporation}, "
        f"headquartered in {tenant.headquarters}"
        + (
            f", ultimate parent {parent.name} ({parent.headquarters or parent.country})"
            if parent
            else ""
        )
        + f"; verification {verification.state.value} (verified {_or(verification.verified_at)}, "
        f"expires {_or(verification.expires_at)}, evidence {_or(verification.evidence_ref)}); "
        f"{len(tenant.licences)} licence(s) on file."
    ]


@dataclass(slots=True)
class Explanation:
    lines: list[str]
    replay: Replay | None
    unavailable: str | None
    today: Replay | None


def explain(
    found: Found, directories: Sequence[Path], today_engine: PolicyEngine | None
) -> Explanation:
    record = found.record
    assert record is not None
    lines = describe(record)
    try:
        result: Replay | None = replay(record, directories)
        unavailable = None
    except (ReplayUnavailable, KeyError, ValueError, TypeError) as exc:
        result, unavailable = None, str(exc)
    lines[3:3] = _tenant_record_lines(record, directories)  # after "For tenant ..."
    today = None
    if today_engine is not None and unavailable is None:
        today = compare(record, today_engine, tenant_from(record, directories))
    return Explanation(lines, result, unavailable, today)
