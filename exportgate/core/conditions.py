"""Does a rule's condition hold for a tenant at an instant? (The engine asks, per subject.)

A condition is on the tenant's jurisdictions (country groups as of the day, optionally through
aggregate ownership), its verification state, or its restricted-party status; a licence on file
valid at the instant exempts a licensable rule. All of it is dated: groups, normalisation (HK
counts as CN) and licences are taken as of `at`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from exportgate.core.countries import CountryGroups
from exportgate.core.rules import Rule
from exportgate.core.types import (
    EffectiveVerification,
    Jurisdiction,
    JurisdictionRole,
    Owner,
    Tenant,
)


@dataclass(frozen=True, slots=True)
class Trigger:
    """Why a rule applies: the jurisdictions behind it and, for party rules, who is listed."""

    jurisdictions: tuple[Jurisdiction, ...]
    parties: str = ""  # "it is on the Entity List", "its owners A (30%, MEU) ... hold 55%"


def triggering(
    rule: Rule,
    tenant: Tenant | None,
    found: tuple[Jurisdiction, ...],
    verification: EffectiveVerification,
    at: datetime,
    covers: tuple[str, ...],
    groups: CountryGroups,
) -> Trigger | None:
    """The reason the rule applies to this tenant for a subject covered by `covers`, or None."""
    trigger = condition(rule, tenant, found, verification, at, groups)
    if trigger is None or exempt(rule, tenant, trigger, covers, at, groups):
        return None
    return trigger


def condition(
    rule: Rule,
    tenant: Tenant | None,
    found: tuple[Jurisdiction, ...],
    verification: EffectiveVerification,
    at: datetime,
    groups: CountryGroups,
) -> Trigger | None:
    """Does the rule's condition hold for the tenant (whatever the subject)? Why, or None."""
    if rule.unconditional:
        return Trigger(())
    if rule.verification_not_in is not None and verification in rule.verification_not_in:
        return None
    if rule.parties is not None:
        return _party_trigger(rule, tenant, found)
    if rule.any_in:
        return _jurisdiction_trigger(rule, tenant, found, at, groups)
    return Trigger(())  # verification-only rule


def exempt(
    rule: Rule,
    tenant: Tenant | None,
    trigger: Trigger,
    covers: tuple[str, ...],
    at: datetime,
    groups: CountryGroups,
) -> bool:
    """True when a licence on file, valid at `at`, covers the subject for every country."""
    return (
        rule.licensable
        and tenant is not None
        and bool(trigger.jurisdictions)
        and _licensed(tenant, trigger.jurisdictions, covers, at, groups)
    )


def _jurisdiction_trigger(
    rule: Rule,
    tenant: Tenant | None,
    found: tuple[Jurisdiction, ...],
    at: datetime,
    groups: CountryGroups,
) -> Trigger | None:
    day = at.date()

    def applies(country: str) -> bool:
        return bool(groups.matching(country, rule.any_in, day)) and not groups.matching(
            country, rule.except_in, day
        )

    hits = [j for j in found if (rule.roles is None or j.role in rule.roles) and applies(j.country)]
    if rule.ownership_share_above is not None and tenant is not None:
        # Owners headquartered in the rule's places, counted together ("more than 50% owned
        # from unsupported regions" is met by 30% + 25% from two of them).
        owners = [
            o
            for o in tenant.owners
            if o.headquarters and applies(groups.normalise(o.headquarters, day))
        ]
        if sum(o.share for o in owners) > rule.ownership_share_above:
            hits.extend(
                Jurisdiction(
                    groups.normalise(str(o.headquarters), day),
                    JurisdictionRole.OWNER_HEADQUARTERS,
                    f"{o.name} ({o.share:g}%)",
                )
                for o in owners
            )
    unique = tuple(dict.fromkeys(hits))
    return Trigger(unique) if unique else None


def _party_trigger(
    rule: Rule, tenant: Tenant | None, found: tuple[Jurisdiction, ...]
) -> Trigger | None:
    condition = rule.parties
    if tenant is None or condition is None or not (tenant.listed_on or tenant.owners):
        return None
    # The tenant's own countries name the licence that would exempt it.
    own = tuple(
        j
        for j in found
        if j.role in (JurisdictionRole.INCORPORATION, JurisdictionRole.HEADQUARTERS)
    )
    if condition.tenant:
        lists = [v.value for v in tenant.listed_on if v.value in condition.lists]
        if lists:
            return Trigger(own, f"it is on the {_lists_text(lists)}")
    threshold = condition.owners_share_at_least
    if threshold is not None:
        listed = [o for o in tenant.owners if any(v.value in condition.lists for v in o.listed_on)]
        total = sum(o.share for o in listed)
        if listed and total >= threshold:
            return Trigger(own, _owners_text(listed, total, condition.lists))
    return None


def _lists_text(lists: Sequence[str]) -> str:
    names = {"EntityList": "Entity List", "MEU": "Military End-User List", "SDN": "SDN list"}
    return " and the ".join(names.get(name, name) for name in dict.fromkeys(lists))


def _owners_text(owners: list[Owner], total: float, lists: frozenset[str]) -> str:
    parts = []
    for owner in owners:
        names = _lists_text([v.value for v in owner.listed_on if v.value in lists])
        parts.append(f"{owner.name} ({owner.share:g}%, {names})")
    if len(parts) == 1:
        return f"its listed owner {parts[0]} holds {total:g}%"
    return f"its listed owners {' and '.join(parts)} together hold {total:g}%"


def _licensed(
    tenant: Tenant,
    triggering: tuple[Jurisdiction, ...],
    covers: tuple[str, ...],
    at: datetime,
    groups: CountryGroups,
) -> bool:
    """True when every triggering country is covered by a licence valid at `at`."""
    day = at.date()
    valid = [
        licence
        for licence in tenant.licences
        if (licence.expires_at is None or at < licence.expires_at)
        and (licence.issued_at is None or licence.issued_at <= at)
        and set(licence.covers) & set(covers)
    ]
    for jurisdiction in triggering:
        if not any(
            jurisdiction.country in {groups.normalise(c, day) for c in licence.countries}
            for licence in valid
        ):
            return False
    return True
