"""The policy engine with the default packs: every rule, every country-group edge, ownership,
resale, licences, expiry and unpinned GPUs (enforcement actions and packs: test_engine_policies.py).

Tenants are real Tenant records through the real parser (tests/core/builders.py); the engine is
built from the shipped packs, so these tables are also the proof that the packs say what the
reference (shared/reference/export-controls.md) says.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import pytest

from exportgate.core.engine import PolicyEngine
from exportgate.core.types import Action, EffectiveVerification
from tests.core.builders import (
    A30,
    D1_D4,
    D5_MACAU,
    GFD,
    H20,
    H20_RULE,
    H100,
    INSTANCE_TYPE,
    KARPENTER_GPU_NAME,
    NOW,
    T4,
    gpu,
    hint,
    make_tenant,
    nodepool,
    pinned,
    verdict,
    workload,
)

# --- country groups ----------------------------------------------------------------------

COUNTRY_EDGES = [
    # (country, product, action, rule, why)
    ("SG", H100, Action.ALLOW, None, "A:6, in no D group"),
    ("US", H100, Action.ALLOW, None, "in no group"),
    ("CN", H100, Action.DENY, D5_MACAU, "D:5"),
    ("HK", H100, Action.DENY, D5_MACAU, "HK counts as CN"),
    ("MO", H100, Action.DENY, D5_MACAU, "Macau, named beside D:5"),
    ("IL", H100, Action.ALLOW, None, "D:4 but also A:6"),
    # regulation-2026.md s3: the UAE is in D:4, not A:5/A:6, so 3A090 needs a licence there.
    ("AE", H100, Action.DENY, D1_D4, "D:4, not A:5/A:6"),
    ("DE", H100, Action.ALLOW, None, "A:5"),
    ("VN", H100, Action.DENY, D1_D4, "D:1 only"),
    ("KH", H100, Action.DENY, D1_D4, "D:1; left D:5 on 2025-11-07"),
    ("SA", H100, Action.DENY, D1_D4, "D:4 only"),
    ("CU", H100, Action.DENY, D5_MACAU, "D:5 only (not D:1/D:4)"),
    ("CN", A30, Action.DENY, D5_MACAU, "3A090.b is controlled too"),
    ("VN", A30, Action.DENY, D1_D4, "3A090.b in D:1"),
    ("CN", T4, Action.ALLOW, None, "uncontrolled product"),
    ("CN", H20, Action.DENY, H20_RULE, "named product in D:5"),
    ("MO", H20, Action.DENY, H20_RULE, "named product in Macau"),
    ("VN", H20, Action.ALLOW, None, "letters name D:5 and Macau only"),
]


@pytest.mark.parametrize(
    ("country", "product", "action", "rule"),
    [row[:4] for row in COUNTRY_EDGES],
    ids=[f"{row[0]}-{row[1]}-{row[4]}" for row in COUNTRY_EDGES],
)
def test_country_group_edges(
    engine: PolicyEngine, country: str, product: str, action: Action, rule: str | None
) -> None:
    assert verdict(engine, make_tenant(incorporation=country), product) == (action, rule)


def test_hong_kong_is_named_as_counted_as_china(engine: PolicyEngine) -> None:
    decision = engine.evaluate(workload(pinned(H100)), make_tenant(incorporation="HK"), NOW)
    assert decision.countries == ("CN",)
    assert "HK (counted as CN)" in decision.message
    assert decision.citation and "744.23" in decision.citation


def test_the_most_restricted_jurisdiction_decides(engine: PolicyEngine) -> None:
    """Incorporated in A:6 Singapore, headquartered in D:1 Vietnam: denied."""
    tenant = make_tenant(incorporation="SG", headquarters="VN")
    assert verdict(engine, tenant) == (Action.DENY, D1_D4)


# --- ownership and resale ----------------------------------------------------------------

PARTIES: list[tuple[str, dict[str, Any], Action, str | None]] = [
    ("parent-hq-in-d5", {"parent": "CN"}, Action.DENY, D5_MACAU),
    ("parent-hq-in-hk", {"parent": "HK"}, Action.DENY, D5_MACAU),
    ("parent-hq-in-macau", {"parent": "MO"}, Action.DENY, D5_MACAU),
    ("parent-hq-in-a5", {"parent": "JP"}, Action.ALLOW, None),
    (
        "reseller-end-customer-in-d5",
        {"end_customers": [{"name": "Example Lab", "country": "CN", "headquarters": "CN"}]},
        Action.DENY,
        D5_MACAU,
    ),
    (
        "reseller-end-customer-owned-from-d5",
        {"end_customers": [{"name": "Sub Lab", "country": "MY", "headquarters": "CN"}]},
        Action.DENY,
        D5_MACAU,
    ),
    (
        "reseller-end-customer-in-d1",
        {"end_customers": [{"name": "Hanoi AI", "country": "VN"}]},
        Action.DENY,
        D1_D4,
    ),
    (
        "reseller-end-customers-all-permitted",
        {"end_customers": [{"name": "A", "country": "JP"}, {"name": "B", "country": "IL"}]},
        Action.ALLOW,
        None,
    ),
]


@pytest.mark.parametrize(
    ("spec", "action", "rule"), [p[1:] for p in PARTIES], ids=[p[0] for p in PARTIES]
)
def test_parent_headquarters_and_reseller_end_customers(
    engine: PolicyEngine, spec: dict[str, Any], action: Action, rule: str | None
) -> None:
    tenant = make_tenant(incorporation="SG", **spec)
    assert verdict(engine, tenant) == (action, rule)


def test_message_names_the_party_that_triggered(engine: PolicyEngine) -> None:
    tenant = make_tenant(parent="CN")
    decision = engine.evaluate(workload(pinned(H100)), tenant, NOW)
    assert "its ultimate parent CN Holdings, headquartered in CN, is in D:5" in decision.message
    customer = make_tenant(end_customers=[{"name": "Example Lab", "country": "CN"}])
    decision = engine.evaluate(workload(pinned(H100)), customer, NOW)
    assert "end customer Example Lab in CN" in decision.message


# --- licences ----------------------------------------------------------------------------


def _licence(
    covers: Sequence[str] = ("3A090.a",),
    countries: Sequence[str] = ("VN",),
    expires: str | None = "2027-01-01T00:00:00Z",
    **extra: str,
) -> dict[str, Any]:
    licence: dict[str, Any] = {
        "id": "D123456",
        "covers": list(covers),
        "countries": list(countries),
    }
    if expires:
        licence["expiresAt"] = expires
    return licence | extra


LICENCES: list[tuple[str, str, str, list[Mapping[str, Any]], Action, str | None]] = [
    # (case, country, product, licences, action, rule)
    ("covering", "VN", H100, [_licence()], Action.ALLOW, None),
    ("no-expiry", "VN", H100, [_licence(expires=None)], Action.ALLOW, None),
    ("expired", "VN", H100, [_licence(expires="2026-01-01T00:00:00Z")], Action.DENY, D1_D4),
    ("wrong-country", "VN", H100, [_licence(countries=["KZ"])], Action.DENY, D1_D4),
    ("wrong-class", "VN", H100, [_licence(covers=["3A090.b"])], Action.DENY, D1_D4),
    ("class-b-covers-a30", "VN", A30, [_licence(covers=["3A090.b"])], Action.ALLOW, None),
    ("by-product-id", "CN", H20, [_licence(covers=["nvidia-h20"], countries=["CN"])],
     Action.ALLOW, None),
    ("hk-licence-covers-cn", "HK", H100, [_licence(countries=["HK"])], Action.ALLOW, None),
    ("not-yet-issued", "VN", H100, [_licence(issuedAt="2026-12-01T00:00:00Z")],
     Action.DENY, D1_D4),
]


@pytest.mark.parametrize(
    ("country", "product", "licences", "action", "rule"),
    [row[1:] for row in LICENCES],
    ids=[row[0] for row in LICENCES],
)
def test_licences(
    engine: PolicyEngine,
    country: str,
    product: str,
    licences: list[Mapping[str, Any]],
    action: Action,
    rule: str | None,
) -> None:
    tenant = make_tenant(incorporation=country, licences=licences)
    assert verdict(engine, tenant, product) == (action, rule)


def test_a_licence_must_cover_every_triggering_country(engine: PolicyEngine) -> None:
    """Licensed for the tenant's own country, but its parent is in D:5: still denied."""
    tenant = make_tenant(incorporation="VN", parent="CN", licences=[_licence()])
    assert verdict(engine, tenant) == (Action.DENY, D5_MACAU)


