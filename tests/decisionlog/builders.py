"""Real `Decision` objects for decision-log tests, built from the core's own types."""

from __future__ import annotations

from datetime import UTC, datetime

from exportgate.core.decision import Decision, ResolvedAccelerator, ResolvedModel, Violation
from exportgate.core.types import (
    Action,
    EffectiveVerification,
    Jurisdiction,
    JurisdictionRole,
    ObjectRef,
)

EVALUATED_AT = datetime(2025, 2, 3, 4, 5, 6, 789000, tzinfo=UTC)


def make_decision(
    *,
    action: Action = Action.DENY,
    tenant: str | None = "acme",
    name: str = "train-0",
    namespace: str | None = "team-a",
    rule: str = "ear-3a090-d5",
    country: str = "CN",
) -> Decision:
    violations: tuple[Violation, ...] = ()
    if action is not Action.ALLOW:
        violations = (
            Violation(
                rule_id=rule,
                policy="ear-3a090",
                policy_version="2025.1",
                action=action,
                citation="15 CFR 742.6(a)(6)(iii)",
                message="NVIDIA H100 SXM is classified 3A090.a; tenant is headquartered in CN.",
                remedy="Ask your account team about an export licence.",
                subject="nvidia-h100-sxm",
                countries=(country,),
            ),
        )
    return Decision(
        action=action,
        object=ObjectRef(api_version="batch/v1", kind="Job", name=name, namespace=namespace),
        tenant=tenant,
        evaluated_at=EVALUATED_AT,
        verification=EffectiveVerification.VERIFIED,
        verification_ref="kyc://acme/2025-01",
        jurisdictions=(
            Jurisdiction(country=country, role=JurisdictionRole.HEADQUARTERS, declared_as="HK"),
        ),
        accelerators=(
            ResolvedAccelerator(
                resource="nvidia.com/gpu",
                count=8,
                candidates=("nvidia-h100-sxm",),
                pinned=True,
                classifications=("3A090.a",),
                source="spec.template.spec.containers[0]",
            ),
        ),
        models=(ResolvedModel("hf://meta-llama/Llama-3.1-405B", "llama-3.1-405b", "meta"),),
        violations=violations,
        policy_versions={"ear-3a090": "2025.1"},
    )
