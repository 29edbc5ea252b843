"""The policy engine: an immutable snapshot of catalogue, country groups and compiled policies.

Build one with `PolicyEngine.build(...)`, call `evaluate` as often as you like from any thread
(it never mutates), and swap the whole engine atomically when tenants or policies change.

How a decision is reached:
1. The workload's accelerator requests are resolved to candidate products (an unpinned request
   has many candidates); its model references to catalogue entries.
2. Every rule in force at the evaluation instant is tried against every candidate. A rule
   triggers when its subject matches and its condition on the tenant holds (a jurisdiction in
   the named groups, or a verification state), unless a valid licence on file covers it.
3. Violations for one rule and one request are merged, so an unpinned GPU yields one message
   that names the products it could be and the ones the tenant may pin instead.
4. The most severe action wins (deny > warn > dryrun > allow).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from exportgate.core.catalogue import Catalogue, builtin_catalogue
from exportgate.core.countries import CountryGroups, builtin_country_groups
from exportgate.core.decision import Decision, ResolvedAccelerator, ResolvedModel, Violation
from exportgate.core.errors import PolicyError
from exportgate.core.messages import MessageContext, render
from exportgate.core.models import ModelCatalogue, builtin_models
from exportgate.core.policy import PolicyDocument, Rule, builtin_packs, default_pack_names
from exportgate.core.tenants import effective_verification, jurisdictions
from exportgate.core.types import (
    Action,
    EffectiveVerification,
    Jurisdiction,
    Tenant,
    Workload,
)


@dataclass(frozen=True, slots=True)
class _ActiveRule:
    rule: Rule
    policy: PolicyDocument
    action: Action


@dataclass(frozen=True, slots=True)
class _Hit:
    """One rule triggered by one candidate subject."""

    active: _ActiveRule
    subject: str
    triggering: tuple[Jurisdiction, ...]
    classification: str


class PolicyEngine:
    """An immutable, thread-safe decision function over one policy snapshot."""

    def __init__(
        self,
        policies: Sequence[PolicyDocument],
        *,
        default_action: Action | None = None,
        catalogue: Catalogue | None = None,
        models: ModelCatalogue | None = None,
        groups: CountryGroups | None = None,
    ) -> None:
        names = [p.name for p in policies]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise PolicyError(f"policy {duplicates[0]!r} is defined twice", field="metadata.name")
        self.policies = tuple(policies)
        self.default_action = default_action
        self.catalogue = catalogue or builtin_catalogue()
        self.models = models or builtin_models()
        self.groups = groups or builtin_country_groups()
        self._rules = tuple(
            _ActiveRule(rule, policy, rule.action or default_action or policy.action)
            for policy in self.policies
            for rule in policy.rules
        )
        self.policy_versions: dict[str, str] = {p.name: p.version for p in self.policies}
        self.policy_versions |= {
            "catalogue": self.catalogue.version,
            "models": self.models.version,
            "countryGroups": self.groups.version,
        }
        fingerprint = {
            "policies": {p.name: p.digest for p in self.policies},
            "data": {k: v for k, v in self.policy_versions.items() if k not in self._names()},
            "defaultAction": default_action.value if default_action else None,
        }
        self.version = hashlib.sha256(json.dumps(fingerprint, sort_keys=True).encode()).hexdigest()[
            :16
        ]

    def _names(self) -> set[str]:
        return {p.name for p in self.policies}

    @classmethod
    def build(
        cls,
        *,
        policies: Sequence[PolicyDocument] = (),
        packs: Sequence[str] | None = None,
        default_action: Action | None = None,
    ) -> PolicyEngine:
        """Built-in packs (`packs`, or the enabled-by-default ones) plus user `policies`.

        A user policy with the name of a built-in pack replaces that pack, so a provider can
        ship an amended version of a default pack without forking exportgate.
        """
        available = builtin_packs()
        chosen = default_pack_names() if packs is None else list(packs)
        unknown = [name for name in chosen if name not in available]
        if unknown:
            raise PolicyError(
                f"unknown built-in policy pack {unknown[0]!r}",
                hint="available: " + ", ".join(sorted(available)),
            )
        by_name = {name: available[name] for name in chosen}
        for policy in policies:
            by_name[policy.name] = policy
        return cls(list(by_name.values()), default_action=default_action)

    # --- evaluation ----------------------------------------------------------------------

    def evaluate(
        self,
        workload: Workload,
        tenant: Tenant | None,
        at: datetime,
        *,
        tenant_name: str | None = None,
    ) -> Decision:
        """Decide one workload for one tenant at one instant.

        `tenant_name` names a tenant that was asked for but has no record (so messages can say
        so); it is ignored when `tenant` is given.
        """
        verification = effective_verification(tenant, at)
        found = jurisdictions(tenant, self.groups) if tenant else ()
        accelerators = tuple(
            resolved
            for resolved in (self.catalogue.resolve(r) for r in workload.accelerators)
            if resolved.candidates
        )
        models = tuple(self.models.resolve(m) for m in workload.models)
        day = at.date()
        in_force = [a for a in self._rules if a.rule.in_force(day)]
        context = MessageContext(
            tenant=tenant,
            tenant_name=tenant.name if tenant else tenant_name,
            verification=verification,
            at=at,
            catalogue=self.catalogue,
        )
        violations: list[Violation] = []
        for accelerator in accelerators:
            violations.extend(
                self._accelerator_violations(
                    accelerator, in_force, tenant, found, verification, at, context
                )
            )
        for model in models:
            violations.extend(
                self._model_violations(model, in_force, tenant, found, verification, at, context)
            )
        violations.sort(key=lambda v: -v.action.severity)
        action = violations[0].action if violations else Action.ALLOW
        return Decision(
            action=action,
            object=workload.ref,
            tenant=tenant.name if tenant else tenant_name,
            evaluated_at=at,
            verification=verification,
            verification_ref=tenant.verification.evidence_ref if tenant else None,
            jurisdictions=found,
            accelerators=accelerators,
            models=models,
            violations=tuple(violations),
            policy_versions=dict(self.policy_versions),
        )

    def _accelerator_violations(
        self,
        accelerator: ResolvedAccelerator,
        rules: Iterable[_ActiveRule],
        tenant: Tenant | None,
        found: tuple[Jurisdiction, ...],
        verification: EffectiveVerification,
        at: datetime,
        context: MessageContext,
    ) -> list[Violation]:
        system = accelerator.resource == "nodepool" or "4A090" in " ".join(
            accelerator.classifications
        )
        hits: dict[str, list[_Hit]] = {}
        for active in rules:
            rule = active.rule
            if not rule.matches_accelerators:
                continue
            for product in accelerator.candidates:
                eccns = self.catalogue.eccns(product, system=system)
                matched = [e for e in eccns if e in rule.classifications]
                if product not in rule.products and not matched:
                    continue
                covers = (product, *eccns)
                triggering = self._triggering(rule, tenant, found, verification, at, covers)
                if triggering is None:
                    continue
                classification = matched[0] if matched else eccns[0]
                hits.setdefault(rule.id + "\0" + active.policy.name, []).append(
                    _Hit(active, product, triggering, classification)
                )
        blocked = {
            h.subject for group in hits.values() for h in group if h.active.action is Action.DENY
        }
        allowed = [p for p in accelerator.candidates if p not in blocked]
        return [
            render(group, accelerator=accelerator, allowed=allowed, context=context)
            for group in hits.values()
        ]

    def _model_violations(
        self,
        model: ResolvedModel,
        rules: Iterable[_ActiveRule],
        tenant: Tenant | None,
        found: tuple[Jurisdiction, ...],
        verification: EffectiveVerification,
        at: datetime,
        context: MessageContext,
    ) -> list[Violation]:
        entry = self.models.entry(model.model_id)
        violations = []
        for active in rules:
            rule = active.rule
            if not rule.matches_models or not self._model_matches(rule, model, entry):
                continue
            subject = model.model_id or model.reference
            triggering = self._triggering(rule, tenant, found, verification, at, (subject,))
            if triggering is None:
                continue
            violations.append(
                render([_Hit(active, subject, triggering, "")], model=model, context=context)
            )
        return violations

    def _model_matches(self, rule: Rule, model: ResolvedModel, entry: object) -> bool:
        from exportgate.core.models import ModelEntry

        # A model the catalogue does not list still carries its provider's terms (a new Claude
        # model name is bound by Anthropic's terms the day it ships). One exportgate could not
        # attribute to a single provider could be any model of any candidate provider, so it is
        # decided as the most restrictive of them (see ModelCatalogue.possible).
        candidates = model.candidates
        if isinstance(entry, ModelEntry):
            tags, ids = entry.tags, frozenset({entry.id})
        elif model.providers:
            tags, ids = self.models.possible(model.providers)
        else:
            tags = self.models.provider_tags.get(model.provider or "", frozenset())
            ids = frozenset()
        if rule.model_providers and not rule.model_providers.intersection(candidates):
            return False
        if rule.model_ids and not (rule.model_ids & ids):
            return False
        if rule.model_tags and not (rule.model_tags & tags):
            return False
        if rule.model_weights is not None and (
            not isinstance(entry, ModelEntry) or entry.weights != rule.model_weights
        ):
            return False
        if rule.min_training_compute is not None:
            compute = entry.training_compute if isinstance(entry, ModelEntry) else None
            if compute is None or compute <= rule.min_training_compute:
                return False
        return True

    def _triggering(
        self,
        rule: Rule,
        tenant: Tenant | None,
        found: tuple[Jurisdiction, ...],
        verification: EffectiveVerification,
        at: datetime,
        covers: tuple[str, ...],
    ) -> tuple[Jurisdiction, ...] | None:
        """The jurisdictions that make the rule apply, () for a verification-only rule, or None."""
        if rule.verification_not_in is not None and verification in rule.verification_not_in:
            return None
        if not rule.any_in:
            return ()
        triggering = tuple(
            j
            for j in found
            if (rule.roles is None or j.role in rule.roles)
            and self.groups.matching(j.country, rule.any_in)
            and not self.groups.matching(j.country, rule.except_in)
        )
        if not triggering:
            return None
        if (
            rule.licensable
            and tenant is not None
            and _licensed(tenant, triggering, covers, at, self.groups)
        ):
            return None
        return triggering


def _licensed(
    tenant: Tenant,
    triggering: tuple[Jurisdiction, ...],
    covers: tuple[str, ...],
    at: datetime,
    groups: CountryGroups,
) -> bool:
    """True when every triggering country is covered by a licence valid at `at`."""
    valid = [
        licence
        for licence in tenant.licences
        if (licence.expires_at is None or at < licence.expires_at)
        and (licence.issued_at is None or licence.issued_at <= at)
        and set(licence.covers) & set(covers)
    ]
    for jurisdiction in triggering:
        if not any(
            jurisdiction.country in {groups.normalise(c) for c in licence.countries}
            for licence in valid
        ):
            return False
    return True