def test_licence_expiry_is_evaluated_at_the_given_instant(engine: PolicyEngine) -> None:
    tenant = make_tenant(incorporation="VN", licences=[_licence(expires="2026-09-01T00:00:00Z")])
    assert verdict(engine, tenant, at=datetime(2026, 8, 31, tzinfo=UTC))[0] is Action.ALLOW
    assert verdict(engine, tenant, at=datetime(2026, 9, 1, tzinfo=UTC))[0] is Action.DENY


# --- verification (KYC) ------------------------------------------------------------------

KYC: list[tuple[str, dict[str, Any], EffectiveVerification]] = [
    ("pending", {"state": "Pending"}, EffectiveVerification.PENDING),
    ("rejected", {"state": "Rejected"}, EffectiveVerification.REJECTED),
    ("revoked", {"state": "Revoked"}, EffectiveVerification.REVOKED),
    ("expired", {"expires_at": "2026-06-01T00:00:00Z"}, EffectiveVerification.EXPIRED),
    ("not-yet-valid", {"verified_at": "2026-08-01T00:00:00Z"}, EffectiveVerification.NOT_YET_VALID),
]


@pytest.mark.parametrize(("spec", "state"), [k[1:] for k in KYC], ids=[k[0] for k in KYC])
def test_unverified_tenants_may_not_use_controlled_accelerators(
    engine: PolicyEngine, spec: dict[str, Any], state: EffectiveVerification
) -> None:
    tenant = make_tenant(incorporation="SG", **spec)
    decision = engine.evaluate(workload(pinned(H100)), tenant, NOW)
    assert decision.verification is state
    assert (decision.action, decision.rule_id) == (Action.DENY, "kyc-unverified-accelerator")
    # Uncontrolled ones stay allowed.
    assert verdict(engine, tenant, T4) == (Action.ALLOW, None)


