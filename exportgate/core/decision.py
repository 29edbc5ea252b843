"""The answer the core gives: a decision, the violations behind it, and what was resolved.

A `Decision` is what every adapter reports: the CLI prints it, the sidecar serialises it over
gRPC, the webhook turns it into an AdmissionReview response, the operator into a PolicyReport
result, and the decision log records it. Keep it serialisable with `to_dict`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from exportgate.core.classification import most_restrictive
from exportgate.core.types import Action, EffectiveVerification, Jurisdiction, ObjectRef


@dataclass(frozen=True, slots=True)
class ResolvedAccelerator:
    """An accelerator request after the catalogue resolved it to candidate products."""

    resource: str
    count: int
    candidates: tuple[str, ...]  # catalogue product ids it could be
    pinned: bool  # False when the product could not be narrowed down from the manifest
    classifications: tuple[str, ...]  # distinct export classes over the candidates
    source: str = ""
    note: str = ""  # why it is unpinned when its placement named products (contradictions)

    def to_dict(self) -> dict[str, Any]:
        found: dict[str, Any] = {
            "resource": self.resource,
            "count": self.count,
            "products": list(self.candidates),
            "pinned": self.pinned,
            "classifications": list(self.classifications),
            "source": self.source,
        }
        if self.note:  # only when there is one: records without it keep their shape
            found["note"] = self.note
        return found


@dataclass(frozen=True, slots=True)
class ResolvedModel:
    reference: str
    model_id: str | None  # catalogue id, None when the model is not in the catalogue
    provider: str | None
    source: str = ""
    # A hosted model exportgate could not attribute to one provider: every provider it could be,
    # so rules decide it as the most restrictive of them (fail closed). Empty otherwise.
    providers: tuple[str, ...] = ()
    note: str = ""  # what could not be identified and how to make it identifiable

    @property
    def candidates(self) -> tuple[str, ...]:
        """The providers whose terms may bind this model."""
        return self.providers or ((self.provider,) if self.provider else ())

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "reference": self.reference,
            "model": self.model_id,
            "provider": self.provider,
            "source": self.source,
        }
        # Added keys only when set, so records of identified models keep their old shape.
        if self.providers:
            data["providers"] = list(self.providers)
        if self.note:
            data["note"] = self.note
        return data


@dataclass(frozen=True, slots=True)
class Violation:
    """One rule that matched. Several may match; the most severe decides."""

    rule_id: str
    policy: str  # policy pack name
    policy_version: str
    action: Action
    citation: str
    message: str  # what is wrong, in the tenant's terms
    remedy: str  # what the tenant can do about it
    subject: str  # product or model id the rule matched
    countries: tuple[str, ...] = ()  # the jurisdictions that triggered it

    def to_dict(self) -> dict[str, Any]:
        return {
            "rule": self.rule_id,
            "policy": self.policy,
            "policyVersion": self.policy_version,
            "action": self.action.value,
            "citation": self.citation,
            "message": self.message,
            "remedy": self.remedy,
            "subject": self.subject,
            "countries": list(self.countries),
        }


@dataclass(frozen=True, slots=True)
class Decision:
    """The outcome for one object and one tenant at one instant."""

    action: Action
    object: ObjectRef
    tenant: str | None
    evaluated_at: datetime
    verification: EffectiveVerification
    verification_ref: str | None
    jurisdictions: tuple[Jurisdiction, ...]
    accelerators: tuple[ResolvedAccelerator, ...]
    models: tuple[ResolvedModel, ...]
    violations: tuple[Violation, ...]  # most severe first
    policy_versions: dict[str, str] = field(default_factory=dict)

    def restamped(self, obj: ObjectRef, at: datetime) -> Decision:
        """The same decision for another object and instant (a cached one, reused for a
        replica). Every field is passed on by hand, which costs half of `dataclasses.replace`
        on the cache's hot path; tests/core/test_decision.py fails when a field is added and
        not passed on here."""
        return Decision(
            self.action,
            obj,
            self.tenant,
            at,
            self.verification,
            self.verification_ref,
            self.jurisdictions,
            self.accelerators,
            self.models,
            self.violations,
            self.policy_versions,
        )

    @property
    def primary(self) -> Violation | None:
        """The violation that decided the action (the first of the most severe)."""
        return self.violations[0] if self.violations else None

    @property
    def rule_id(self) -> str | None:
        return self.primary.rule_id if self.primary else None

    @property
    def citation(self) -> str | None:
        return self.primary.citation if self.primary else None

    @property
    def message(self) -> str:
        """One human sentence, the one a tenant reads first."""
        if self.primary is None:
            return "admitted: no export-control rule applies"
        return f"{self.primary.message} {self.primary.remedy}".strip()

    @property
    def accelerator_class(self) -> str:
        """The most restrictive export class among the resolved accelerators ("" for none):
        the one word an annotation or a report summarises the decision with."""
        return most_restrictive(c for a in self.accelerators for c in a.classifications)

    @property
    def countries(self) -> tuple[str, ...]:
        """Distinct normalised jurisdiction countries, in the order first seen."""
        return tuple(dict.fromkeys(j.country for j in self.jurisdictions))

    def to_dict(self) -> dict[str, Any]:
        return {
            "object": str(self.object),
            "tenant": self.tenant,
            "decision": self.action.value,
            "accelerators": [a.to_dict() for a in self.accelerators],
            "models": [m.to_dict() for m in self.models],
            "rule": self.rule_id,
            "citation": self.citation,
            "message": self.message,
            "violations": [v.to_dict() for v in self.violations],
            "verification": self.verification.value,
            "verificationRef": self.verification_ref,
            "jurisdictions": [
                {"country": j.country, "role": j.role.value, "via": j.via or None}
                for j in self.jurisdictions
            ],
            "policyVersions": dict(self.policy_versions),
            "evaluatedAt": self.evaluated_at.isoformat().replace("+00:00", "Z"),
        }
