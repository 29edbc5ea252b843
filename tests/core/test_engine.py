"""The policy engine with the default packs: every rule, every country-group edge, ownership,
resale, licences, expiry, unpinned GPUs and enforcement actions.

Tenants are real Tenant records through the real parser (tests/core/builders.py); the engine is
built from the shipped packs, so these tables are also the proof that the packs say what the
reference (shared/reference/export-controls.md) says.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from exportgate.core.engine import PolicyEngine
from exportgate.core.errors import PolicyError
from exportgate.core.policy import builtin_packs, default_pack_names, parse_policy_document
from exportgate.core.types import Action, EffectiveVerification, Tenant
from tests.core.builders import (
    GFD,
    INSTANCE_TYPE,
    KARPENTER_GPU_NAME,
    NOW,
    export_policy,
    gpu,
    hint,
    make_tenant,
    nodepool,
    pinned,
    workload,
)

H100 = "NVIDIA-H100-80GB-HBM3"  # 3A090.a
A30 = "NVIDIA-A30"  # 3A090.b
H20 = "NVIDIA-H20"  # outside 3A090 by numbers, named by is-informed letters
T4 = "Tesla-T4"  # outside 3A090

D5_MACAU = "ear-3a090-d5-macau"
D1_D4 = "ear-3a090-d1-d4"
H20_RULE = "ear-h20-is-informed"


def _decide(
    engine: PolicyEngine,
    tenant: Tenant | None,
    product: str | None = H100,
    *,
    models: Sequence[str] = (),
    at: datetime = NOW,
) -> tuple[Action, str | None]:
    accelerators = [pinned(product)] if product else []
    decision = engine.evaluate(workload(*accelerators, models=models), tenant, at)
    return decision.action, decision.rule_id


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
    assert _decide(engine, make_tenant(incorporation=country), product) == (action, rule)


def test_hong_kong_is_named_as_counted_as_china(engine: PolicyEngine) -> None:
    decision = engine.evaluate(workload(pinned(H100)), make_tenant(incorporation="HK"), NOW)
    assert decision.countries == ("CN",)
    assert "HK (counted as CN)" in decision.message
    assert decision.citation and "744.23" in decision.citation


def test_the_most_restricted_jurisdiction_decides(engine: PolicyEngine) -> None:
    """Incorporated in A:6 Singapore, headquartered in D:1 Vietnam: denied."""
    tenant = make_tenant(incorporation="SG", headquarters="VN")
    assert _decide(engine, tenant) == (Action.DENY, D1_D4)


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
    assert _decide(engine, tenant) == (action, rule)


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
    assert _decide(engine, tenant, product) == (action, rule)


def test_a_licence_must_cover_every_triggering_country(engine: PolicyEngine) -> None:
    """Licensed for the tenant's own country, but its parent is in D:5: still denied."""
    tenant = make_tenant(incorporation="VN", parent="CN", licences=[_licence()])
    assert _decide(engine, tenant) == (Action.DENY, D5_MACAU)


def test_licence_expiry_is_evaluated_at_the_given_instant(engine: PolicyEngine) -> None:
    tenant = make_tenant(incorporation="VN", licences=[_licence(expires="2026-09-01T00:00:00Z")])
    assert _decide(engine, tenant, at=datetime(2026, 8, 31, tzinfo=UTC))[0] is Action.ALLOW
    assert _decide(engine, tenant, at=datetime(2026, 9, 1, tzinfo=UTC))[0] is Action.DENY


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
    assert _decide(engine, tenant, T4) == (Action.ALLOW, None)


@pytest.mark.parametrize("product", [H100, A30, H20])
def test_no_tenant_bound_is_the_same_as_unverified(engine: PolicyEngine, product: str) -> None:
    decision = engine.evaluate(workload(pinned(product)), None, NOW)
    assert decision.verification is EffectiveVerification.UNBOUND
    assert (decision.action, decision.rule_id) == (Action.DENY, "kyc-unverified-accelerator")
    assert "exportgate.dev/tenant" in decision.message
    assert _decide(engine, None, T4) == (Action.ALLOW, None)


