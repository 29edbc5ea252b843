"""Equivalence first: a peer's latency is only worth reporting if it decides what exportgate
decides. With each system switched on alone, every case of bench/peers/cases.py is sent to the
API server as a server-side dry run; a peer is equivalent when it denies exactly the cases
exportgate denies and admits the others. B2 reports no figures for a peer that is not, and
says why.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from bench.peers.cases import CASES, Case, verdict
from bench.peers.system import System
from tests.cluster.local_cluster import LocalCluster


@dataclass
class Outcome:
    system: str
    verdicts: dict[str, str]
    messages: dict[str, str] = field(default_factory=dict)

    def denied(self) -> list[str]:
        return sorted(name for name, v in self.verdicts.items() if v == "deny")


def decide_all(cluster: LocalCluster, system: System, cases: Sequence[Case] = CASES) -> Outcome:
    """Switch `system` on, ask for a verdict on every case, switch it off again."""
    api = cluster.api_client()
    system.activate(cluster)
    try:
        outcome = Outcome(system.name, {})
        for case in cases:
            outcome.verdicts[case.name], message = verdict(api, case.pod())
            if message:
                outcome.messages[case.name] = message
    finally:
        system.deactivate(cluster)
    return outcome


def compare(reference: Outcome, other: Outcome) -> dict[str, Any]:
    """Where `other` decides differently from `reference` (exportgate)."""
    differences = [
        {
            "case": name,
            reference.system: reference.verdicts[name],
            other.system: other.verdicts.get(name, "missing"),
            "message": other.messages.get(name, ""),
        }
        for name in reference.verdicts
        if other.verdicts.get(name) != reference.verdicts[name]
    ]
    return {
        "equivalent": not differences,
        "cases": len(reference.verdicts),
        "denied": len(other.denied()),
        "differences": differences,
    }


def unexpected(reference: Outcome, cases: Sequence[Case] = CASES) -> list[dict[str, str]]:
    """Cases where exportgate itself no longer decides what cases.py expects (its rules or data
    changed): the peers' policies then need the same change."""
    return [
        {"case": c.name, "expected": c.expected, "exportgate": reference.verdicts[c.name]}
        for c in cases
        if reference.verdicts.get(c.name) != c.expected
    ]


def check(
    cluster: LocalCluster, reference: System, peers: Sequence[System]
) -> dict[str, dict[str, Any]]:
    """Each peer compared with `reference`; the reference's own row lists any case it decides
    differently from cases.py's expectation."""
    ref = decide_all(cluster, reference)
    report: dict[str, dict[str, Any]] = {
        reference.name: {
            "equivalent": True,
            "cases": len(ref.verdicts),
            "denied": len(ref.denied()),
            "unexpected": unexpected(ref),
        }
    }
    for peer in peers:
        report[peer.name] = compare(ref, decide_all(cluster, peer))
    return report


def why_not(entry: dict[str, Any]) -> str:
    """One line saying why a peer is not reported."""
    diffs = entry.get("differences", [])
    shown = "; ".join(
        f"{d['case']}: exportgate {d.get('exportgate')}, peer "
        f"{next(v for k, v in d.items() if k not in ('case', 'exportgate', 'message'))}"
        for d in diffs[:4]
    )
    more = f" (+{len(diffs) - 4} more)" if len(diffs) > 4 else ""
    return f"not equivalent to exportgate on {len(diffs)} of {entry['cases']} cases: {shown}{more}"
