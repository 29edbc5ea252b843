"""Stored things exportgate cannot read, decided from what is left: denied, never skipped.

A tenant whose stored record does not parse is unusable, never its superseded permissions.

When a Tenant edit cannot be read (an invalid country code, a licence class that is not a
class), keeping the previous version would keep permissions the edit may have revoked, and a
restarted replica, which never saw the previous version, would disagree with one that did. So
every reader (each sidecar replica, the operator's re-audit) decides a tenant whose current
record is invalid the same way, from the stored object alone: denied, with a message saying the
record is invalid, why, and who can fix it.

A stored workload that cannot be read (malformed, or past the per-object caps in
`core/limits.py`, perhaps written before exportgate was installed) is what admission would
refuse as unreadable. Re-audit must not pass over it in silence, or the largest, most nested
object would be the one nobody ever audits: it is judged as a request for an unknown
accelerator, denied, with what could not be read.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime

from exportgate.core.decision import Decision, Violation
from exportgate.core.engine import PolicyEngine
from exportgate.core.types import Action, ObjectRef, Tenant, Workload

INVALID_RECORD_RULE = "tenant-record-invalid"
UNREADABLE_OBJECT_RULE = "object-unreadable"


def invalid_record_decision(
    engine: PolicyEngine, workload: Workload, tenant_name: str, problem: str, at: datetime
) -> Decision:
    """The decision for `workload` of tenant `tenant_name`, whose stored record is invalid."""
    return _denied(
        engine.evaluate(workload, None, at, tenant_name=tenant_name),
        INVALID_RECORD_RULE,
        engine.version,
        citation="exportgate fails closed on tenant records it cannot read (docs/policies.md)",
        message=(
            f"The Tenant record {tenant_name!r} is invalid, so this tenant may not use "
            f"export-controlled accelerators or models until it is fixed: {problem}."
        ),
        remedy=(
            "Ask your platform team to correct the record "
            f"(kubectl describe tenant {tenant_name} shows the problem)."
        ),
        subject=tenant_name,
    )


def unreadable_object_decision(
    engine: PolicyEngine,
    ref: ObjectRef,
    tenant_name: str | None,
    tenant: Tenant | None,
    problem: str,
    at: datetime,
) -> Decision:
    """The decision for a stored object `ref` that extraction refused with `problem`."""
    return _denied(
        engine.evaluate(Workload(ref=ref), tenant, at, tenant_name=tenant_name),
        UNREADABLE_OBJECT_RULE,
        engine.version,
        citation="exportgate fails closed on objects it cannot read (docs/policies.md)",
        message=(
            f"exportgate could not read {ref}, so it is judged as asking for an unknown "
            f"accelerator: {problem}."
        ),
        remedy=(
            "Correct or shrink the object (admission would refuse it as it is now), or delete "
            "it; the violation clears at the next re-audit."
        ),
        subject="unknown",
    )


def _denied(
    base: Decision,
    rule_id: str,
    version: str,
    *,
    citation: str,
    message: str,
    remedy: str,
    subject: str,
) -> Decision:
    """`base` denied by exportgate's own fail-closed `rule_id`, ahead of the policy's findings."""
    violation = Violation(
        rule_id=rule_id,
        policy="exportgate",
        policy_version=version,
        action=Action.DENY,
        citation=citation,
        message=message,
        remedy=remedy,
        subject=subject,
    )
    return dataclasses.replace(base, action=Action.DENY, violations=(violation, *base.violations))
