"""Regulation as of 2026-11-30, dated: every decision at instant T uses the facts of T.

Tables follow /work/shared/reference/regulation-2026.md (the "sheet"); each row says which
section it encodes. Tenants go through the real parser; the engine is built from the shipped
packs (plus, where named, the optional ones).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime
from typing import Any

import pytest

from exportgate.core.countries import builtin_country_groups
from exportgate.core.engine import PolicyEngine
from exportgate.core.errors import InputError
from exportgate.core.policy import builtin_packs, default_pack_names, parse_policy_document
from exportgate.core.types import Action, Tenant
from tests.core.builders import (
    D1_D4,
    D5_MACAU,
    GKE_ACCELERATOR,
    H20,
    H100,
    INSTANCE_TYPE,
    export_policy,
    gpu,
    hint,
    make_tenant,
    pinned,
    workload,
)

H200 = "NVIDIA-H200"
B200 = "NVIDIA-B200"


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def decide(
    engine: PolicyEngine,
    tenant: Tenant | None,
    when: str,
    product: str | None = H100,
    *,
    models: Sequence[str] = (),
    accelerator: Any = None,
) -> tuple[Action, str | None, tuple[str, ...], str]:
    accelerators = [accelerator] if accelerator else ([pinned(product)] if product else [])
    decision = engine.evaluate(workload(*accelerators, models=models), tenant, at(when))
    rules = tuple(v.rule_id for v in decision.violations)
    return decision.action, decision.rule_id, rules, decision.message


# --- s3: country groups change, with dates ----------------------------------------------

MEMBERSHIP_ON = [
    # (country, group, day, member?)
    ("KH", "D:5", "2025-11-06", True),  # DDTC removed Cambodia from 126.1 effective 2025-11-07
    ("KH", "D:5", "2025-11-07", False),
    ("KH", "D:1", "2025-11-07", True),  # stays in D:1
    ("AE", "D:4", "2026-11-30", True),  # UAE in D:4 ...
    ("AE", "A:5", "2026-11-30", False),  # ... and not in A:5 / A:6
    ("AE", "A:6", "2026-11-30", False),
    ("SY", "D:5", "2025-09-03", True),  # relaxed 2025-09-02, still D:5 and E:1
    ("SY", "E:1", "2025-09-03", True),
    ("GB", "EU", "2020-01-31", True),
    ("GB", "EU", "2020-02-01", False),
]


@pytest.mark.parametrize(("country", "group", "day", "member"), MEMBERSHIP_ON)
def test_membership_on_a_day(country: str, group: str, day: str, member: bool) -> None:
    groups = builtin_country_groups()
    assert (country in groups.groups[group].members_on(date.fromisoformat(day))) is member


def test_hong_kong_counts_as_china_from_december_2020() -> None:
    groups = builtin_country_groups()
    assert groups.normalise("HK", date(2020, 12, 22)) == "HK"
    assert groups.normalise("HK", date(2020, 12, 23)) == "CN"
    assert groups.normalise("HK") == "CN"


HISTORICAL = [
    # (country, product, instant, action, rule): `--at` answers with the facts of the instant
    ("KH", H100, "2025-11-06", Action.DENY, D5_MACAU),  # Cambodia still in D:5
    ("KH", H100, "2025-11-07", Action.DENY, D1_D4),  # out of D:5, still D:1
    ("KH", H20, "2025-11-06", Action.DENY, "ear-h20-is-informed"),  # D:5-keyed letter applied
    ("KH", H20, "2025-11-07", Action.ALLOW, None),  # ... and stops with D:5 membership
    ("AE", H100, "2024-06-01", Action.DENY, D1_D4),  # D:4, not A:5 (37 members without AE)
    ("HK", H100, "2026-11-30", Action.DENY, D5_MACAU),  # HK as CN, as today
    ("CN", H20, "2025-04-08", Action.ALLOW, None),  # before the is-informed letter
    ("CN", H20, "2025-04-09", Action.DENY, "ear-h20-is-informed"),
    ("CN", H20, "2026-11-30", Action.DENY, "ear-h20-is-informed"),  # never lifted
    ("MO", H20, "2026-11-30", Action.DENY, "ear-h20-is-informed"),
    ("VN", H20, "2026-11-30", Action.ALLOW, None),  # the letter names China/D:5 only
]


@pytest.mark.parametrize(("country", "product", "when", "action", "rule"), HISTORICAL)
def test_decisions_use_the_facts_of_the_instant(
    engine: PolicyEngine, country: str, product: str, when: str, action: Action, rule: str | None
) -> None:
    tenant = make_tenant(incorporation=country, verified_at="2024-01-01T00:00:00Z")
    assert decide(engine, tenant, when, product)[:2] == (action, rule)


def test_mi308_letter_applies_from_april_2025(engine: PolicyEngine) -> None:
    tenant = make_tenant(incorporation="CN", verified_at="2024-01-01T00:00:00Z")
    request = gpu(
        hint("amd.com/gpu.product-name", "AMD_Instinct_MI308X_OAM"), resource="amd.com/gpu"
    )
    before = decide(engine, tenant, "2025-04-14", accelerator=request)
    after = decide(engine, tenant, "2025-04-15", accelerator=request)
    # Its figures are unpublished, so it is indeterminate (controlled) either way ...
    assert before[0] is Action.DENY and "ear-mi308-is-informed" not in before[2]
    # ... and from the letter it is also named explicitly.
    assert "ear-mi308-is-informed" in after[2]


def test_the_mi308_lane_starts_with_the_mi308_letter(engine: PolicyEngine) -> None:
    """s2.2 dates the H20 letter 2025-04-09 (H) and AMD's MI308 letter "2025-04 (assessed
    04-15)" (M). The lane naming the letter follows each product's own date: between the two,
    the MI308X is denied as an indeterminate part under the presumption of denial, not by a
    letter exportgate's own rule does not yet apply."""
    tenant = make_tenant(incorporation="CN", verified_at="2024-01-01T00:00:00Z")
    request = gpu(
        hint("amd.com/gpu.product-name", "AMD_Instinct_MI308X_OAM"), resource="amd.com/gpu"
    )
    between = decide(engine, tenant, "2025-04-10", accelerator=request)
    assert between[0] is Action.DENY and "ear-mi308-is-informed" not in between[2]
    assert (
        "presumption of denial" in between[3] and "review policy is not published" not in between[3]
    )
    after = decide(engine, tenant, "2025-04-15", accelerator=request)
    assert "review policy is not published" in after[3]
    # The H20's lane starts on its own letter's date.
    assert "review policy is not published" in decide(engine, tenant, "2025-04-09", H20)[3]


