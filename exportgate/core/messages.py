"""Turning rule hits into sentences a tenant can act on.

The policy supplies the template; this module supplies the facts that fill it: which products,
which of the tenant's parties put it in which country group, and, for an unpinned request, the
products the tenant could pin instead.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from exportgate.core.decision import ResolvedAccelerator, ResolvedModel, Violation
from exportgate.core.extract.pod_vm import NODEPOOL_RESOURCE, is_pod_vm_source
from exportgate.core.extract.resource_profile import (
    BUILTIN_PROFILES,
    PROFILE_HOW_TO_IDENTIFY,
    is_profile_request,
    profile_requests,
)
from exportgate.core.extract.unknown import (
    HOW_TO_IDENTIFY,
    describe_unidentified,
    through_annotation,
)
from exportgate.core.licensing import lane_text
from exportgate.core.types import (
    EffectiveVerification,
    Jurisdiction,
    JurisdictionRole,
    ObjectRef,
    Tenant,
)

if TYPE_CHECKING:
    from exportgate.core.catalogue import Catalogue

# Resources whose product is pinned with a GPU Feature Discovery label.
_PIN_LABELS = {"nvidia": "nvidia.com/gpu.product", "amd": "amd.com/gpu.product-name"}
_MAX_LISTED = 4


@dataclass(frozen=True, slots=True)
class MessageContext:
    tenant: Tenant | None
    tenant_name: str | None
    verification: EffectiveVerification
    at: datetime
    catalogue: Catalogue
    subject: ObjectRef | None = None
    """The object decided: a cluster-scoped one (a NodePool) names its tenant with its own
    label, so its remedy differs from a namespaced object's."""


class _Fields(dict[str, Any]):
    """Template values; a missing one renders empty instead of raising mid-admission."""

    def __missing__(self, key: str) -> str:
        return ""


def render(
    hits: Sequence[Any],
    *,
    context: MessageContext,
    accelerator: ResolvedAccelerator | None = None,
    model: ResolvedModel | None = None,
    allowed: Sequence[str] = (),
) -> Violation:
    """One Violation for all hits of one rule on one request (hits share rule and policy)."""
    first = hits[0]
    active = first.active
    catalogue = context.catalogue
    subjects = list(dict.fromkeys(h.subject for h in hits))
    triggering = list(dict.fromkeys(j for h in hits for j in h.triggering))
    classification = first.classification
    if accelerator is not None:
        # Name the most restrictive class the rule matched ("3A090.a", not "3A090-indeterminate",
        # for a request that could be either): that is what a licence would have to cover.
        order = accelerator.classifications
        classification = min(
            (h.classification for h in hits),
            key=lambda c: order.index(c) if c in order else len(order),
        )
        subject_text = _accelerator_subject(accelerator, subjects, catalogue)
        product_text = ", ".join(catalogue.display_name(s) for s in subjects[:_MAX_LISTED])
    else:
        subject_text = _model_subject(model, subjects)
        product_text = subject_text
    groups = _matched_groups(triggering, active.rule.any_in, catalogue, context)
    countries = list(dict.fromkeys(j.country for j in triggering))
    lane = ""
    if accelerator is not None and "{licenceLane}" in active.rule.message + active.rule.remedy:
        lane = lane_text(catalogue, subjects, classification, triggering, context.at.date())
    fields = _Fields(
        tenant=_tenant_text(context),
        subject=subject_text,
        product=product_text,
        classification=classification,
        reasons=_reasons(triggering),
        groups=", ".join(groups) if groups else "",
        groupsVerb="are" if len(triggering) > 1 else "is",
        countries=", ".join(countries),
        verification=_verification_text(context),
        verificationRemedy=_verification_remedy(context, accelerator, allowed),
        allowedHint=_allowed_hint(accelerator, allowed, catalogue),
        rule=active.rule.id,
        licenceLane=lane,
        parties="; ".join(dict.fromkeys(h.parties for h in hits if h.parties)),
    )
    return Violation(
        rule_id=active.rule.id,
        policy=active.policy.name,
        policy_version=active.policy.version,
        action=active.action,
        citation=active.rule.citation,
        message=_sentence(active.rule.message.format_map(fields)),
        remedy=_sentence(active.rule.remedy.format_map(fields)),
        subject=",".join(subjects),
        countries=tuple(dict.fromkeys(j.country for j in triggering)),
    )


# A comma that closes an appositive ("its parent X, headquartered in CN,") is only right when
# the sentence goes on; before punctuation or at the end it is dropped.
_DANGLING_COMMA = re.compile(r",(?=\s*(?:[.;:()]|$))")


def _sentence(text: str) -> str:
    text = _DANGLING_COMMA.sub("", " ".join(text.split()))
    return text if not text or text.endswith((".", "!", "?")) else text + "."