@pytest.mark.parametrize("product", [H100, A30, H20])
def test_no_tenant_bound_is_the_same_as_unverified(engine: PolicyEngine, product: str) -> None:
    decision = engine.evaluate(workload(pinned(product)), None, NOW)
    assert decision.verification is EffectiveVerification.UNBOUND
    assert (decision.action, decision.rule_id) == (Action.DENY, "kyc-unverified-accelerator")
    assert "exportgate.dev/tenant" in decision.message
    assert verdict(engine, None, T4) == (Action.ALLOW, None)


def test_named_tenant_without_record_says_so(engine: PolicyEngine) -> None:
    decision = engine.evaluate(workload(pinned(H100)), None, NOW, tenant_name="ghost")
    assert decision.tenant == "ghost"
    assert "no tenant record" in decision.message
    assert "'ghost'" in decision.message


def test_expiry_is_evaluated_at_the_given_instant(engine: PolicyEngine) -> None:
    tenant = make_tenant(expires_at="2026-09-01T00:00:00Z")
    assert verdict(engine, tenant, at=datetime(2026, 8, 31, 23, 59, tzinfo=UTC))[0] is Action.ALLOW
    decision = engine.evaluate(workload(pinned(H100)), tenant, datetime(2026, 9, 1, tzinfo=UTC))
    assert decision.action is Action.DENY
    assert "expired on 2026-09-01" in decision.message


def test_unverified_tenant_may_not_use_restricted_models(engine: PolicyEngine) -> None:
    tenant = make_tenant(state="Pending")
    assert verdict(engine, tenant, None, models=["claude-sonnet-4-5"]) == (
        Action.DENY,
        "kyc-unverified-model",
    )
    # A model without vendor geographic terms stays allowed.
    assert verdict(engine, tenant, None, models=["meta-llama/Llama-3.1-8B-Instruct"]) == (
        Action.ALLOW,
        None,
    )


# --- vendor model terms ------------------------------------------------------------------

