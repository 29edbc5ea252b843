"""Policy documents (ExportPolicy): parsing, validation and compilation into rules.

A policy pack is data: each rule names what it matches (accelerator classes or products, model
providers, ids or tags), the condition on the tenant (jurisdictions in country groups, or the
verification state), whether a licence on file can exempt it, its citation and effective dates,
and the message a tenant reads. Built-in packs live in exportgate/data/policies; users add their
own in the same format, from files or as ExportPolicy custom resources.
"""

from __future__ import annotations

import hashlib
import json
import string
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from functools import cache
from pathlib import Path
from typing import Any

from exportgate.core.catalogue import builtin_catalogue
from exportgate.core.compute_policy import ComputeSection, country_references, parse_compute_section
from exportgate.core.countries import builtin_country_groups
from exportgate.core.data import list_data, load_located
from exportgate.core.documents import LocatedDocument, PathKey, parse_documents, read_documents
from exportgate.core.errors import InputError, PolicyError
from exportgate.core.models import builtin_models
from exportgate.core.rules import PartyCondition, Provenance, Rule, Suspension
from exportgate.core.types import Action, EffectiveVerification, JurisdictionRole
from exportgate.core.validation import validate_spec

API_VERSION = "exportgate.dev/v1alpha1"
SCHEMA = "schemas/exportpolicy-spec.yaml"
TEMPLATE_FIELDS = frozenset(
    {
        "tenant",
        "subject",
        "product",
        "classification",
        "reasons",
        "groups",
        "groupsVerb",
        "countries",
        "verification",
        "verificationRemedy",
        "allowedHint",
        "rule",
        "licenceLane",
        "parties",
    }
)


# The bases a rule can rest on, as a tenant should read them (messages must not overstate them).
@dataclass(frozen=True, slots=True)
class PolicyDocument:
    name: str
    version: str
    title: str
    action: Action
    enabled_by_default: bool
    rescinded: str | None
    rules: tuple[Rule, ...]
    source: str
    digest: str  # sha256 of the canonical spec: two documents with one digest decide alike
    status: str = ""
    not_enforced_since: date | None = None  # no rule of the pack applies from this day on
    compute: ComputeSection | None = None  # compute-accounting thresholds (core/compute_policy)

    def in_force(self, rule: Rule, day: date) -> bool:
        if self.not_enforced_since is not None and day >= self.not_enforced_since:
            return False
        return rule.in_force(day)


def is_policy_document(data: Any) -> bool:
    return (
        isinstance(data, Mapping)
        and data.get("kind") == "ExportPolicy"
        and str(data.get("apiVersion", "")).startswith("exportgate.dev/")
    )


def parse_policy_document(doc: Mapping[str, Any], source: str = "") -> PolicyDocument:
    """An ExportPolicy dict (e.g. a custom resource) -> compiled PolicyDocument."""
    located = LocatedDocument(data=doc, source=source or "<policy>", line=1)
    return policy_from_document(located, doc, ())


def parse_policy_text(text: str, source: str) -> list[PolicyDocument]:
    return [_expect_policy(d) for d in parse_documents(text, source)]


def load_policy_file(path: str | Path) -> list[PolicyDocument]:
    """Every ExportPolicy in a (multi-document) YAML or JSON file."""
    return [_expect_policy(d) for d in read_documents(path)]


def _expect_policy(document: LocatedDocument) -> PolicyDocument:
    if not is_policy_document(document.data):
        raise PolicyError(
            "expected an ExportPolicy (apiVersion exportgate.dev/v1alpha1, kind ExportPolicy)",
            source=document.source,
            line=document.line,
            field="kind",
        )
    return policy_from_document(document, document.data, ())


def policy_from_document(document: LocatedDocument, data: Any, base: PathKey) -> PolicyDocument:
    try:
        return _compile(document, data, base)
    except PolicyError:
        raise
    except InputError as exc:
        raise PolicyError(
            exc.message, source=exc.source, line=exc.line, field=exc.field, hint=exc.hint
        ) from exc


