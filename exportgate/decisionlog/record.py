"""What a decision record says: the fields built from a `Decision`, and the record types.

This module decides the *content* of records; `canonical` decides their bytes and `writer`
adds the fields that only the writer knows (id, time, component and the chain keys). The field
names are a stable contract, documented in docs/decision-log.md: add fields, never rename or
remove them without bumping `FORMAT_VERSION`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from exportgate.core.decision import Decision
from exportgate.core.types import Tenant, Workload
from exportgate.decisionlog.canonical import CHAIN_KEYS
from exportgate.decisionlog.errors import RecordFormatError

DECISION: Final = "decision"
RECOVERY: Final = "recovery"
ROTATED: Final = "rotated"
WRITER_TYPES: Final = frozenset({RECOVERY, ROTATED})
"""Record types only the writer itself may write: they vouch for the chain's own history."""

WRITER_KEYS: Final = CHAIN_KEYS | {"time", "component", "cluster", "event"}
"""Keys the writer fills in on every record; callers cannot set them. (``event`` is where
structlog carries the record type before it is renamed to ``type``.)"""

CLUSTER_ENV: Final = "EXPORTGATE_CLUSTER_NAME"
UNKNOWN_CLUSTER: Final = "unknown"
"""What a record without a ``cluster`` field (written before clusters were named) reads as."""

_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class LogEntry:
    """One decision to record, with what the adapter knows about the request behind it."""

    decision: Decision
    decision_id: str | None = None
    """Overrides the generated id, e.g. to reuse an id the caller already handed out."""
    user: str | None = None
    """The requesting user (admission userInfo.username) when known."""
    request_uid: str | None = None
    """The AdmissionReview request uid, so a record can be matched to API server audit logs."""
    operation: str | None = None
    """CREATE, UPDATE, ... for admission; AUDIT for background re-evaluation; CHECK for the CLI."""
    extra: Mapping[str, Any] | None = None
    """``policyVersion`` (the engine snapshot digest) is lifted to the top level; anything else
    is kept under ``extra``."""
    workload: Workload | None = None
    """What extraction found (accelerator requests with their hints, model references): logged
    as ``inputs`` so that `exportgate audit explain` can evaluate the decision again."""
    tenant_record: Tenant | None = None
    """The tenant record the decision used: kept as a snapshot beside the log (for replay)."""


def utc(moment: datetime) -> datetime:
    """`moment` in UTC; naive datetimes are taken to be UTC already."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def rfc3339_ms(moment: datetime) -> str:
    """``2025-03-01T12:00:00.123Z``: RFC 3339, UTC, millisecond precision, fixed width."""
    if moment.tzinfo is not UTC:
        moment = utc(moment)
    if moment.year < 1000:
        # strftime's %Y does not pad years before 1000 on glibc; the records written so far
        # say what it said, so those years keep its text (no decision is made in them).
        return _rfc3339_ms_strftime(moment)
    # Formatted directly: the same text as strftime below (tests/decisionlog/test_record.py
    # compares them), in a third of the time; it runs twice per decision record.
    return "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ" % (  # noqa: UP031 (the fastest form here)
        moment.year,
        moment.month,
        moment.day,
        moment.hour,
        moment.minute,
        moment.second,
        moment.microsecond // 1000,
    )


def _rfc3339_ms_strftime(moment: datetime) -> str:
    """The reference form of `rfc3339_ms` (`moment` in UTC already)."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def unix_ms(moment: datetime) -> int:
    return (utc(moment) - _EPOCH) // timedelta(milliseconds=1)


def decision_body(entry: LogEntry) -> dict[str, Any]:
    """The fields of a ``decision`` record, except those the writer adds."""
    decision = entry.decision
    ref = decision.object
    extra = dict(entry.extra or {})
    policy_version = extra.pop("policyVersion", None)
    if policy_version is not None and not isinstance(policy_version, str):
        raise RecordFormatError(
            f"extra.policyVersion must be the engine's version string, got {policy_version!r}"
        )
    if entry.decision_id is not None and (
        not isinstance(entry.decision_id, str) or not entry.decision_id
    ):
        raise RecordFormatError(
            f"decision_id must be a non-empty string, got {entry.decision_id!r}"
        )
    body: dict[str, Any] = {
        "id": entry.decision_id,
        "tenant": decision.tenant,
        "jurisdictions": [
            {
                "country": j.country,
                "role": j.role.value,
                "via": j.via or None,
                "declaredAs": j.declared_as or None,
            }
            for j in decision.jurisdictions
        ],
        "verification": decision.verification.value,
        "verificationRef": decision.verification_ref,
        "object": {
            "apiVersion": ref.api_version,
            "kind": ref.kind,
            "namespace": ref.namespace,
            "name": ref.name,
        },
        "user": entry.user,
        "operation": entry.operation,
        "requestUid": entry.request_uid,
        "accelerators": [a.to_dict() for a in decision.accelerators],
        "models": [m.to_dict() for m in decision.models],
        "action": decision.action.value,
        "rule": decision.rule_id,
        "citation": decision.citation,
        "message": decision.message,
        "violations": [v.to_dict() for v in decision.violations],
        "policyVersions": dict(decision.policy_versions),
        "policyVersion": policy_version,
        "evaluatedAt": rfc3339_ms(decision.evaluated_at),
        "extra": extra,
    }
    if entry.workload is not None:
        body["inputs"] = workload_inputs(entry.workload)
    return body


def workload_inputs(workload: Workload) -> dict[str, Any]:
    """The evaluation inputs of a decision as the record keeps them (``inputs``)."""
    return {
        "accelerators": [
            {
                "resource": a.resource,
                "count": a.count,
                "hints": [
                    {"key": h.key, "operator": h.operator.value, "values": list(h.values)}
                    for h in a.hints
                ],
                "source": a.source,
            }
            for a in workload.accelerators
        ],
        "models": [
            {"reference": m.reference, "provider": m.provider, "source": m.source}
            for m in workload.models
        ],
        "tenantLabel": workload.tenant_label,
    }


def raw_body(fields: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    """Validate the fields of a caller-defined event record; returns (type, other fields)."""
    kind = fields.get("type")
    if not isinstance(kind, str) or not kind:
        raise RecordFormatError(
            "a raw record needs a non-empty string 'type', e.g. 'policy-reload'"
        )
    if kind == DECISION or kind in WRITER_TYPES:
        raise RecordFormatError(
            f"type {kind!r} is reserved: decisions go through record(), "
            "recovery and rotation records are written by the log itself"
        )
    clashing = sorted((set(fields) - {"type"}) & WRITER_KEYS)
    if clashing:
        raise RecordFormatError(f"fields {clashing} are set by the decision log writer itself")
    return kind, {key: value for key, value in fields.items() if key != "type"}
