"""The one rule for when a tenant's standing changes by itself."""

from __future__ import annotations

from datetime import UTC, date, datetime

from exportgate.core.engine import PolicyEngine
from exportgate.core.tenants import parse_tenant
from exportgate.world.clock import next_transition, policy_boundaries, validity_window
from tests.operator.builders import tenant

NOW = datetime(2026, 6, 1, tzinfo=UTC)


def test_next_transition_is_the_nearest_future_instant() -> None:
    doc = tenant("t", verified="2026-07-01T00:00:00Z", expires="2027-01-01T00:00:00Z")
    assert next_transition(parse_tenant(doc), NOW) == datetime(2026, 7, 1, tzinfo=UTC)
    assert next_transition(parse_tenant(doc), datetime(2026, 8, 1, tzinfo=UTC)) == datetime(
        2027, 1, 1, tzinfo=UTC
    )
    assert next_transition(parse_tenant(doc), datetime(2028, 1, 1, tzinfo=UTC)) is None
    pending = tenant("p", state="Pending", verified="", expires="2027-01-01T00:00:00Z")
    assert next_transition(parse_tenant(pending), NOW) is None  # expiry changes nothing


def test_a_rule_taking_effect_is_a_transition_for_every_tenant() -> None:
    doc = tenant("t", verified="2026-01-01T00:00:00Z", expires="2027-01-01T00:00:00Z")
    rule_day = datetime(2026, 9, 1, tzinfo=UTC)
    assert next_transition(parse_tenant(doc), NOW, (rule_day,)) == rule_day
    assert next_transition(None, NOW, (rule_day,)) == rule_day


def test_policy_boundaries_are_the_midnights_of_rule_dates() -> None:
    engine = PolicyEngine.build()
    found = policy_boundaries(engine)
    assert found == tuple(sorted(found))
    assert {b.date() for b in found} == set(engine.transition_days())
    assert list(found) == sorted(found)
    assert all(b.time() == datetime.min.time() and b.tzinfo is UTC for b in found)
    assert all(isinstance(b.date(), date) for b in found)


def test_validity_window_is_the_gap_between_boundaries() -> None:
    a, b = datetime(2026, 5, 1, tzinfo=UTC), datetime(2026, 7, 1, tzinfo=UTC)
    assert validity_window([a], NOW, (b,)) == (a, b)
    assert validity_window([], NOW) == (None, None)
