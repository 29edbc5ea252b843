"""The `status` the operator writes for Tenants, ExportPolicies and ModelEndpoints.

Pure functions of what the core concludes at an instant; the handlers only patch the result.
Keys set to None are removed by the merge patch, so a field that no longer applies disappears.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from exportgate.core.catalogue import PRODUCT_NAME_KEYS
from exportgate.core.decision import Decision
from exportgate.core.engine import PolicyEngine
from exportgate.core.errors import InputError
from exportgate.core.tenancy import API_VERSION
from exportgate.core.tenant_groups import placeholder_parties
from exportgate.core.tenants import effective_verification, jurisdictions
from exportgate.core.types import (
    AcceleratorRequest,
    EffectiveVerification,
    ObjectRef,
    Operator,
    ProductHint,
    Tenant,
    Workload,
)
from exportgate.world.clock import next_transition
from exportgate_operator.conditions import condition, merge, timestamp
from exportgate_operator.world import PolicyRecord, TenantRecord

# A pseudo node label that pins a catalogue product by id (see catalogue.PRODUCT_NAME_KEYS).
PRODUCT_LABEL = "exportgate.dev/product"
PROBE_RESOURCE = "exportgate.dev/probe"
assert PRODUCT_LABEL in PRODUCT_NAME_KEYS

Status = dict[str, Any]


# --- Tenant -------------------------------------------------------------------------------


def access(tenant: Tenant | None, engine: PolicyEngine, now: datetime) -> list[Status]:
    """For each accelerator export class in the catalogue: may the tenant use it right now?

    Asked of the engine itself, one workload pinned to each catalogue product, so the answer is
    exactly what admission would say (licences, verification, product-specific rules). A class
    is `allowed` when every product in it is, not counting products denied to every tenant
    alike; `deniedProducts` names the exceptions.
    """
    catalogue = engine.catalogue
    verdicts: dict[str, list[tuple[str, Decision]]] = {}
    for product_id in sorted(catalogue.products):
        probe = Workload(
            ref=ObjectRef(API_VERSION, "Tenant", tenant.name if tenant else "unbound"),
            accelerators=(
                AcceleratorRequest(
                    PROBE_RESOURCE, 1, (ProductHint(PRODUCT_LABEL, Operator.IN, (product_id,)),)
                ),
            ),
        )
        eccn = catalogue.products[product_id].eccn
        verdicts.setdefault(eccn, []).append((product_id, engine.evaluate(probe, tenant, now)))
    entries = []
    for eccn in catalogue.classifications(catalogue.all_products()):
        found = verdicts.get(eccn, [])
        denied = [(p, d) for p, d in found if not d.action.admits]
        # A product denied to every tenant alike (GP10: Huawei Ascend) says nothing about this
        # tenant: it is listed in deniedProducts but does not make the class disallowed.
        own = [(p, d) for p, d in found if not engine.applies_to_everyone(d)]
        worst = max((d for _, d in own), key=lambda d: d.action.severity, default=None)
        entry: Status = {
            "classification": eccn,
            "allowed": all(d.action.admits for _, d in own),
            "action": worst.action.value if worst else "allow",
        }
        if denied and len(denied) < len(found):
            entry["deniedProducts"] = [p for p, _ in denied][:32]
        if worst is not None and worst.rule_id:
            entry["rule"] = worst.rule_id
        if worst is not None and worst.citation:
            entry["citation"] = worst.citation[:1024]
        entries.append(entry)
    return entries


_VERIFICATION_MESSAGES = {
    EffectiveVerification.VERIFIED: "KYC verification is in force",
    EffectiveVerification.EXPIRED: "KYC verification expired; controlled accelerators and "
    "models are denied until the provider renews the review",
    EffectiveVerification.PENDING: "KYC review is pending; controlled accelerators and models "
    "are denied until it completes",
    EffectiveVerification.REJECTED: "KYC review was rejected",
    EffectiveVerification.REVOKED: "KYC verification was revoked",
    EffectiveVerification.NOT_YET_VALID: "KYC verification is not in force yet",
}


def tenant_status(
    record: TenantRecord,
    engine: PolicyEngine,
    now: datetime,
    existing: Mapping[str, Any] | None = None,
    rule_dates: Sequence[datetime] = (),
) -> Status:
    """`rule_dates`: the snapshot's sorted policy boundaries (`Snapshot.time_boundaries`)."""
    previous = (existing or {}).get("conditions")
    tenant = record.tenant
    if tenant is None:
        error = record.error or InputError("the Tenant spec does not parse")
        return {
            "observedGeneration": record.generation,
            "verification": None,
            "verificationExpiresAt": None,
            "nextTransitionAt": None,
            "jurisdictions": None,
            "countryGroups": None,
            "access": None,
            "policyVersion": engine.version,
            "conditions": merge(
                previous,
                [
                    condition(
                        "Ready",
                        False,
                        "InvalidSpec",
                        error.describe(),
                        now=now,
                        generation=record.generation,
                    ),
                    condition(
                        "Verified",
                        None,
                        "InvalidSpec",
                        "verification cannot be judged until the spec is fixed",
                        now=now,
                        generation=record.generation,
                    ),
                    condition(
                        "PartiesNamed",
                        None,
                        "InvalidSpec",
                        "party names cannot be judged until the spec is fixed",
                        now=now,
                        generation=record.generation,
                    ),
                ],
            ),
        }
    effective = effective_verification(tenant, now)
    found = jurisdictions(tenant, engine.groups, now.date())  # memberships in force now
    rows = []
    all_groups: set[str] = set()
    for jurisdiction in found:
        groups = sorted(engine.groups.groups_of(jurisdiction.country, now.date()))
        all_groups.update(groups)
        row: Status = {"country": jurisdiction.country, "role": jurisdiction.role.value}
        if jurisdiction.via:
            row["via"] = jurisdiction.via
        if jurisdiction.declared_as:
            row["declaredAs"] = jurisdiction.declared_as
        if groups:
            row["groups"] = groups
        rows.append(row)
    coming = next_transition(tenant, now, rule_dates)
    expires = tenant.verification.expires_at
    verification_message = _VERIFICATION_MESSAGES[effective]
    if effective is EffectiveVerification.EXPIRED and expires:
        verification_message = f"{verification_message} (expired {timestamp(expires)})"
    elif effective is EffectiveVerification.VERIFIED and expires:
        verification_message = f"{verification_message} until {timestamp(expires)}"
    allowed = access(tenant, engine, now)
    partly = [
        f"{a['classification']} ({', '.join(a['deniedProducts'])})"
        for a in allowed
        if a.get("deniedProducts")
    ]
    denied = [
        a["classification"] for a in allowed if not a["allowed"] and not a.get("deniedProducts")
    ]
    ready_message = f"{len(rows)} jurisdiction(s): " + ", ".join(
        dict.fromkeys(r["country"] for r in rows)
    )
    if denied:
        ready_message += "; denied classes: " + ", ".join(denied)
    if partly:
        ready_message += "; denied products: " + ", ".join(partly)
    return {
        "observedGeneration": record.generation,
        "verification": effective.value,
        "verificationExpiresAt": timestamp(expires) if expires else None,
        "nextTransitionAt": timestamp(coming) if coming else None,
        "jurisdictions": rows,
        "countryGroups": sorted(all_groups),
        "access": allowed,
        "policyVersion": engine.version,
        "conditions": merge(
            previous,
            [
                condition(
                    "Ready", True, "Resolved", ready_message, now=now, generation=record.generation
                ),
                condition(
                    "Verified",
                    effective is EffectiveVerification.VERIFIED,
                    effective.value,
                    verification_message,
                    now=now,
                    generation=record.generation,
                ),
                _parties_named(tenant, now, record.generation),
            ],
        ),
    }


