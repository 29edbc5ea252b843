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
from datetime import date, datetime

from exportgate.core.catalogue import Catalogue, builtin_catalogue
from exportgate.core.conditions import Trigger, condition, exempt, triggering
from exportgate.core.countries import CountryGroups, builtin_country_groups
from exportgate.core.decision import Decision, ResolvedAccelerator, ResolvedModel, Violation
from exportgate.core.errors import PolicyError
from exportgate.core.licensing import builtin_lanes
from exportgate.core.messages import MessageContext, render
from exportgate.core.models import ModelCatalogue, builtin_models
from exportgate.core.policy import PolicyDocument, builtin_packs, default_pack_names
from exportgate.core.rules import Rule
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
    parties: str = ""  # for restricted-party rules: who is listed


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
        # A memo, not state: any thread may fill it (dict writes are atomic in CPython) and a
        # lost or cleared entry only costs recomputing the same answer.
        self._by_day: dict[date, tuple[_ActiveRule, ...]] = {}
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

    def applies_to_everyone(self, decision: Decision) -> bool:
        """True when a denial comes only from rules that hold for every tenant alike
        (`unconditional`, e.g. GP10 for Huawei Ascend), so it says nothing about this tenant."""
        denying = [v for v in decision.violations if not v.action.admits]
        rules = {(a.policy.name, a.rule.id): a.rule for a in self._rules}
        return bool(denying) and all(
            (rule := rules.get((v.policy, v.rule_id))) is not None and rule.unconditional
            for v in denying
        )

    def _in_force(self, day: date) -> tuple[_ActiveRule, ...]:
        """The rules in force on `day`, memoised: the answer only changes on transition days."""
        found = self._by_day.get(day)
        if found is None:
            found = tuple(a for a in self._rules if a.policy.in_force(a.rule, day))
            if len(self._by_day) > 64:  # replays span many days; keep the memo small
                self._by_day.clear()
            self._by_day[day] = found
        return found

    def transition_days(self) -> tuple[date, ...]:
        """Every day on which a fact this engine decides with starts or stops holding.

        Rules (effective, until, suspensions, a pack's not-enforced date), dated country-group
        memberships and normalisations, and licence lanes: a cached decision is stale across any.
        """
        days: set[date] = set()
        for policy in self.policies:
            if policy.not_enforced_since is not None:
                days.add(policy.not_enforced_since)
            for rule in policy.rules:
                if rule.effective != date.min:
                    days.add(rule.effective)
                if rule.until is not None:
                    days.add(rule.until)
                for suspension in rule.suspensions:
                    days.update((suspension.since, suspension.until))
        facts = [m.fact for g in self.groups.groups.values() for m in g.memberships]
        facts += [n.fact for n in self.groups.normalisations.values()]
        for fact in facts:
            days.update(d for d in (fact.since, fact.until) if d is not None)
        for lane in builtin_lanes():  # they change what a denial says
            days.update(d for d in (lane.since, lane.until) if d is not None)
        return tuple(sorted(days))

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
        day = at.date()
        # Every fact is taken as of the instant: normalisation, group membership, rules.
        found = jurisdictions(tenant, self.groups, day) if tenant else ()
        # Only a node pool resolves to no candidates, and only when a clue names nothing but
        # instance families documented to carry no accelerator (a CPU pool): nothing to guard.
        # Constraints that merely contradict each other resolve to unpinned (Catalogue.resolve).
        accelerators = tuple(
            resolved
            for resolved in self.catalogue.resolve_all(workload.accelerators)
            if resolved.candidates
        )
        models = tuple(self.models.resolve(m) for m in workload.models)
        in_force = self._in_force(day)
        context = MessageContext(
            tenant=tenant,
            tenant_name=tenant.name if tenant else tenant_name,
            verification=verification,
            at=at,
            catalogue=self.catalogue,
            subject=workload.ref,
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
        classes = {p: self.catalogue.eccns(p, system=system) for p in accelerator.candidates}
        for active in rules:
            rule = active.rule
            if not rule.matches_accelerators:
                continue
            if rule.unconditional and not self._identified_for(rule, accelerator):
                # A rule that holds for every tenant alike (GP10: a product's origin) judges the
                # product, not the tenant, so it needs the product identified. Applied to an
                # ambiguous or unidentified request it would refuse every tenant anything
                # unpinned; the fail-closed judgement of unknowns is the tenant-facing rules'
                # (the most restrictive classification), and a request that can only be the
                # named products' vendor (huawei.com/Ascend*, an Ascend node label) matches.
                continue
            # The condition is about the tenant, not the product: decide it once per rule
            # (lazily, as most rules match no candidate), then only licences per product.
            unknown = object()
            reason: Trigger | object | None = unknown
            for product in accelerator.candidates:
                eccns = classes[product]
                matched = [e for e in eccns if e in rule.classifications]
                if (
                    product not in rule.products
                    and not matched
                    and not self._bandwidth_match(rule, product)
                ):
                    continue
                if reason is unknown:
                    reason = condition(rule, tenant, found, verification, at, self.groups)
                if not isinstance(reason, Trigger):
                    break
                covers = (product, *eccns)
                if exempt(rule, tenant, reason, covers, at, self.groups):
                    continue
                trigger = reason
                classification = matched[0] if matched else eccns[0]
                hits.setdefault(rule.id + "\0" + active.policy.name, []).append(
                    _Hit(active, product, trigger.jurisdictions, classification, trigger.parties)
                )
        blocked = {
            h.subject for group in hits.values() for h in group if h.active.action is Action.DENY
        }
        allowed = [p for p in accelerator.candidates if p not in blocked]
        return [
            render(group, accelerator=accelerator, allowed=allowed, context=context)
            for group in hits.values()
        ]

    def _identified_for(self, rule: Rule, accelerator: ResolvedAccelerator) -> bool:
        """True when the request can only be hardware of the vendors whose products `rule`
        names (no unknown or other vendor's product among its candidates)."""
        products = self.catalogue.products
        vendors = {products[p].vendor for p in rule.products if p in products}
        return all(c in products and products[c].vendor in vendors for c in accelerator.candidates)

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
            covers = (subject,)
            trigger = triggering(rule, tenant, found, verification, at, covers, self.groups)
            if trigger is None:
                continue
            hit = _Hit(active, subject, trigger.jurisdictions, "", trigger.parties)
            violations.append(render([hit], model=model, context=context))
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

    def _bandwidth_match(self, rule: Rule, product_id: str) -> bool:
        """A part the 3A090 numbers leave uncontrolled but reaching a rule's bandwidth figures.

        Only uncontrolled parts: a controlled one is already caught by the 3A090 rules, and a
        second violation for it would only repeat the first.
        """
        product = self.catalogue.products.get(product_id)
        if not rule.matches_bandwidth or product is None or product.eccn != "outside-3A090":
            return False
        memory, interconnect = product.memory_bandwidth_gbs, product.interconnect_gbs
        return (
            rule.min_memory_gbs is not None and memory is not None and memory >= rule.min_memory_gbs
        ) or (
            rule.min_interconnect_gbs is not None
            and interconnect is not None
            and interconnect >= rule.min_interconnect_gbs
        )
