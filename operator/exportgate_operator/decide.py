"""Decide: the collected workloads judged by the current snapshot, as admission would judge them
now, and every verdict recorded in the decision log (operation AUDIT)."""

from __future__ import annotations

import gc
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from exportgate.core.decision import Decision
from exportgate.core.engine import PolicyEngine
from exportgate.core.errors import InputError
from exportgate.core.extract import AdapterRegistry
from exportgate.core.extract.identity import identify
from exportgate.core.records import invalid_record_decision, unreadable_object_decision
from exportgate.core.types import Action, Tenant, Workload
from exportgate.logsetup import get_logger
from exportgate.world.snapshot import Snapshot
from exportgate_operator.collect import Collected
from exportgate_operator.decisions import DecisionRecorder
from exportgate_operator.kinds import ref
from exportgate_operator.reports import Audited

log = get_logger(__name__)


@dataclass(slots=True)
class TenantAudit:
    audited: int = 0
    violations: int = 0
    warnings: int = 0


@dataclass(slots=True)
class AuditOutcome:
    at: datetime
    tenants: dict[str, TenantAudit] = field(default_factory=dict)
    items: list[Audited] = field(default_factory=list)
    objects: list[dict[str, Any]] = field(default_factory=list)
    """The guarded objects, aligned with `items`."""
    unguarded: list[dict[str, Any]] = field(default_factory=list)
    """Objects that ask for nothing exportgate guards (any old violation is cleared)."""
    namespaces: dict[str, str] = field(default_factory=dict)


async def decide(
    collected: Collected,
    snapshot: Snapshot,
    registry: AdapterRegistry,
    recorder: DecisionRecorder,
    *,
    tenants: list[str],
    at: datetime,
    reason: str,
) -> AuditOutcome:
    """Judge `collected` at `at`; `tenants` are the names the outcome counts (even with none)."""
    outcome = AuditOutcome(at=at, namespaces=collected.namespaces)
    engine = snapshot.engine
    judged: list[tuple[dict[str, Any], str | None]] = []
    decisions: list[Decision] = []
    inputs: list[tuple[Workload | None, Tenant | None]] = []
    # The collected objects live through the whole step; without this the collector would scan
    # them again and again while the verdicts pile up (a third of the time at 20k objects).
    # Only objects that exist now are exempted, and only until the loop (which never awaits)
    # ends.
    gc.freeze()
    try:
        for obj, tenant in collected.objects:
            try:
                workload = registry.extract(obj, collected.dra)
            except InputError as exc:
                # Admission would refuse this object; stored, it is a violator, not a skip.
                record = snapshot.tenant(tenant)
                unreadable = _unreadable(obj, tenant, record, engine, exc, at)
                if unreadable is not None:
                    judged.append((obj, tenant))
                    inputs.append((None, record))  # nothing to replay from
                    decisions.append(unreadable)
                continue
            if not workload.guarded:
                outcome.unguarded.append(obj)
                continue
            record = snapshot.tenant(tenant)
            judged.append((obj, tenant))
            inputs.append((workload, record))  # logged with the verdict, for audit replay
            problem = snapshot.invalid_tenants.get(tenant) if tenant else None
            decisions.append(
                # As the sidecar decides: a tenant whose stored record does not parse is unusable.
                invalid_record_decision(engine, workload, tenant, problem, at)
                if tenant and problem is not None
                else engine.evaluate(workload, record, at, tenant_name=tenant)
            )
    finally:
        gc.unfreeze()
    ids = await recorder.record(
        decisions,
        extra={"policyVersion": engine.version, "reason": reason},
        inputs=inputs,
    )
    outcome.tenants = {name: TenantAudit() for name in tenants}
    for (obj, tenant), decision, decision_id in zip(judged, decisions, ids, strict=True):
        meta = obj["metadata"]
        outcome.objects.append(obj)
        outcome.items.append(
            Audited(
                api_version=obj["apiVersion"],
                kind=obj["kind"],
                name=meta["name"],
                namespace=meta.get("namespace"),
                uid=meta.get("uid"),
                tenant=tenant,
                decision=decision,
                decision_id=decision_id,
            )
        )
        counts = outcome.tenants.setdefault(tenant or "", TenantAudit())
        counts.audited += 1
        counts.violations += decision.action is Action.DENY
        counts.warnings += decision.action in (Action.WARN, Action.DRYRUN)
    return outcome


def _unreadable(
    obj: dict[str, Any],
    tenant: str | None,
    record: Tenant | None,
    engine: PolicyEngine,
    exc: InputError,
    at: datetime,
) -> Decision | None:
    """The denial for a stored object extraction refused; None when it has no identity at
    all (then there is nothing to annotate or report, only the log line)."""
    log.warning("cannot extract workload", object=ref(obj), error=exc.describe())
    try:
        _, identity = identify(obj)
    except InputError:
        return None
    return unreadable_object_decision(engine, identity.ref, tenant, record, exc.describe(), at)