def test_named_tenant_without_record_says_so(engine: PolicyEngine) -> None:
    decision = engine.evaluate(workload(pinned(H100)), None, NOW, tenant_name="ghost")
    assert decision.tenant == "ghost"
    assert "no tenant record" in decision.message
    assert "'ghost'" in decision.message


def test_expiry_is_evaluated_at_the_given_instant(engine: PolicyEngine) -> None:
    tenant = make_tenant(expires_at="2026-09-01T00:00:00Z")
    assert _decide(engine, tenant, at=datetime(2026, 8, 31, 23, 59, tzinfo=UTC))[0] is Action.ALLOW
    decision = engine.evaluate(workload(pinned(H100)), tenant, datetime(2026, 9, 1, tzinfo=UTC))
    assert decision.action is Action.DENY
    assert "expired on 2026-09-01" in decision.message


def test_unverified_tenant_may_not_use_restricted_models(engine: PolicyEngine) -> None:
    tenant = make_tenant(state="Pending")
    assert _decide(engine, tenant, None, models=["claude-sonnet-4-5"]) == (
        Action.DENY,
        "kyc-unverified-model",
    )
    # A model without vendor geographic terms stays allowed.
    assert _decide(engine, tenant, None, models=["meta-llama/Llama-3.1-8B-Instruct"]) == (
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
     Action.DENY, "llama-multimodal-eu"),
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
    assert _decide(engine, make_tenant(**spec), None, models=[model]) == (action, rule)


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


# --- enforcement actions -----------------------------------------------------------------


@pytest.mark.parametrize("action", [Action.WARN, Action.DRYRUN])
def test_default_action_override_admits_with_the_violation_recorded(action: Action) -> None:
    engine = PolicyEngine.build(default_action=action)
    decision = engine.evaluate(workload(pinned(H100)), make_tenant(incorporation="CN"), NOW)
    assert decision.action is action
    assert decision.action.admits
    assert decision.rule_id == D5_MACAU
    assert decision.violations[0].action is action


def _policy(action: str, rule_action: str | None = None) -> dict[str, Any]:
    rule: dict[str, Any] = {
        "id": "no-h100-in-vn",
        "citation": "internal policy 7",
        "effective": "2024-01-01",
        "match": {"accelerators": {"products": ["nvidia-h100-sxm"]}},
        "jurisdictions": {"anyIn": ["VN"]},
        "message": "{subject} not for {tenant}",
    }
    if rule_action:
        rule["enforcementAction"] = rule_action
    return export_policy("house-rules", rule, enforcementAction=action)


@pytest.mark.parametrize(
    ("pack_action", "rule_action", "expected"),
    [
        ("warn", None, Action.WARN),
        ("dryrun", None, Action.DRYRUN),
        ("deny", None, Action.DENY),
        ("deny", "warn", Action.WARN),
        ("warn", "dryrun", Action.DRYRUN),
    ],
)
def test_user_policy_enforcement_actions(
    pack_action: str, rule_action: str | None, expected: Action
) -> None:
    policy = parse_policy_document(_policy(pack_action, rule_action), "house.yaml")
    engine = PolicyEngine.build(policies=[policy], packs=[])
    decision = engine.evaluate(workload(pinned(H100)), make_tenant(incorporation="VN"), NOW)
    assert (decision.action, decision.rule_id) == (expected, "no-h100-in-vn")


def test_most_severe_action_wins() -> None:
    policy = parse_policy_document(_policy("warn"), "house.yaml")
    engine = PolicyEngine.build(policies=[policy])  # plus the default packs (deny)
    decision = engine.evaluate(workload(pinned(H100)), make_tenant(incorporation="VN"), NOW)
    assert decision.action is Action.DENY
    assert [v.action for v in decision.violations] == sorted(
        (v.action for v in decision.violations), key=lambda a: -a.severity
    )
    assert {"no-h100-in-vn", D1_D4} <= {v.rule_id for v in decision.violations}


def test_user_policy_with_a_builtin_name_replaces_the_pack() -> None:
    doc = _policy("warn")
    doc["metadata"]["name"] = "us-ear-advanced-computing"
    engine = PolicyEngine.build(policies=[parse_policy_document(doc)])
    decision = engine.evaluate(workload(pinned(H100)), make_tenant(incorporation="CN"), NOW)
    assert decision.action is Action.ALLOW