MODELS: list[tuple[str, dict[str, Any], str, Action, str | None]] = [
    ("anthropic-cn", {"incorporation": "CN"}, "claude-sonnet-4-5", Action.DENY,
     "anthropic-unsupported-regions"),
    # Anthropic's ownership rule is a separate, dated rule from 2025-09-05 (regulation-2026.md s7).
    ("anthropic-owned-from-ru", {"parent": "RU"}, "anthropic/claude-opus-4", Action.DENY,
     "anthropic-ownership"),
    ("anthropic-sg", {}, "claude-sonnet-4-5", Action.ALLOW, None),
    ("openai-ir", {"incorporation": "IR"}, "gpt-4o", Action.DENY, "openai-unsupported-countries"),
    ("openai-kp-end-customer", {"end_customers": [{"name": "X", "country": "KP"}]}, "o3-mini",
     Action.DENY, "openai-unsupported-countries"),
    # OpenAI's list is about where the customer is, not who owns it.
    ("openai-parent-only", {"parent": "CN"}, "gpt-4o", Action.ALLOW, None),
    ("llama-3.2-vision-eu-hq", {"incorporation": "DE"},
     "meta-llama/Llama-3.2-11B-Vision-Instruct", Action.DENY, "llama-multimodal-eu"),
    ("llama-4-eu-hq", {"incorporation": "FR"}, "hf://meta-llama/Llama-4-Scout-17B-16E",
     Action.DENY, "llama-4-multimodal-eu"),
    ("llama-4-eu-incorporated-us-hq", {"incorporation": "IE", "headquarters": "US"},
     "meta-llama/Llama-4-Scout-17B-16E", Action.ALLOW, None),
    ("llama-text-eu", {"incorporation": "DE"}, "meta-llama/Llama-3.1-8B-Instruct",
     Action.ALLOW, None),
]


@pytest.mark.parametrize(
    ("spec", "model", "action", "rule"), [m[1:] for m in MODELS], ids=[m[0] for m in MODELS]
)
def test_vendor_model_terms(
    engine: PolicyEngine, spec: dict[str, Any], model: str, action: Action, rule: str | None
) -> None:
    assert verdict(engine, make_tenant(**spec), None, models=[model]) == (action, rule)


# --- unpinned and unknown accelerators ---------------------------------------------------


def test_unpinned_gpu_is_decided_as_the_most_restricted_product(engine: PolicyEngine) -> None:
    decision = engine.evaluate(workload(gpu()), make_tenant(incorporation="CN"), NOW)
    assert (decision.action, decision.rule_id) == (Action.DENY, D5_MACAU)
    assert decision.accelerators[0].pinned is False
    assert decision.accelerators[0].classifications[0] == "3A090.a"
    assert "unpinned nvidia.com/gpu" in decision.message


def test_unpinned_message_names_how_to_pin_an_allowed_product(engine: PolicyEngine) -> None:
    decision = engine.evaluate(workload(gpu()), make_tenant(incorporation="CN"), NOW)
    assert f"nodeSelector {GFD}=" in decision.message
    assert "Tesla-T4" in decision.message or "NVIDIA-A10" in decision.message
    # H20 is blocked by name for CN, so it must not be offered as the way out.
    assert "H20" not in decision.message.split("nodeSelector", 1)[1]


def test_unpinned_for_a_permitted_tenant_is_admitted(engine: PolicyEngine) -> None:
    assert engine.evaluate(workload(gpu()), make_tenant(), NOW).action is Action.ALLOW


def test_any_of_list_with_one_controlled_product_is_denied(engine: PolicyEngine) -> None:
    request = gpu(hint(GFD, T4, H100))
    decision = engine.evaluate(workload(request), make_tenant(incorporation="CN"), NOW)
    assert decision.action is Action.DENY
    assert "NVIDIA H100 SXM" in decision.message


def test_unknown_vendor_resource_is_decided_as_controlled(engine: PolicyEngine) -> None:
    decision = engine.evaluate(
        workload(gpu(resource="example.com/npu")), make_tenant(incorporation="CN"), NOW
    )
    assert decision.action is Action.DENY
    assert decision.accelerators[0].pinned is False
    assert "unknown-accelerator" in decision.accelerators[0].candidates
    # The way out pins a product with its own vendor's label (never an AMD label with an
    # NVIDIA value).
    assert "nvidia.com/gpu.product=" in decision.message
    assert "amd.com/gpu.product-name=Tesla" not in decision.message


def test_indeterminate_product_is_controlled(engine: PolicyEngine) -> None:
    request = gpu(hint(INSTANCE_TYPE, "trn1.32xlarge"), resource="aws.amazon.com/neuron")
    decision = engine.evaluate(workload(request), make_tenant(incorporation="CN"), NOW)
    assert "3A090-indeterminate" in decision.accelerators[0].classifications
    assert decision.action is Action.DENY


def test_node_pool_is_a_4a090_system(engine: PolicyEngine) -> None:
    decision = engine.evaluate(
        nodepool(hint(KARPENTER_GPU_NAME, "h100")), make_tenant(parent="CN"), NOW
    )
    assert decision.action is Action.DENY
    assert "4A090.a" in decision.accelerators[0].classifications
