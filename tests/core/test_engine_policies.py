"""The policy engine's policies: enforcement actions (pack, rule, override), user packs replacing
built-in ones, the optional AI Diffusion pack (codified, never enforced), effective dates and
what a decision records. Country groups, parties, licences, KYC and vendor terms are in
test_engine.py.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from exportgate.core.engine import PolicyEngine
from exportgate.core.errors import PolicyError
from exportgate.core.policy import builtin_packs, default_pack_names, parse_policy_document
from exportgate.core.types import Action
from tests.core.builders import (
    D1_D4,
    D5_MACAU,
    H20,
    H100,
    KARPENTER_GPU_NAME,
    NOW,
    export_policy,
    gpu,
    hint,
    make_tenant,
    nodepool,
    pinned,
    verdict,
    workload,
)

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
    assert verdict(_with_diffusion(), tenant, at=at) == (Action.ALLOW, None)


def test_diffusion_rule_logic_still_works_when_studied() -> None:
    tenant = make_tenant(incorporation="IN", verified_at="2024-01-01T00:00:00Z")
    assert verdict(_studied_diffusion(), tenant, at=NOW) == (
        Action.WARN,
        "aid-tier2-accelerators",
    )
    assert verdict(_studied_diffusion(), tenant, at=BEFORE_COMPLIANCE) == (Action.ALLOW, None)


def test_diffusion_tier3_adds_nothing_to_the_standing_denial() -> None:
    tenant = make_tenant(incorporation="CN", verified_at="2024-01-01T00:00:00Z")
    decision = _with_diffusion().evaluate(workload(pinned(H100)), tenant, NOW)
    assert "aid-tier3-accelerators" not in {v.rule_id for v in decision.violations}
    assert decision.action is Action.DENY


def test_diffusion_tier3_is_for_3a090a_items_only() -> None:
    """regulation-2026.md s2.4: the Diffusion rule's licence requirement is for
    3A090.a / 4A090.a / .z items; a 3A090.b part (the A30) is not one of them. Studied from its
    compliance date 2025-05-15: the H100 is caught, the A30 never is."""
    tenant = make_tenant(incorporation="CN", verified_at="2024-01-01T00:00:00Z")

    def rules(product: str, day: int) -> set[str]:
        decision = _studied_diffusion().evaluate(
            workload(pinned(product)), tenant, datetime(2025, 5, day, tzinfo=UTC)
        )
        return {v.rule_id for v in decision.violations}

    assert "aid-tier3-accelerators" not in rules(H100, 14)
    assert "aid-tier3-accelerators" in rules(H100, 15)
    assert "aid-tier3-accelerators" not in rules("NVIDIA-A30", 15)


# --- effective dates and decision contents -----------------------------------------------


def test_rules_are_not_applied_before_their_effective_date(engine: PolicyEngine) -> None:
    tenant = make_tenant(incorporation="CN", verified_at="2023-01-01T00:00:00Z")
    # H20 letters are dated April 2025: before that only TPP/PD counted, and H20 is outside.
    assert verdict(engine, tenant, H20, at=datetime(2025, 1, 1, tzinfo=UTC)) == (Action.ALLOW, None)
    assert verdict(engine, tenant, H20, at=datetime(2025, 5, 1, tzinfo=UTC))[0] is Action.DENY


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