def test_the_h800_pcie_is_its_own_part(engine: PolicyEngine) -> None:
    """export-controls.md s3: H800 SXM / PCIe have TPP 15,832 / 12,104. One merged entry gave
    the PCIe part the SXM figure; the 91 FR 1684 lane message (from 2026-01-15) states it."""
    tenant = make_tenant(incorporation="CN", verified_at="2024-01-01T00:00:00Z")
    before = decide(engine, tenant, "2026-01-14", "NVIDIA-H800-PCIe")
    assert before[0] is Action.DENY and "presumption of denial" in before[3]
    after = decide(engine, tenant, "2026-01-15", "NVIDIA-H800-PCIe")
    assert "because TPP 12104 < 21,000" in after[3] and "NVIDIA H800 PCIe" in after[3]
    assert "because TPP 15832 < 21,000" in decide(engine, tenant, "2026-01-15", "NVIDIA-H800")[3]


def test_an_azure_gb200_node_is_named_as_blackwell(engine: PolicyEngine) -> None:
    """s4: Standard_ND*_GB200_v6 is a Blackwell family. Pinned to it, a CN tenant learns from
    2025-12-08 that Blackwell has no licence route; before, the presumption of denial. (It
    was an unidentified node: "any accelerator", with every lane listed.)"""
    tenant = make_tenant(incorporation="CN", verified_at="2024-01-01T00:00:00Z")
    request = gpu(hint(INSTANCE_TYPE, "Standard_ND128isr_NDR_GB200_v6"))
    before = decide(engine, tenant, "2025-12-07", accelerator=request)
    assert before[0] is Action.DENY and "presumption of denial" in before[3]
    after = decide(engine, tenant, "2025-12-08", accelerator=request)
    assert "NVIDIA GB200" in after[3] and "none is available in practice" in after[3]
    assert "could be any accelerator" not in after[3]