def _tenant_text(context: MessageContext) -> str:
    if context.tenant is not None:
        return f"{context.tenant.name!r} ({context.tenant.legal_name})"
    if context.tenant_name:
        return f"{context.tenant_name!r} (no tenant record with that name exists)"
    return "(none: the namespace is not bound to a tenant)"


def _accelerator_subject(
    accelerator: ResolvedAccelerator, subjects: Sequence[str], catalogue: Catalogue
) -> str:
    names = [catalogue.display_name(s) for s in subjects]
    if accelerator.pinned and len(accelerator.candidates) == 1:
        return names[0]
    listed = ", ".join(names[:_MAX_LISTED]) + (
        f" and {len(names) - _MAX_LISTED} more" if len(names) > _MAX_LISTED else ""
    )
    if not accelerator.pinned:
        unknown = describe_unidentified(
            accelerator.resource,
            accelerator.source,
            unknown_resource=catalogue.unknown_id
            in catalogue.base_for_resource(accelerator.resource),
        )
        # A node pool whose requirements were read but contradict each other is not an
        # unidentified pool: the note says what is wrong with it.
        if unknown is not None and not (accelerator.note and accelerator.resource == "nodepool"):
            # Say what could not be identified, and how to fix it.
            why = f"{accelerator.note}; " if accelerator.note else ""
            how = (
                PROFILE_HOW_TO_IDENTIFY
                if is_profile_request(accelerator.resource, accelerator.source)
                else HOW_TO_IDENTIFY
            )
            return f"{unknown} ({why}{how}; it could be {listed})"
        request = f"An unpinned {accelerator.resource} request"
        request += through_annotation(accelerator.source)
        if accelerator.note:  # why its placement did not pin it
            return f"{request} ({accelerator.note}; it could be {listed})"
        return f"{request} (it could be {listed})"
    return f"A {accelerator.resource} request that could be {listed}"


def _model_subject(model: ResolvedModel | None, subjects: Sequence[str]) -> str:
    if model is None:
        return ", ".join(subjects)
    if model.model_id and model.model_id != model.reference:
        return f"{model.reference!r} ({model.model_id})"
    if model.note:  # what could not be identified, and how to fix it
        return f"{model.reference!r} ({model.note})"
    return repr(model.reference)


def _matched_groups(
    triggering: Sequence[Jurisdiction],
    references: Sequence[str],
    catalogue: Catalogue,
    context: MessageContext,
) -> list[str]:
    from exportgate.core.countries import builtin_country_groups

    groups = builtin_country_groups()
    found: list[str] = []
    for jurisdiction in triggering:
        for name in groups.matching(jurisdiction.country, references, context.at.date()):
            if name not in found:
                found.append(name)
    return found


_ROLE_TEXT: Mapping[JurisdictionRole, str] = {
    JurisdictionRole.INCORPORATION: "its country of incorporation {country}",
    JurisdictionRole.HEADQUARTERS: "its headquarters in {country}",
    JurisdictionRole.PARENT_HEADQUARTERS: "its ultimate parent {via}, headquartered in {country},",
    JurisdictionRole.END_CUSTOMER_COUNTRY: "its end customer {via} in {country}",
    JurisdictionRole.END_CUSTOMER_HEADQUARTERS: (
        "its end customer {via}, headquartered in {country},"
    ),
    JurisdictionRole.MAJORITY_OWNER_HEADQUARTERS: (
        "its majority owner {via}, headquartered in {country},"
    ),
    JurisdictionRole.OWNER_HEADQUARTERS: "its owner {via}, headquartered in {country},",
}


def _reasons(triggering: Sequence[Jurisdiction]) -> str:
    parts = []
    for jurisdiction in triggering:
        country = jurisdiction.country
        if jurisdiction.declared_as:
            country = f"{jurisdiction.declared_as} (counted as {jurisdiction.country})"
        parts.append(_ROLE_TEXT[jurisdiction.role].format(country=country, via=jurisdiction.via))
    text = " and ".join(dict.fromkeys(parts))
    return text


def _verification_text(context: MessageContext) -> str:
    state = context.verification
    tenant = context.tenant
    if state is EffectiveVerification.UNBOUND:
        return "not known (no tenant record)"
    if tenant is None:
        return state.value
    ref = (
        f" (KYC case {tenant.verification.evidence_ref})"
        if tenant.verification.evidence_ref
        else ""
    )
    if state is EffectiveVerification.EXPIRED and tenant.verification.expires_at:
        expired = tenant.verification.expires_at
        return f"no longer verified: verification expired on {expired:%Y-%m-%d}{ref}"
    if state is EffectiveVerification.NOT_YET_VALID and tenant.verification.verified_at:
        starts = tenant.verification.verified_at
        return f"not yet verified: verification starts on {starts:%Y-%m-%d}{ref}"
    return f"{state.value.lower()}{ref}"


