"""Status builders: transitions, access, conditions (pure functions, no cluster)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from exportgate_operator.conditions import condition, merge
from exportgate_operator.status import tenant_status
from exportgate_operator.world import World

from exportgate.core.engine import PolicyEngine
from tests.operator.builders import tenant

NOW = datetime(2026, 6, 1, tzinfo=UTC)


def test_condition_time_moves_only_when_status_changes() -> None:
    first = merge(None, [condition("Ready", True, "A", "x", now=NOW)])
    later = NOW + timedelta(hours=1)
    same = merge(first, [condition("Ready", True, "B", "y", now=later)])
    assert same[0]["lastTransitionTime"] == first[0]["lastTransitionTime"]
    assert same[0]["reason"] == "B"
    flipped = merge(same, [condition("Ready", False, "C", "z", now=later)])
    assert flipped[0]["lastTransitionTime"] == "2026-06-01T01:00:00Z"


def test_invalid_tenant_status_clears_resolved_fields() -> None:
    world = World()
    record = world.set_tenant(tenant("bad", hq="XX"))
    status = tenant_status(record, PolicyEngine.build(), NOW)
    assert status["jurisdictions"] is None  # removed by the merge patch
    ready = {c["type"]: c for c in status["conditions"]}["Ready"]
    assert ready["status"] == "False"
    assert "XX" in ready["message"]
    parties = {c["type"]: c for c in status["conditions"]}["PartiesNamed"]
    assert (parties["status"], parties["reason"]) == ("Unknown", "InvalidSpec")


def test_a_placeholder_party_name_is_reported_not_refused() -> None:
    """Red team 13b, M2: KYC wrote "N/A" as the ultimate parent. The record stays valid (the
    Tenant contract is unchanged) and its parent's headquarters still counts; the tenant is
    grouped with nobody by that name, and the condition asks KYC to fix the record."""
    doc = tenant("alpha", hq="SG", parent_hq="CN")
    doc["spec"]["ultimateParent"]["name"] = "N/A"
    doc["spec"]["ownership"] = {"owners": [{"name": "-", "share": 30, "headquarters": "SG"}]}
    status = tenant_status(World().set_tenant(doc), PolicyEngine.build(), NOW)
    found = {c["type"]: c for c in status["conditions"]}
    assert found["Ready"]["status"] == "True"
    assert {"country": "CN", "role": "parentHeadquarters"} in [
        {k: j[k] for k in ("country", "role")} for j in status["jurisdictions"]
    ]
    named = found["PartiesNamed"]
    assert (named["status"], named["reason"]) == ("False", "PlaceholderName")
    assert "spec.ultimateParent.name is 'N/A'" in named["message"]
    assert "spec.ownership.owners[0].name is '-'" in named["message"]
    clean = tenant_status(World().set_tenant(tenant("beta", parent_hq="SG")), PolicyEngine.build(),
                          NOW)  # fmt: skip
    named = {c["type"]: c for c in clean["conditions"]}["PartiesNamed"]
    assert (named["status"], named["reason"]) == ("True", "Named")


def test_policy_that_stops_compiling_keeps_its_last_good_version() -> None:
    from tests.operator.builders import policy

    world = World()
    good = world.set_policy(policy("p", version="1"))
    before = world.engine.version
    bad = world.set_policy(policy("p", version="2", any_in=("NOWHERE",)))
    assert good.compiled is not None and bad.compiled is None
    assert bad.last_good is not None and bad.last_good.version == "1"
    assert world.engine.version == before
    assert world.drop_policy("p")
    assert world.engine.version != before