def test_duplicate_policy_names_are_rejected() -> None:
    policy = parse_policy_document(_policy("warn"))
    with pytest.raises(PolicyError, match="defined twice"):
        PolicyEngine([policy, policy])


def test_unknown_builtin_pack_is_rejected() -> None:
    with pytest.raises(PolicyError, match="unknown built-in policy pack"):
        PolicyEngine.build(packs=["no-such-pack"])


# --- the optional AI Diffusion pack: not enforced, still codified ------------------------
# regulation-2026.md s2.4: compliance was due 2025-05-15 and BIS stopped enforcing the rule on
# 2025-05-13, so there was no day on which it was both due and enforced: the pack never warns.

DIFFUSION = "us-ear-ai-diffusion-2025"
BEFORE_COMPLIANCE = datetime(2025, 3, 1, tzinfo=UTC)  # the old (wrong) "in force" instant


def _with_diffusion() -> PolicyEngine:
    return PolicyEngine.build(packs=[*default_pack_names(), DIFFUSION])


def _studied_diffusion() -> PolicyEngine:
    """The pack without its not-enforced date, as a user would copy it to study its logic."""
    document = yaml.safe_load(
        (Path(__file__).parents[2] / "exportgate/data/policies" / f"{DIFFUSION}.yaml").read_text()
    )
    del document["spec"]["notEnforcedSince"]
    studied = parse_policy_document(document)
    return PolicyEngine([*(builtin_packs()[n] for n in default_pack_names()), studied])


def test_diffusion_pack_is_off_by_default_and_labelled_not_enforced() -> None:
    assert DIFFUSION not in PolicyEngine.build().policy_versions
    pack = builtin_packs()[DIFFUSION]
    assert pack.enabled_by_default is False
    assert "NOT ENFORCED" in pack.title
    assert pack.status.startswith("not enforced since 2025-05-13")
    assert "GAO B-337935" in pack.status


DIFFUSION_CASES = [
    # (country, at): the enabled pack allows at every instant
    ("IN", BEFORE_COMPLIANCE),
    ("IN", datetime(2025, 5, 14, tzinfo=UTC)),  # after non-enforcement, before compliance
    ("IN", datetime(2025, 5, 15, tzinfo=UTC)),  # compliance due, but not enforced
    ("IN", NOW),
    ("US", BEFORE_COMPLIANCE),
]


@pytest.mark.parametrize(("country", "at"), DIFFUSION_CASES)
def test_diffusion_pack_when_enabled_never_warns(country: str, at: datetime) -> None:
    tenant = make_tenant(incorporation=country, verified_at="2024-01-01T00:00:00Z")
    assert _decide(_with_diffusion(), tenant, at=at) == (Action.ALLOW, None)


def test_diffusion_rule_logic_still_works_when_studied() -> None:
    tenant = make_tenant(incorporation="IN", verified_at="2024-01-01T00:00:00Z")
    assert _decide(_studied_diffusion(), tenant, at=NOW) == (
        Action.WARN,
        "aid-tier2-accelerators",
    )
    assert _decide(_studied_diffusion(), tenant, at=BEFORE_COMPLIANCE) == (Action.ALLOW, None)


def test_diffusion_tier3_adds_nothing_to_the_standing_denial() -> None:
    tenant = make_tenant(incorporation="CN", verified_at="2024-01-01T00:00:00Z")
    decision = _with_diffusion().evaluate(workload(pinned(H100)), tenant, NOW)
    assert "aid-tier3-accelerators" not in {v.rule_id for v in decision.violations}
    assert decision.action is Action.DENY


# --- effective dates and decision contents -----------------------------------------------


def test_rules_are_not_applied_before_their_effective_date(engine: PolicyEngine) -> None:
    tenant = make_tenant(incorporation="CN", verified_at="2023-01-01T00:00:00Z")
    # H20 letters are dated April 2025: before that only TPP/PD counted, and H20 is outside.
    assert _decide(engine, tenant, H20, at=datetime(2025, 1, 1, tzinfo=UTC)) == (Action.ALLOW, None)
    assert _decide(engine, tenant, H20, at=datetime(2025, 5, 1, tzinfo=UTC))[0] is Action.DENY


