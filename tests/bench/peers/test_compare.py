"""A peer that decides one case differently is not equivalent, and the reason names the case
(no cluster needed: verdicts as equivalence.decide_all records them)."""

from __future__ import annotations

from bench.peers.cases import CASES
from bench.peers.equivalence import Outcome, compare, unexpected, why_not


def test_one_differing_verdict_makes_a_peer_not_equivalent_and_is_named() -> None:
    reference = Outcome("exportgate", {"nimbus-h100": "deny", "nimbus-t4": "admit"})
    peer = Outcome("kyverno", {"nimbus-h100": "deny", "nimbus-t4": "deny"}, {"nimbus-t4": "no"})
    report = compare(reference, peer)
    assert report["equivalent"] is False
    assert report["differences"] == [
        {"case": "nimbus-t4", "exportgate": "admit", "kyverno": "deny", "message": "no"}
    ]
    assert why_not(report) == (
        "not equivalent to exportgate on 1 of 2 cases: nimbus-t4: exportgate admit, peer deny"
    )
    assert compare(reference, reference)["equivalent"] is True


def test_exportgate_drifting_from_the_expected_verdicts_is_reported() -> None:
    reference = Outcome("exportgate", {"nimbus-h100": "admit"})
    drift = unexpected(reference, [c for c in CASES if c.name == "nimbus-h100"])
    assert drift == [{"case": "nimbus-h100", "expected": "deny", "exportgate": "admit"}]