def _compile(document: LocatedDocument, data: Any, base: PathKey) -> PolicyDocument:
    if not isinstance(data, Mapping):
        raise document.error(base, "an ExportPolicy must be a mapping")
    if data.get("apiVersion") != API_VERSION:
        raise document.error(
            (*base, "apiVersion"),
            f"unsupported apiVersion {data.get('apiVersion')!r} for ExportPolicy",
            hint=f"use {API_VERSION}",
        )
    metadata = data.get("metadata")
    name = metadata.get("name") if isinstance(metadata, Mapping) else None
    if not isinstance(name, str) or not name:
        raise document.error((*base, "metadata", "name"), "an ExportPolicy needs metadata.name")
    spec = data.get("spec")
    spec_path = (*base, "spec")
    if not isinstance(spec, Mapping):
        raise document.error(spec_path, "an ExportPolicy needs a spec mapping")
    validate_spec(document, spec, spec_path, SCHEMA, f"ExportPolicy {name}")
    compute = _compute(document, spec, spec_path, name)
    if not spec["rules"] and compute is None:
        raise document.error(
            (*spec_path, "rules"),
            "an ExportPolicy needs at least one rule",
            hint="add rules, or a compute section for a compute-accounting pack",
        )
    seen: set[str] = set()
    rules = []
    for position, raw in enumerate(spec["rules"]):
        path = (*spec_path, "rules", position)
        if raw["id"] in seen:
            raise document.error((*path, "id"), f"duplicate rule id {raw['id']!r}")
        seen.add(raw["id"])
        rules.append(_rule(document, raw, path))
    not_enforced = spec.get("notEnforcedSince")
    canonical = json.dumps({"name": name, "spec": spec}, sort_keys=True, separators=(",", ":"))
    return PolicyDocument(
        name=name,
        version=str(spec["version"]),
        title=str(spec.get("title", name)),
        action=Action(spec.get("enforcementAction", "deny")),
        enabled_by_default=bool(spec.get("enabledByDefault", True)),
        rescinded=spec.get("rescinded"),
        rules=tuple(rules),
        source=document.source,
        digest=hashlib.sha256(canonical.encode()).hexdigest(),
        status=" ".join(str(spec.get("status", "")).split()),
        not_enforced_since=(
            _date(document, not_enforced, (*spec_path, "notEnforcedSince"))
            if not_enforced
            else None
        ),
        compute=compute,
    )


def _compute(
    document: LocatedDocument, spec: Mapping[str, Any], path: PathKey, name: str
) -> ComputeSection | None:
    raw = spec.get("compute")
    if raw is None:
        return None
    groups = builtin_country_groups()
    for where, reference in country_references(raw):
        try:
            groups.resolve(reference)
        except KeyError:
            raise document.error(
                (*path, *where[:-1], int(where[-1])),
                f"unknown country group or country code {reference!r}",
                hint="a group (" + ", ".join(groups.groups) + ") or an ISO code",
            ) from None
    for position, tier in enumerate(raw.get("tiers") or ()):
        for key in ("effective", "until"):
            if tier.get(key):
                _date(document, tier[key], (*path, "compute", "tiers", position, key))
    return parse_compute_section(raw, name, str(spec["version"]))