def test_decision_records_versions_jurisdictions_and_verification(engine: PolicyEngine) -> None:
    tenant = make_tenant(parent="CN")
    decision = engine.evaluate(workload(pinned(H100)), tenant, NOW)
    data = decision.to_dict()
    assert data["object"] == "Pod/team/w"
    assert data["tenant"] == "acme"
    assert data["decision"] == "deny"
    assert data["verificationRef"] == "kyc-acme"
    assert {"country": "CN", "role": "parentHeadquarters", "via": "CN Holdings"} in data[
        "jurisdictions"
    ]
    assert {"us-ear-advanced-computing", "kyc-verification", "vendor-model-terms"} <= set(
        data["policyVersions"]
    )
    assert data["evaluatedAt"] == "2026-07-01T12:00:00Z"
    assert data["accelerators"][0]["products"] == ["nvidia-h100-sxm"]


def test_unguarded_workload_is_admitted(engine: PolicyEngine) -> None:
    decision = engine.evaluate(workload(), None, NOW)
    assert decision.action is Action.ALLOW
    assert decision.rule_id is None
    assert decision.message == "admitted: no export-control rule applies"


def test_engine_version_changes_with_policies() -> None:
    assert PolicyEngine.build().version == PolicyEngine.build().version
    assert PolicyEngine.build().version != PolicyEngine.build(default_action=Action.WARN).version


def test_diffusion_4e091_closed_weights_over_1e26() -> None:
    """No catalogued model has a published training compute over 1e26 operations, so this rule
    is exercised with a catalogue extended by one such (hypothetical) closed-weights model."""
    from exportgate.core.data import load_data
    from exportgate.core.models import ModelCatalogue
    from exportgate.core.types import ModelRequest, ObjectRef, Workload

    data = dict(load_data("models.yaml"))
    data["models"] = [
        *data["models"],
        {"id": "frontier-x", "provider": "openai", "patterns": ["frontier-x"],
         "weights": "closed", "trainingCompute": 3.0e26},
        {"id": "small-closed", "provider": "openai", "patterns": ["small-closed"],
         "weights": "closed", "trainingCompute": 5.0e24},
    ]
    engine = PolicyEngine(
        [builtin_packs()[name] for name in [*default_pack_names(), DIFFUSION]],
        models=ModelCatalogue(data),
    )
    tenant = make_tenant(incorporation="IN", verified_at="2024-01-01T00:00:00Z")

    def decide(model: str, at: datetime) -> tuple[Action, str | None]:
        request = Workload(ObjectRef("v1", "Pod", "p", "t"), models=(ModelRequest(model),))
        decision = engine.evaluate(request, tenant, at)
        return decision.action, decision.rule_id

    # Never enforced (compliance due 2025-05-15, not enforced from 2025-05-13).
    for at in (BEFORE_COMPLIANCE, datetime(2025, 5, 15, tzinfo=UTC), NOW):
        assert decide("frontier-x", at) == (Action.ALLOW, None)
    assert decide("small-closed", NOW) == (Action.ALLOW, None)


def test_unpinned_message_names_the_most_restrictive_matched_class(engine: PolicyEngine) -> None:
    """Neuron could be Inferentia2 / Trainium (indeterminate) or Trainium2 (3A090.a)."""
    request = gpu(resource="aws.amazon.com/neuron")
    decision = engine.evaluate(workload(request), make_tenant(incorporation="CN"), NOW)
    assert decision.action is Action.DENY
    assert "(3A090.a)" in decision.message
    assert "covering 3A090.a for CN" in decision.message


def test_an_unlabelled_nodepool_is_told_to_label_the_object(engine: PolicyEngine) -> None:
    """A cluster-scoped object names its tenant with its own label: the remedy says so, not
    "bind this namespace" (it has none)."""
    decision = engine.evaluate(nodepool(hint(KARPENTER_GPU_NAME, "h100")), None, NOW)
    assert decision.action is Action.DENY
    remedies = " ".join(v.remedy for v in decision.violations)
    assert "Label this NodePool with exportgate.dev/tenant" in remedies
    assert "namespace" not in remedies
