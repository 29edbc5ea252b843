"""The compute-thresholds pack and the rules over it: who is watched, tiers, usage jumps."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from exportgate.core.compute_policy import (
    Applicability,
    ComputePolicy,
    UsageSettings,
    applies_to,
    capacity_change,
    crossed,
    run_tiers,
    tenant_tiers,
    usage_jump,
)
from exportgate.core.countries import builtin_country_groups
from exportgate.core.errors import PolicyError
from exportgate.core.policy import builtin_packs, parse_policy_document
from exportgate.core.tenants import jurisdictions
from exportgate.core.types import Party, Tenant, Verification, VerificationState
from tests.core.builders import export_policy


def tenant(hq: str, *, customers: tuple[Party, ...] = ()) -> Tenant:
    return Tenant(
        name="t", legal_name="T Ltd", incorporation=hq, headquarters=hq,
        verification=Verification(VerificationState.VERIFIED, evidence_ref="kyc-1"),
        end_customers=customers,
    )


def test_the_shipped_pack() -> None:
    pack = builtin_packs()["compute-thresholds"]
    policy = ComputePolicy.from_policies([pack])
    figures = {t.id: (t.metric, t.threshold, t.level) for t in policy.tiers}
    assert figures["compute-report-1e26"] == ("operations", 1e26, "report")
    assert figures["compute-capacity-1e20"] == ("capacity", 1e20, "report")
    assert {1e23, 1e24, 1e25} <= {t.threshold for t in policy.tiers if t.level == "monitor"}
    for tier in policy.tiers:
        assert tier.citation and tier.effective and tier.house_policy
    report = next(t for t in policy.tiers if t.id == "compute-report-1e26")
    assert "revoked" in report.note.lower() and "house policy" in report.note.lower()
    assert policy.utilisation == 1.0
    assert policy.applies.always == ("D:5", "MO")


def test_who_is_watched() -> None:
    groups = builtin_country_groups()
    applies = Applicability(("US",), ("D:5", "MO"))
    assert not applies_to(jurisdictions(tenant("US")), applies, groups).watched
    assert applies_to(jurisdictions(tenant("SG")), applies, groups).watched
    assert applies_to(None, applies, groups).watched  # unknown tenant: fail closed
    # A US reseller whose end customer is headquartered in China: always watched.
    reseller = tenant("US", customers=(Party("Shell Co", country="SG", headquarters="CN"),))
    found = applies_to(jurisdictions(reseller), Applicability((), ("D:5", "MO")), groups)
    assert found.watched and "D:5" in found.reason and "Shell Co" in found.reason
    # foreign persons off: a Singapore tenant is no longer watched.
    assert not applies_to(jurisdictions(tenant("SG")), Applicability((), ("D:5",)), groups).watched


def test_crossed_only_once() -> None:
    policy = ComputePolicy.from_policies([builtin_packs()["compute-thresholds"]])
    tiers = policy.in_force(date(2026, 11, 30))
    first = crossed(tiers, 2e24, 0.0, [])
    assert [t.id for t in first] == ["compute-monitor-1e23", "compute-monitor-1e24"]
    assert crossed(tiers, 3e24, 0.0, [t.id for t in first]) == []
    assert [t.id for t in crossed(tiers, 0.0, 2e20, [])] == ["compute-capacity-1e20"]


def test_capacity_is_a_tenant_tier_crossed_once_per_rise() -> None:
    policy = ComputePolicy.from_policies([builtin_packs()["compute-thresholds"]])
    tiers = policy.in_force(date(2026, 11, 30))
    assert [t.id for t in tenant_tiers(tiers)] == ["compute-capacity-1e20"]
    assert "compute-capacity-1e20" not in [t.id for t in run_tiers(tiers)]
    capacity = tenant_tiers(tiers)
    rise = capacity_change(capacity, 2e20, [])
    assert [t.id for t in rise.crossed] == ["compute-capacity-1e20"] and rise.ended == ()
    held = capacity_change(capacity, 1.5e20, ["compute-capacity-1e20"])
    assert held.crossed == () and held.ended == ()  # still above: the same crossing
    fall = capacity_change(capacity, 0.5e20, ["compute-capacity-1e20"])
    assert fall.crossed == () and fall.ended == ("compute-capacity-1e20",)
    # A tier no longer in force (or a tenant no longer watched) ends what it opened.
    assert capacity_change((), 2e20, ["compute-capacity-1e20"]).ended == ("compute-capacity-1e20",)


def test_an_export_policy_replaces_the_pack() -> None:
    tier = {"id": "small", "level": "report", "metric": "operations", "threshold": 1e18,
            "citation": "house", "effective": "2026-01-01"}  # fmt: skip
    compute = {"estimation": {"utilisation": 0.4}, "tiers": [tier]}
    doc = export_policy("compute-thresholds", version="house-2", compute=compute)
    policy = ComputePolicy.from_policies([parse_policy_document(doc)])
    assert policy.utilisation == 0.4 and [t.id for t in policy.tiers] == ["small"]
    doc["spec"]["compute"]["appliesTo"] = {"always": ["NOT-A-GROUP"]}
    with pytest.raises(PolicyError, match="NOT-A-GROUP"):
        parse_policy_document(doc)
    with pytest.raises(PolicyError, match="at least one rule"):
        parse_policy_document({**doc, "spec": {"version": "1", "rules": []}})


def test_usage_jump_against_the_trailing_baseline() -> None:
    settings = UsageSettings(baseline_days=7, jump_factor=3.0, minimum_hours=8)
    day = datetime(2026, 11, 30, tzinfo=UTC).date()
    history = {date.fromordinal(day.toordinal() - n): 10.0 for n in range(1, 8)}
    assert usage_jump({**history, day: 25.0}, day, settings) is None
    jump = usage_jump({**history, day: 31.0}, day, settings)
    assert jump is not None and jump.baseline == 10.0 and jump.ratio == pytest.approx(3.1)
    # A new tenant with no history: any real use is a jump; a trickle is not.
    assert usage_jump({day: 9.0}, day, settings) is not None
    assert usage_jump({day: 2.0}, day, settings) is None