# --- s2.2 and design 5: the licence lane is explained ----------------------------------

LANES = [
    # (country, product, instant, text the message must contain)
    ("CN", H200, "2026-01-14", "presumption of denial"),
    ("CN", H200, "2026-01-15", "case by case since 2026-01-15 under 91 FR 1684"),
    ("CN", H200, "2026-01-15", "still a licence requirement"),
    ("MO", H200, "2026-06-01", "case by case"),
    ("RU", H200, "2026-06-01", "presumption of denial"),  # the lane is for China/Macau only
    ("CN", B200, "2026-06-01", "none is available in practice"),  # Blackwell excluded
    ("CN", H20, "2026-06-01", "review policy is not published"),
    ("CN", "NVIDIA-A30", "2026-06-01", "License Exception NAC"),
    ("AE", H100, "2026-06-01", "BIS licence for 3A090.a to AE"),
]


@pytest.mark.parametrize(("country", "product", "when", "text"), LANES)
def test_messages_explain_the_licence_lane(
    engine: PolicyEngine, country: str, product: str, when: str, text: str
) -> None:
    tenant = make_tenant(incorporation=country, verified_at="2024-01-01T00:00:00Z")
    action, _, _, message = decide(engine, tenant, when, product)
    assert action is Action.DENY
    assert text in message
    # Honest basis: a licence requirement for exports; cloud use is provider policy.
    assert "not itself an export" in message


def test_the_case_by_case_lane_is_for_end_users_located_in_china(engine: PolicyEngine) -> None:
    """A Singapore subsidiary of a Chinese parent falls under the headquarters rule, whose
    review stays a presumption of denial; the 91 FR 1684 lane is for end users in CN/MO."""
    tenant = make_tenant(incorporation="SG", parent="CN")
    message = decide(engine, tenant, "2026-06-01", H200)[3]
    assert "presumption of denial" in message and "case by case" not in message
    located = make_tenant(incorporation="SG", end_customers=[{"name": "X", "country": "CN"}])
    assert "case by case" in decide(engine, located, "2026-06-01", H200)[3]


# --- s4: the catalogue: old parts stop over-blocking; TPU and Ascend recognised ----------

OLD_PARTS = [
    # (GKE accelerator value, product id): uncontrolled by the numbers, so allowed for CN
    ("nvidia-tesla-k80", "nvidia-k80"),
    ("nvidia-tesla-p4", "nvidia-p4"),
    ("nvidia-tesla-p100", "nvidia-p100"),
    ("nvidia-tesla-v100", "nvidia-v100"),
]


@pytest.mark.parametrize(("label", "product"), OLD_PARTS)
def test_old_parts_are_uncontrolled_and_no_longer_over_block(
    engine: PolicyEngine, label: str, product: str
) -> None:
    tenant = make_tenant(incorporation="CN")
    decision = engine.evaluate(
        workload(gpu(hint(GKE_ACCELERATOR, label))), tenant, at("2026-11-30")
    )
    assert decision.accelerators[0].candidates == (product,)
    assert decision.action is Action.ALLOW