def _parties_named(tenant: Tenant, now: datetime, generation: int | None) -> Status:
    """A KYC data problem the Tenant contract still accepts (red team 13b, M2): a placeholder
    ("N/A", "none", "self", "-") where a party's name belongs. Tenant groups ignore it, so
    the record is not refused; the condition tells KYC to fix it."""
    found = placeholder_parties(tenant)
    if not found:
        return condition("PartiesNamed", True, "Named", "every party in the KYC record is named",
                         now=now, generation=generation)  # fmt: skip
    fields = "; ".join(f"{field} is {name!r}" for field, name in found[:16])
    message = (
        f"{fields}: a placeholder, not a party's name. exportgate links no tenant by it (tenant "
        "groups, over which the capacity tier is summed), though the party's other fields "
        "(headquarters, country, share) still count. Write the party's legal name, or leave "
        "the entry out where there is no such party (no ultimate parent: no "
        "spec.ultimateParent)."
    )
    return condition("PartiesNamed", False, "PlaceholderName", message, now=now,
                     generation=generation)  # fmt: skip


# --- ExportPolicy -------------------------------------------------------------------------


def error_fields(error: InputError) -> Status:
    found: Status = {"message": error.message[:4096]}
    if error.field:
        found["field"] = error.field
    if error.source:
        found["source"] = error.source
    if error.hint:
        found["hint"] = error.hint[:4096]
    return found


