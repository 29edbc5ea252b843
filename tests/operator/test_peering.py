"""Whether a replica is the active one, by kopf's rule over its peering object."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from exportgate_operator.peering import live_priorities, outranked

NOW = datetime(2026, 6, 1, tzinfo=UTC)


def _peer(priority: int, seen_ago: float, lifetime: int = 60) -> dict[str, object]:
    seen = NOW - timedelta(seconds=seen_ago)
    return {"priority": priority, "lifetime": lifetime, "lastseen": seen.isoformat()}


def test_dead_and_malformed_peers_do_not_count() -> None:
    status = {"a": _peer(5, 10), "b": _peer(9, 120), "c": {"priority": 3}, "d": "junk"}
    assert live_priorities(status, NOW) == [5]


def test_a_higher_or_an_equal_live_peer_pauses_this_replica() -> None:
    assert not outranked([5], 5)  # only itself
    assert outranked([5, 9], 5)  # a higher priority is in charge
    assert outranked([5, 5], 5)  # kopf pauses both on a tie
    assert not outranked([1, 5], 5)