CLASSES = [
    ("tpu-v5p", "3A090.a"),  # 459 TFLOPS bf16 -> TPP 7,344 (a derivation, sheet s4)
    ("tpu-v6e", "3A090.a"),
    ("tpu-v5e", "3A090-indeterminate"),  # TPP 3,152, die area unpublished
    ("ascend-910b", "3A090.a"),
    ("ascend-910c", "3A090.a"),
    ("ascend-910d", "3A090-indeterminate"),  # no reliable figures
    ("amd-mi308x", "3A090-indeterminate"),  # figures not established (sheet s2.2: verify)
    ("amd-mi350x", "3A090.a"),
    ("amd-mi355x", "3A090.a"),
    ("nvidia-b300", "3A090.a"),
    ("nvidia-gb200", "3A090.a"),
    ("nvidia-gb300", "3A090.a"),
    ("nvidia-gh200", "3A090.a"),
    ("nvidia-l40", "3A090.b"),
    ("nvidia-k80", "outside-3A090"),
    ("nvidia-p4", "outside-3A090"),
    ("nvidia-p100", "outside-3A090"),
    ("nvidia-v100", "outside-3A090"),
]


@pytest.mark.parametrize(("product", "eccn"), CLASSES)
def test_new_products_have_a_computed_classification(
    engine: PolicyEngine, product: str, eccn: str
) -> None:
    entry = engine.catalogue.products[product]
    assert entry.eccn == eccn
    assert entry.citation


def test_the_h200_lane_thresholds_come_from_the_bandwidth_fields(engine: PolicyEngine) -> None:
    products = engine.catalogue.products
    # DRAM bandwidth < 6,500 GB/s and TPP < 21,000 (91 FR 1684)
    assert products["nvidia-h200-sxm"].memory_bandwidth_gbs == 4800
    assert products["amd-mi300x"].classification.tpp < 21000
    assert products["nvidia-b200"].memory_bandwidth_gbs == 8000
    assert all(p.interconnect_gbs is None or p.interconnect_gbs > 0 for p in products.values())


GP10 = [
    # (tenant country or None for an unbound namespace): GP10 applies anywhere
    ("US",),
    ("SG",),
    (None,),
]


@pytest.mark.parametrize(("country",), GP10)
def test_ascend_is_flagged_for_everyone(engine: PolicyEngine, country: str | None) -> None:
    tenant = make_tenant(incorporation=country) if country else None
    action, rule, _, message = decide(
        engine, tenant, "2026-11-30", accelerator=gpu(resource="huawei.com/Ascend910")
    )
    assert (action, rule) == (Action.DENY, "gp10-huawei-ascend")
    assert "General Prohibition 10" in message and "No licence lane" in message


def test_ascend_before_the_guidance_and_warn_by_pack_setting() -> None:
    us = make_tenant(incorporation="US", verified_at="2024-01-01T00:00:00Z")
    ascend = gpu(resource="huawei.com/Ascend910")
    assert decide(PolicyEngine.build(), us, "2025-05-12", accelerator=ascend)[:2] == (
        Action.ALLOW,
        None,
    )
    pack = builtin_packs()["bis-gp10-prc-advanced-ics"]
    rule = {
        "id": "gp10-huawei-ascend",
        "citation": pack.rules[0].citation,
        "effective": "2025-05-13",
        "match": {"accelerators": {"products": ["ascend-910b", "ascend-910c"]}},
        "unconditional": True,
        "message": "{subject}: GP10 risk",
    }
    document = export_policy(pack.name, rule, version="house-1", enforcementAction="warn")
    warned = PolicyEngine.build(policies=[parse_policy_document(document)])
    assert decide(warned, us, "2026-11-30", accelerator=ascend)[:2] == (
        Action.WARN,
        "gp10-huawei-ascend",
    )


def test_bandwidth_equivalents_catch_only_uncontrolled_parts() -> None:
    """The H20 letter reaches circuits achieving its bandwidth; shown with a lower threshold."""
    rule = {
        "id": "bandwidth-equivalents",
        "citation": "house test",
        "effective": "2025-01-01",
        "match": {"accelerators": {"bandwidthAtLeast": {"memoryGBs": 900}}},
        "jurisdictions": {"anyIn": ["CN"]},
        "message": "{subject} reaches the bandwidth",
    }
    document = export_policy("house-bandwidth", rule)
    engine = PolicyEngine.build(packs=[], policies=[parse_policy_document(document)])
    cn = make_tenant(incorporation="CN")
    assert decide(engine, cn, "2026-01-01", "Tesla-V100-SXM2-32GB")[1] == "bandwidth-equivalents"
    assert decide(engine, cn, "2026-01-01", "Tesla-T4")[0] is Action.ALLOW  # 320 GB/s
    assert decide(engine, cn, "2026-01-01", H100)[0] is Action.ALLOW  # controlled: not repeated