def _rule(document: LocatedDocument, raw: Mapping[str, Any], path: PathKey) -> Rule:
    match = raw["match"]
    accelerators = match.get("accelerators")
    models = match.get("models")
    if not accelerators and not models:  # an empty mapping matches nothing
        raise document.error(
            (*path, "match"),
            "a rule must match accelerators or models",
            hint="add match.accelerators or match.models",
        )
    catalogue = builtin_catalogue()
    known_classes = {p.eccn for p in catalogue.products.values()} | {
        "3A090.a",
        "3A090.b",
        "4A090.a",
        "4A090.b",
        "3A090-indeterminate",
        "outside-3A090",
    }
    for position, eccn in enumerate((accelerators or {}).get("classifications", ())):
        if eccn not in known_classes:
            raise document.error(
                (*path, "match", "accelerators", "classifications", position),
                f"unknown classification {eccn!r}",
                hint="one of " + ", ".join(sorted(known_classes)),
            )
    for position, product in enumerate((accelerators or {}).get("products", ())):
        if product not in catalogue.products:
            raise document.error(
                (*path, "match", "accelerators", "products", position),
                f"unknown product {product!r}",
                hint="use a catalogue product id, e.g. nvidia-h20 (see `exportgate catalogue`)",
            )
    model_catalogue = builtin_models()
    for position, provider in enumerate((models or {}).get("providers", ())):
        if provider not in model_catalogue.providers:
            raise document.error(
                (*path, "match", "models", "providers", position),
                f"unknown model provider {provider!r}",
                hint="one of " + ", ".join(sorted(model_catalogue.providers)),
            )
    groups = builtin_country_groups()
    jurisdictions = raw.get("jurisdictions")
    for key in ("anyIn", "exceptIn"):
        for position, reference in enumerate((jurisdictions or {}).get(key, ())):
            try:
                groups.resolve(reference)
            except KeyError:
                raise document.error(
                    (*path, "jurisdictions", key, position),
                    f"unknown country group or country code {reference!r}",
                    hint="a group (" + ", ".join(groups.groups) + "), an ISO code, or *",
                ) from None
    parties = raw.get("parties")
    if not (jurisdictions or raw.get("verification") or parties or raw.get("unconditional")):
        raise document.error(
            path,
            "a rule needs a condition",
            hint="add jurisdictions, verification or parties, or set unconditional: true",
        )
    if raw.get("ownership") and not jurisdictions:
        raise document.error(
            (*path, "ownership"),
            "an ownership condition counts owners headquartered in the rule's jurisdictions",
            hint="add jurisdictions.anyIn",
        )
    for key in ("message", "remedy"):
        _check_template(document, raw.get(key, ""), (*path, key))
    always = raw["effective"] == "always"
    effective = date.min if always else _date(document, raw["effective"], (*path, "effective"))
    until = _date(document, raw["until"], (*path, "until")) if raw.get("until") else None
    if until is not None and until <= effective:
        raise document.error(
            (*path, "until"),
            f"until {until} is not after effective {raw['effective']}: the rule is never in force",
            hint="until is the first day the rule no longer applies",
        )
    suspensions = []
    for position, window in enumerate(raw.get("suspended") or ()):
        window_path = (*path, "suspended", position)
        suspension = Suspension(
            since=_date(document, window["from"], (*window_path, "from")),
            until=_date(document, window["until"], (*window_path, "until")),
            citation=str(window["citation"]),
            confidence=str(window.get("confidence", "")),
        )
        if suspension.until <= suspension.since:
            raise document.error((*window_path, "until"), "a suspension must end after it starts")
        suspensions.append(suspension)
    bandwidth = (accelerators or {}).get("bandwidthAtLeast") or {}
    roles = (jurisdictions or {}).get("roles")
    verification = raw.get("verification")
    return Rule(
        id=raw["id"],
        title=str(raw.get("title", raw["id"])),
        citation=raw["citation"],
        effective=effective,
        until=until,
        action=Action(raw["enforcementAction"]) if raw.get("enforcementAction") else None,
        classifications=frozenset((accelerators or {}).get("classifications", ())),
        products=frozenset((accelerators or {}).get("products", ())),
        matches_accelerators=bool(accelerators),
        model_providers=frozenset((models or {}).get("providers", ())),
        model_ids=frozenset((models or {}).get("ids", ())),
        model_tags=frozenset((models or {}).get("tags", ())),
        model_weights=(models or {}).get("weights"),
        min_training_compute=(models or {}).get("minTrainingCompute"),
        matches_models=bool(models),
        any_in=tuple((jurisdictions or {}).get("anyIn", ())),
        except_in=tuple((jurisdictions or {}).get("exceptIn", ())),
        roles=frozenset(JurisdictionRole(r) for r in roles) if roles else None,
        verification_not_in=(
            frozenset(EffectiveVerification(s) for s in verification.get("notIn", ()))
            if verification
            else None
        ),
        licensable=bool(raw.get("licensable", False)),
        message=" ".join(str(raw["message"]).split()),
        remedy=" ".join(str(raw.get("remedy", "")).split()),
        provenance=Provenance(
            basis=str(raw.get("basis", "")),
            confidence=str(raw.get("confidence", "")),
            status=str(raw.get("status", "")),
            note=" ".join(str(raw.get("note", "")).split()),
            always=always,
        ),
        suspensions=tuple(suspensions),
        unconditional=bool(raw.get("unconditional", False)),
        ownership_share_above=(raw.get("ownership") or {}).get("aggregateShareAbove"),
        parties=(
            PartyCondition(
                lists=frozenset(parties["lists"]),
                tenant=bool(parties.get("tenant", False)),
                owners_share_at_least=parties.get("ownersShareAtLeast"),
            )
            if parties
            else None
        ),
        min_memory_gbs=bandwidth.get("memoryGBs"),
        min_interconnect_gbs=bandwidth.get("interconnectGBs"),
    )


def _check_template(document: LocatedDocument, text: str, path: PathKey) -> None:
    try:
        names = {name for _, name, _, _ in string.Formatter().parse(text) if name is not None}
    except ValueError as exc:
        raise document.error(
            path, f"broken template: {exc}", hint="use {field} placeholders"
        ) from exc
    unknown = sorted(n for n in names if n not in TEMPLATE_FIELDS)
    if unknown:
        raise document.error(
            path,
            f"unknown placeholder {{{unknown[0]}}}",
            hint="available: " + ", ".join(sorted(TEMPLATE_FIELDS)),
        )


def _date(document: LocatedDocument, value: str, path: PathKey) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise document.error(path, f"{value!r} is not a date", hint="use YYYY-MM-DD") from exc


@cache
def builtin_packs() -> dict[str, PolicyDocument]:
    """The packs shipped with exportgate, by name."""
    packs: dict[str, PolicyDocument] = {}
    for name in list_data("policies"):
        for document in load_located(name):
            policy = policy_from_document(document, document.data, ())
            packs[policy.name] = policy
    return packs


def default_pack_names() -> list[str]:
    return [name for name, pack in builtin_packs().items() if pack.enabled_by_default]
