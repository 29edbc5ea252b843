"""Tenant records: parsing, resolved jurisdictions, and verification as of an instant.

The record has the shape of the Tenant custom resource (exportgate.dev/v1alpha1), so the same
parser serves files given to `exportgate check` and objects the sidecar watches.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from functools import cache
from pathlib import Path
from typing import Any

from exportgate.core.countries import CountryGroups, builtin_country_groups, is_country
from exportgate.core.documents import LocatedDocument, PathKey, parse_documents, read_documents
from exportgate.core.tenancy import API_GROUP, API_VERSION
from exportgate.core.types import (
    EffectiveVerification,
    Jurisdiction,
    JurisdictionRole,
    Licence,
    Owner,
    Party,
    RestrictedList,
    Tenant,
    Verification,
    VerificationState,
)
from exportgate.core.validation import parse_time, validate_spec

# The group, version and tenant label have one home: exportgate.core.tenancy.
SCHEMA = "schemas/tenant-spec.yaml"
# More than this share (percent, direct or indirect) is control: such an owner counts like an
# ultimate parent (Anthropic's terms: "more than 50% owned"; control for 744.23 purposes).
MAJORITY_SHARE = 50.0


def is_tenant_document(data: Any) -> bool:
    return (
        isinstance(data, Mapping)
        and data.get("kind") == "Tenant"
        and str(data.get("apiVersion", "")).startswith(f"{API_GROUP}/")
    )


def parse_tenant(doc: Mapping[str, Any], source: str = "") -> Tenant:
    """A Tenant resource dict -> Tenant (for objects that did not come from a file)."""
    located = LocatedDocument(data=doc, source=source or "<tenant>", line=1)
    return tenant_from_document(located, doc, ())


def load_tenant_file(path: str | Path) -> list[Tenant]:
    """Every Tenant in a (multi-document) YAML or JSON file; other kinds are an error."""
    tenants = []
    for document in read_documents(path):
        if not is_tenant_document(document.data):
            raise document.error(
                ("kind",),
                "expected a Tenant (apiVersion exportgate.dev/v1alpha1, kind Tenant)",
            )
        tenants.append(tenant_from_document(document, document.data, ()))
    return tenants


def parse_tenant_text(text: str, source: str) -> list[Tenant]:
    return [tenant_from_document(d, d.data, ()) for d in parse_documents(text, source)]


def tenant_from_document(document: LocatedDocument, data: Any, base: PathKey) -> Tenant:
    if not isinstance(data, Mapping):
        raise document.error(base, "a Tenant must be a mapping")
    if data.get("apiVersion") != API_VERSION:
        raise document.error(
            (*base, "apiVersion"),
            f"unsupported apiVersion {data.get('apiVersion')!r} for Tenant",
            hint=f"use {API_VERSION}",
        )
    metadata = data.get("metadata")
    name = metadata.get("name") if isinstance(metadata, Mapping) else None
    if not isinstance(name, str) or not name:
        raise document.error((*base, "metadata", "name"), "a Tenant needs metadata.name")
    spec = data.get("spec")
    spec_path = (*base, "spec")
    if not isinstance(spec, Mapping):
        raise document.error(spec_path, "a Tenant needs a spec mapping")
    validate_spec(document, spec, spec_path, SCHEMA, f"Tenant {name}")

    def country(value: str, path: PathKey) -> str:
        if not is_country(value):
            raise document.error(
                (*spec_path, *path),
                f"{value!r} is not an assigned ISO 3166-1 alpha-2 country code",
                hint="e.g. SG, US, CN",
            )
        return value

    def when(value: Any, path: PathKey) -> datetime | None:
        return None if value is None else parse_time(str(value), document, (*spec_path, *path))

    parent = spec.get("ultimateParent")
    ultimate_parent = None
    if parent:
        ultimate_parent = Party(
            name=parent["name"],
            headquarters=country(parent["headquarters"], ("ultimateParent", "headquarters")),
            country=(
                country(parent["incorporation"], ("ultimateParent", "incorporation"))
                if parent.get("incorporation")
                else None
            ),
        )
    customers = []
    for position, customer in enumerate((spec.get("resale") or {}).get("endCustomers") or []):
        party_path: PathKey = ("resale", "endCustomers", position)
        customers.append(
            Party(
                name=customer["name"],
                country=country(customer["country"], (*party_path, "country")),
                headquarters=(
                    country(customer["headquarters"], (*party_path, "headquarters"))
                    if customer.get("headquarters")
                    else None
                ),
            )
        )
    verification_spec = spec["verification"]
    verification = Verification(
        state=VerificationState(verification_spec["state"]),
        verified_at=when(verification_spec.get("verifiedAt"), ("verification", "verifiedAt")),
        expires_at=when(verification_spec.get("expiresAt"), ("verification", "expiresAt")),
        evidence_ref=verification_spec.get("evidenceRef"),
    )
    licences = []
    for position, licence in enumerate(spec.get("licenses") or []):
        path = ("licenses", position)
        for index, subject in enumerate(licence["covers"]):
            # A misspelt class would make the licence silently cover nothing.
            if subject not in licensable_subjects():
                raise document.error(
                    (*spec_path, *path, "covers", index),
                    f"{subject!r} is neither an export classification nor a catalogue product",
                    hint="e.g. 3A090.a, 4A090.a or nvidia-h20 (see `exportgate catalogue`)",
                )
        licences.append(
            Licence(
                id=licence["id"],
                covers=tuple(licence["covers"]),
                countries=tuple(
                    country(code, (*path, "countries", index))
                    for index, code in enumerate(licence["countries"])
                ),
                expires_at=when(licence.get("expiresAt"), (*path, "expiresAt")),
                issued_at=when(licence.get("issuedAt"), (*path, "issuedAt")),
            )
        )
    owners = []
    for position, owner in enumerate((spec.get("ownership") or {}).get("owners") or []):
        owner_path: PathKey = ("ownership", "owners", position)
        owners.append(
            Owner(
                name=owner["name"],
                share=float(owner["share"]),
                headquarters=(
                    country(owner["headquarters"], (*owner_path, "headquarters"))
                    if owner.get("headquarters")
                    else None
                ),
                listed_on=tuple(RestrictedList(v) for v in owner.get("listedOn") or ()),
            )
        )
    if sum(o.share for o in owners) > 100.0001:
        raise document.error(
            (*spec_path, "ownership", "owners"),
            f"owners' shares add up to {sum(o.share for o in owners):g}%, more than 100%",
            hint="give each owner's direct or indirect share in percent",
        )
    resource_version = metadata.get("resourceVersion") if isinstance(metadata, Mapping) else None
    return Tenant(
        name=name,
        legal_name=spec["legalName"],
        incorporation=country(spec["incorporation"], ("incorporation",)),
        headquarters=country(spec["headquarters"], ("headquarters",)),
        verification=verification,
        ultimate_parent=ultimate_parent,
        end_customers=tuple(customers),
        licences=tuple(licences),
        resource_version=str(resource_version) if resource_version else None,
        owners=tuple(owners),
        listed_on=tuple(RestrictedList(v) for v in spec.get("listedOn") or ()),
    )


@cache
def licensable_subjects() -> frozenset[str]:
    """What a licence may cover: the classifications a rule can test, and product ids."""
    from exportgate.core.catalogue import builtin_catalogue
    from exportgate.core.data import load_data

    rules = load_data("classification.yaml")
    classes = {str(item["id"]) for item in rules["items"]} | set(rules["systems"].values())
    return frozenset(classes | set(builtin_catalogue().products))


def jurisdictions(
    tenant: Tenant, groups: CountryGroups | None = None, day: date | None = None
) -> tuple[Jurisdiction, ...]:
    """Every country the tenant answers to, with the reason, normalised (HK counts as CN).

    `day` dates the normalisation (HK counts as CN from 2020-12-23); None means today.
    """
    groups = groups or builtin_country_groups()
    found: list[Jurisdiction] = []

    def add(code: str | None, role: JurisdictionRole, via: str = "") -> None:
        if not code:
            return
        normalised = groups.normalise(code, day)
        declared = code if normalised != code else ""
        found.append(Jurisdiction(normalised, role, via, declared))

    add(tenant.incorporation, JurisdictionRole.INCORPORATION)
    add(tenant.headquarters, JurisdictionRole.HEADQUARTERS)
    if tenant.ultimate_parent:
        add(
            tenant.ultimate_parent.headquarters,
            JurisdictionRole.PARENT_HEADQUARTERS,
            tenant.ultimate_parent.name,
        )
    for customer in tenant.end_customers:
        add(customer.country, JurisdictionRole.END_CUSTOMER_COUNTRY, customer.name)
        add(customer.headquarters, JurisdictionRole.END_CUSTOMER_HEADQUARTERS, customer.name)
    for owner in tenant.owners:
        if owner.share > MAJORITY_SHARE:
            add(
                owner.headquarters,
                JurisdictionRole.MAJORITY_OWNER_HEADQUARTERS,
                f"{owner.name} ({owner.share:g}%)",
            )
    return tuple(found)


def effective_verification(tenant: Tenant | None, at: datetime) -> EffectiveVerification:
    """The verification state in force at `at`: expiry and not-yet-valid applied."""
    if tenant is None:
        return EffectiveVerification.UNBOUND
    verification = tenant.verification
    if verification.state is not VerificationState.VERIFIED:
        return EffectiveVerification(verification.state.value)
    if verification.verified_at and at < verification.verified_at:
        return EffectiveVerification.NOT_YET_VALID
    if verification.expires_at and at >= verification.expires_at:
        return EffectiveVerification.EXPIRED
    return EffectiveVerification.VERIFIED