# --- s7: vendor terms are allow-lists, dated, in separate rules -------------------------

CLAUDE, GEMINI, TODAY = "claude-sonnet-4-5", "gemini-2.5-pro", "2026-11-30"
ANTHROPIC_REGIONS, ANTHROPIC_OWNED = "anthropic-unsupported-regions", "anthropic-ownership"
OPENAI_COUNTRIES, GEMINI_REGIONS = "openai-unsupported-countries", "google-gemini-available-regions"
LLAMA_EU, LLAMA4_EU = "llama-multimodal-eu", "llama-4-multimodal-eu"
DENY, ALLOW = Action.DENY, Action.ALLOW
LLAMA32V, LLAMA4 = "meta-llama/Llama-3.2-11B-Vision-Instruct", "meta-llama/Llama-4-Scout-17B-16E"


def _in(country: str) -> dict[str, Any]:
    return {"incorporation": country}


def _owned(*owners: tuple[str, int, str]) -> dict[str, Any]:
    """Tenant fields for owners given as (name, share, headquarters)."""
    return {"owners": [{"name": n, "share": s, "headquarters": hq} for n, s, hq in owners]}


VENDORS: list[tuple[str, dict[str, Any], str, str, Action, str | None]] = [
    # (case, tenant, model, instant, action, rule)
    # not listed = unsupported (was allowed by the deny-list)
    ("anthropic-by", _in("BY"), CLAUDE, TODAY, DENY, ANTHROPIC_REGIONS),
    ("anthropic-mo", _in("MO"), CLAUDE, TODAY, DENY, ANTHROPIC_REGIONS),
    ("anthropic-cn-2024", _in("CN"), CLAUDE, "2024-01-01", DENY, ANTHROPIC_REGIONS),  # always
    # the ownership rule starts 2025-09-05
    ("anthropic-parent-cn-before", {"parent": "CN"}, CLAUDE, "2025-09-04", ALLOW, None),
    ("anthropic-parent-cn-after", {"parent": "CN"}, CLAUDE, "2025-09-05", DENY, ANTHROPIC_OWNED),
    ("anthropic-majority-owner", _owned(("P", 60, "CN")), CLAUDE, TODAY, DENY, ANTHROPIC_OWNED),
    (
        "anthropic-aggregate-55",
        _owned(("P", 30, "CN"), ("Q", 25, "RU")),
        CLAUDE,
        TODAY,
        DENY,
        ANTHROPIC_OWNED,
    ),
    # more than 50% is needed
    (
        "anthropic-aggregate-50",
        _owned(("P", 30, "CN"), ("Q", 20, "RU")),
        CLAUDE,
        TODAY,
        ALLOW,
        None,
    ),
    # HK as CN
    ("anthropic-hk-owner", _owned(("P", 51, "HK")), CLAUDE, TODAY, DENY, ANTHROPIC_OWNED),
    ("openai-by-before", _in("BY"), "gpt-4o", "2024-07-08", ALLOW, None),
    ("openai-by", _in("BY"), "gpt-4o", "2024-07-09", DENY, OPENAI_COUNTRIES),
    ("openai-cu", _in("CU"), "gpt-4o", TODAY, DENY, OPENAI_COUNTRIES),
    ("openai-sg", {}, "gpt-4o", TODAY, ALLOW, None),
    ("gemini-cn-before", _in("CN"), GEMINI, "2025-05-19", ALLOW, None),
    ("gemini-cn", _in("CN"), GEMINI, "2025-05-20", DENY, GEMINI_REGIONS),
    (
        "gemini-ru-end-customer",
        {"end_customers": [{"name": "X", "country": "RU"}]},
        "models/gemini-2.0-flash",
        TODAY,
        DENY,
        GEMINI_REGIONS,
    ),
    ("gemini-sg", {}, GEMINI, TODAY, ALLOW, None),
    ("llama-guard-4-eu", _in("DE"), "meta-llama/Llama-Guard-4-12B", TODAY, DENY, LLAMA4_EU),
    # The clause came with two licences on two dates: Llama 3.2 (2024-09-25) and Llama 4
    # (2025-04-05). A Llama 4 model was not under it before its own licence.
    ("llama-3.2-vision-eu-before", _in("DE"), LLAMA32V, "2024-09-24", ALLOW, None),
    ("llama-3.2-vision-eu", _in("DE"), LLAMA32V, "2024-09-25", DENY, LLAMA_EU),
    ("llama-4-eu-on-llama-3.2-date", _in("DE"), LLAMA4, "2024-09-25", ALLOW, None),
    ("llama-4-eu-before", _in("DE"), LLAMA4, "2025-04-04", ALLOW, None),
    ("llama-4-eu", _in("DE"), LLAMA4, "2025-04-05", DENY, LLAMA4_EU),
    (
        "llama-guard-4-eu-before",
        _in("DE"),
        "meta-llama/Llama-Guard-4-12B",
        "2025-04-04",
        ALLOW,
        None,
    ),
    (
        "llama-guard-3-vision-eu-2024",
        _in("FR"),
        "meta-llama/Llama-Guard-3-11B-Vision",
        "2024-10-01",
        DENY,
        LLAMA_EU,
    ),
    (
        "llama-guard-3-vision-eu",
        _in("FR"),
        "meta-llama/Llama-Guard-3-11B-Vision",
        TODAY,
        DENY,
        LLAMA_EU,
    ),
    ("llama-guard-4-us", _in("US"), "meta-llama/Llama-Guard-4-12B", TODAY, ALLOW, None),
]


