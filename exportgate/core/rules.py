"""A compiled policy rule and the facts about it: dates, suspensions, basis, conditions.

Kept apart from the parser (policy.py) so the engine and the catalogue read one small module.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from exportgate.core.types import Action, EffectiveVerification, JurisdictionRole

# The bases a rule can rest on, as a tenant should read them (messages must not overstate them).
BASIS_TEXT = {
    "licence-requirement": "a BIS licence requirement for exporting or transferring the items",
    "bis-guidance": "BIS guidance",
    "vendor-terms": "the vendor's terms",
    "provider-policy": "the provider's policy",
    "house-policy": "the provider's house policy",
}


@dataclass(frozen=True, slots=True)
class Suspension:
    since: date
    until: date  # first day the rule applies again
    citation: str
    confidence: str = "H"


@dataclass(frozen=True, slots=True)
class Provenance:
    """What a rule rests on and how sure the project is of it (shown by `exportgate catalogue`)."""

    basis: str = ""
    confidence: str = ""
    status: str = ""  # "unverified"
    note: str = ""
    always: bool = False  # no start date ("effective: always")


@dataclass(frozen=True, slots=True)
class PartyCondition:
    """Restricted-party condition: the tenant itself listed, or listed owners' aggregate share."""

    lists: frozenset[str]
    tenant: bool
    owners_share_at_least: float | None


@dataclass(frozen=True, slots=True)
class Rule:
    id: str
    title: str
    citation: str
    effective: date
    until: date | None
    action: Action | None  # None: the pack's (or the configured default) action
    classifications: frozenset[str]
    products: frozenset[str]
    matches_accelerators: bool
    model_providers: frozenset[str]
    model_ids: frozenset[str]
    model_tags: frozenset[str]
    model_weights: str | None
    min_training_compute: float | None
    matches_models: bool
    any_in: tuple[str, ...]
    except_in: tuple[str, ...]
    roles: frozenset[JurisdictionRole] | None
    verification_not_in: frozenset[EffectiveVerification] | None
    licensable: bool
    message: str
    remedy: str
    provenance: Provenance = Provenance()
    suspensions: tuple[Suspension, ...] = ()
    unconditional: bool = False
    ownership_share_above: float | None = None
    parties: PartyCondition | None = None
    min_memory_gbs: float | None = None  # bandwidthAtLeast.memoryGBs
    min_interconnect_gbs: float | None = None  # bandwidthAtLeast.interconnectGBs

    def in_force(self, day: date) -> bool:
        if self.effective > day or (self.until is not None and day >= self.until):
            return False
        return not any(s.since <= day < s.until for s in self.suspensions)

    @property
    def matches_bandwidth(self) -> bool:
        return self.min_memory_gbs is not None or self.min_interconnect_gbs is not None