def _verification_remedy(
    context: MessageContext, accelerator: ResolvedAccelerator | None, allowed: Sequence[str]
) -> str:
    state = context.verification
    if state is EffectiveVerification.UNBOUND:
        if context.tenant_name:
            action = (
                f"Ask your platform team to create the Tenant record {context.tenant_name!r} "
                "or to correct the namespace's exportgate.dev/tenant label"
            )
        elif context.subject is not None and context.subject.namespace is None:
            action = (
                f"Label this {context.subject.kind} with exportgate.dev/tenant set to your "
                "verified tenant (only your platform team may set that label)"
            )
        else:
            action = (
                "Ask your platform team to bind this namespace to your verified tenant "
                "(label exportgate.dev/tenant)"
            )
    elif state is EffectiveVerification.EXPIRED:
        action = "Ask your provider's KYC team to renew your verification"
    elif state in (EffectiveVerification.PENDING, EffectiveVerification.NOT_YET_VALID):
        action = "Wait for your provider's KYC team to complete verification"
    else:
        action = "Contact your provider's KYC team about your verification"
    if accelerator is not None:
        hint = _allowed_hint(accelerator, allowed, context.catalogue)
        return f"{action}, or use an uncontrolled accelerator{hint}."
    return f"{action}."


def _allowed_hint(
    accelerator: ResolvedAccelerator | None, allowed: Sequence[str], catalogue: Catalogue
) -> str:
    """How to get a product this tenant may use: a pod pins one with a node selector, when
    the request was not pinned to one; a node pool, machine or VM names a machine type."""
    if accelerator is None:
        return ""
    if accelerator.resource == NODEPOOL_RESOURCE:
        # A node pool, machine template or a pod's own VM is not placed by a nodeSelector: its
        # hardware is the machine type it names.
        return _machine_hint(accelerator, allowed, catalogue)
    if is_profile_request(accelerator.resource, accelerator.source):
        return _profile_hint(accelerator, allowed, catalogue)
    # Each product is pinned with its own vendor's label: an unknown resource can land on
    # several vendors' products, and an AMD label with an NVIDIA value pins nothing.
    pins = []
    for product in allowed:
        entry = catalogue.products.get(product)
        label = _PIN_LABELS.get(entry.vendor) if entry else None
        value = catalogue.pin_label(product)
        if label and value:
            pins.append(f"{label}={value}")
    if pins:
        return " by pinning an allowed product with nodeSelector " + " or ".join(pins[:2])
    names = [catalogue.display_name(p) for p in allowed if p in catalogue.products]
    return f" ({', '.join(names[:_MAX_LISTED])})" if names else ""


def _profile_hint(
    accelerator: ResolvedAccelerator, allowed: Sequence[str], catalogue: Catalogue
) -> str:
    """How a KubeAI Model gets a product this tenant may use: it has no node selector of its
    own, it names a resource profile; KubeAI's built-in ones are the examples, when the
    catalogue reads one as an allowed product."""
    permitted = set(allowed)
    examples = []
    for name in BUILTIN_PROFILES:
        for request in profile_requests(f"{name}:1", accelerator.source):
            resolved = catalogue.resolve(request)
            if resolved.pinned and permitted.issuperset(resolved.candidates):
                examples.append(f"{name}:1")
    where = f" in {accelerator.source}" if accelerator.source else ""
    if examples:
        listed = " or ".join(examples[:2])
        return (
            f" by choosing{where} a resource profile of an allowed accelerator (for example "
            f"{listed}, if your platform offers it) or the cpu profile"
        )
    names = [catalogue.display_name(p) for p in allowed if p in catalogue.products]
    listed = f" ({', '.join(names[:_MAX_LISTED])})" if names else ""
    return f" by choosing{where} a resource profile of an allowed accelerator{listed} or cpu"


def _machine_hint(
    accelerator: ResolvedAccelerator, allowed: Sequence[str], catalogue: Catalogue
) -> str:
    """How a node pool, machine (template) or pod VM gets hardware this tenant may use: by the
    machine type it names, which exportgate must know (a name only the cloud's operator
    defines, or a kind without an adapter, the platform team makes known in an adapter file)."""
    names = [catalogue.display_name(p) for p in allowed if p in catalogue.products]
    fitting = (
        f"an allowed accelerator ({', '.join(names[:_MAX_LISTED])}) or none"
        if names
        else "no controlled accelerator"
    )
    if not accelerator.source:  # a kind read by a kindPattern adapter: no field to change
        return (
            " by using a machine kind exportgate has an adapter for, with a known machine type "
            f"that has {fitting}, or by asking your platform team for an adapter file that "
            "reads this kind's machine type"
        )
    if is_pod_vm_source(accelerator.source):
        return f" by giving the pod's VM a known instance type that has {fitting}"
    listed = (
        ""
        if accelerator.pinned
        else " (a public cloud's instance type, or a flavor or VM class your platform team "
        "lists in an adapter file)"
    )
    return f" by naming, in the object's own spec, a known machine type{listed} that has {fitting}"