@pytest.mark.parametrize(
    ("spec", "model", "when", "action", "rule"),
    [v[1:] for v in VENDORS],
    ids=[v[0] for v in VENDORS],
)
def test_vendor_terms_are_dated_allow_lists(
    engine: PolicyEngine,
    spec: dict[str, Any],
    model: str,
    when: str,
    action: Action,
    rule: str | None,
) -> None:
    tenant = make_tenant(verified_at="2024-01-01T00:00:00Z", **spec)
    assert decide(engine, tenant, when, None, models=[model])[:2] == (action, rule)


def test_ownership_message_names_the_owners(engine: PolicyEngine) -> None:
    tenant = make_tenant(
        owners=[
            {"name": "P Corp", "share": 30, "headquarters": "CN"},
            {"name": "Q Corp", "share": 25, "headquarters": "RU"},
        ]
    )
    message = decide(engine, tenant, "2026-11-30", None, models=["claude-opus-4"])[3]
    assert "its owner P Corp (30%), headquartered in CN" in message
    assert "more than 50% owned" in message


# --- s2.5: restricted parties and the Affiliates Rule with its dated suspension ----------

LISTED_60 = [
    {"name": "Listed Parent", "share": 60, "headquarters": "CN", "listedOn": ["EntityList"]}
]
LISTED_SPLIT = [
    {"name": "A", "share": 30, "headquarters": "CN", "listedOn": ["MEU"]},
    {"name": "B", "share": 20, "headquarters": "AE", "listedOn": ["SDN"]},
]
AFFILIATES = [
    # (owners, instant, action) for a Singapore tenant and an uncontrolled T4
    (LISTED_60, "2025-09-28", Action.ALLOW),  # before the rule
    (LISTED_60, "2025-09-29", Action.DENY),  # in force
    (LISTED_60, "2025-11-09", Action.DENY),
    (LISTED_60, "2025-11-10", Action.ALLOW),  # suspended
    (LISTED_60, "2026-11-09", Action.ALLOW),  # last day of the suspension
    (LISTED_60, "2026-11-10", Action.DENY),  # back (extension unverified; default: published text)
    (LISTED_SPLIT, "2026-11-30", Action.DENY),  # 30% + 20% in aggregate = 50%
    ([{**LISTED_SPLIT[0], "share": 49}], "2026-11-30", Action.ALLOW),  # under 50%
]