def policy_status(
    record: PolicyRecord,
    engine: PolicyEngine,
    now: datetime,
    existing: Mapping[str, Any] | None = None,
) -> Status:
    previous = (existing or {}).get("conditions")
    compiled = record.compiled
    served = record.last_good
    if compiled is not None:
        compiled_condition = condition(
            "Compiled",
            True,
            "Compiled",
            f"{len(compiled.rules)} rule(s) compiled",
            now=now,
            generation=record.generation,
        )
    else:
        error = record.error or InputError("the policy does not compile")
        compiled_condition = condition(
            "Compiled",
            False,
            "CompileError",
            error.describe(),
            now=now,
            generation=record.generation,
        )
    if served is None:
        served_condition = condition(
            "Served",
            False,
            "NotServed",
            "no version of this policy has compiled yet",
            now=now,
            generation=record.generation,
        )
    elif compiled is None:
        served_condition = condition(
            "Served",
            False,
            "ServingPreviousVersion",
            f"still serving version {served.version}: the current spec does not compile",
            now=now,
            generation=record.generation,
        )
    else:
        served_condition = condition(
            "Served",
            True,
            "Served",
            f"version {served.version} is served",
            now=now,
            generation=record.generation,
        )
    return {
        "observedGeneration": record.generation,
        "compiled": compiled is not None,
        "rules": len(compiled.rules) if compiled else None,
        "digest": compiled.digest[:16] if compiled else None,
        "error": error_fields(record.error) if record.error and compiled is None else None,
        "servedVersion": served.version if served else None,
        "engineVersion": engine.version,
        "conditions": merge(previous, [compiled_condition, served_condition]),
    }


# --- ModelEndpoint ------------------------------------------------------------------------


def endpoint_status(
    decision: Decision,
    decision_id: str,
    now: datetime,
    *,
    generation: int | None = None,
    existing: Mapping[str, Any] | None = None,
    max_chars: int = 4096,
) -> Status:
    previous = (existing or {}).get("conditions")
    admitted = decision.action.admits
    message = decision.message[:max_chars]
    return {
        "observedGeneration": generation,
        "phase": "Admitted" if admitted else "Blocked",
        "decision": decision.action.value,
        "rule": decision.rule_id,
        "citation": decision.citation[:1024] if decision.citation else None,
        "message": message,
        "decisionId": decision_id,
        "tenant": decision.tenant,
        "decidedAt": timestamp(now),
        "conditions": merge(
            previous,
            [
                condition(
                    "Admitted",
                    admitted,
                    "Allowed" if admitted else "ExportControlled",
                    message,
                    now=now,
                    generation=generation,
                )
            ],
        ),
    }