@pytest.mark.parametrize(("owners", "when", "action"), AFFILIATES)
def test_affiliates_rule_window(
    engine: PolicyEngine, owners: list[dict[str, Any]], when: str, action: Action
) -> None:
    tenant = make_tenant(owners=owners, verified_at="2024-01-01T00:00:00Z")
    result = decide(engine, tenant, when, "Tesla-T4")
    assert result[0] is action
    if action is Action.DENY:
        assert result[1] == "affiliates-rule-50"
        assert "Affiliates Rule" in result[3] and "not itself an export" in result[3]


def test_a_listed_tenant_is_denied_any_accelerator(engine: PolicyEngine) -> None:
    tenant = make_tenant(listed_on=["EntityList"])
    action, rule, _, message = decide(engine, tenant, "2026-11-30", "Tesla-T4")
    assert (action, rule) == (Action.DENY, "listed-party")
    assert "it is on the Entity List" in message
    licensed = make_tenant(
        listed_on=["EntityList"],
        licences=[{"id": "L1", "covers": ["nvidia-t4"], "countries": ["SG"]}],
    )
    assert decide(engine, licensed, "2026-11-30", "Tesla-T4")[0] is Action.ALLOW


def test_the_restricted_parties_pack_can_be_left_out() -> None:
    packs = [n for n in default_pack_names() if n != "restricted-parties"]
    tenant = make_tenant(listed_on=["SDN"])
    assert (
        decide(PolicyEngine.build(packs=packs), tenant, "2026-11-30", "Tesla-T4")[0] is Action.ALLOW
    )


def test_ownership_shares_over_100_are_rejected() -> None:
    with pytest.raises(InputError, match="more than 100%"):
        make_tenant(owners=[{"name": "A", "share": 70}, {"name": "B", "share": 40}])


def test_transition_days_include_every_dated_fact() -> None:
    """Caches (the sidecar's) are invalidated on each of these days (licence lanes too: they
    change the message, e.g. the 91 FR 1684 lane from 2026-01-15)."""
    days = set(
        PolicyEngine.build(
            packs=[*default_pack_names(), "us-ear-ai-diffusion-2025"]
        ).transition_days()
    )
    for day in (
        "2025-11-07",
        "2025-11-10",
        "2026-11-10",
        "2025-09-29",
        "2025-05-13",
        "2025-04-09",
        "2026-01-15",
        "2020-12-23",
        "2025-09-05",
    ):
        assert date.fromisoformat(day) in days, day
    assert date.min not in days  # "always" is no transition


def test_a_denial_for_everyone_is_told_apart(engine: PolicyEngine) -> None:
    """The operator's access status must not call 3A090.a closed to every tenant because GP10
    denies Huawei Ascend to all alike."""
    sg = make_tenant(incorporation="SG")
    ascend = engine.evaluate(workload(gpu(resource="huawei.com/Ascend910")), sg, at("2026-11-30"))
    assert engine.applies_to_everyone(ascend)
    cn = engine.evaluate(workload(pinned(H100)), make_tenant(incorporation="CN"), at("2026-11-30"))
    assert not engine.applies_to_everyone(cn)


UNIDENTIFIED = [
    # requests that could be an Ascend among many products: GP10 judges a product's origin, so it
    # needs the product identified; the tenant-facing rules still judge them fail-closed.
    ("example.com/accelerator", "US", Action.ALLOW),
    ("nvidia.com/gpu", "US", Action.ALLOW),
    ("example.com/accelerator", "CN", Action.DENY),
]


@pytest.mark.parametrize(("resource", "country", "expected"), UNIDENTIFIED)
def test_rules_for_everyone_need_the_product_identified(
    engine: PolicyEngine, resource: str, country: str, expected: Action
) -> None:
    tenant = make_tenant(incorporation=country)
    action, rule, _, _ = decide(engine, tenant, "2026-11-30", accelerator=gpu(resource=resource))
    assert action is expected
    assert rule != "gp10-huawei-ascend"
