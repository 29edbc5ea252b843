"""How sure B2 can be of its comparisons: exportgate's Pod CREATE p99 against the best peer's,
and against no webhook, with 95% intervals from the samples themselves.

A p99 of a thousand CREATEs is decided by its ten slowest, and on a shared 2-vCPU machine those
move by several milliseconds from run to run (bench/NOTES.md). So besides the point figures,
each comparison carries a percentile-bootstrap interval (`bench.stats.bootstrap_interval`):
a difference whose interval holds zero is one this run cannot tell from noise, which the report
says instead of letting a coin toss decide a verdict silently.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bench.b2_measure import Samples
from bench.peers.build import PEERS
from bench.stats import bootstrap_interval, percentile

#: The peers and their variants asking a service (the sidecar's analogue).
PEER_NAMES = (*(p.name for p in PEERS), "gatekeeper-extdata", "kyverno-apicall")


def p99_vs_best_peer(samples: Mapping[str, Samples]) -> dict[str, Any] | None:
    """exportgate's p99 minus the best (lowest-p99) peer's, with its 95% interval; None when
    either side was not measured."""
    ours = samples.get("exportgate")
    peers = {n: s for n, s in samples.items() if n in PEER_NAMES and s.latencies_ms}
    if ours is None or not ours.latencies_ms or not peers:
        return None
    p99 = {n: percentile(s.latencies_ms, 99) for n, s in peers.items()}
    best = min(p99, key=lambda n: p99[n])
    mine = percentile(ours.latencies_ms, 99)
    low, high = bootstrap_interval(
        ours.latencies_ms, peers[best].latencies_ms, 99, lambda a, b: a - b
    )
    return {
        "peer": best,
        "exportgate_ms": round(mine, 2),
        "peer_ms": round(p99[best], 2),
        "difference_ms": round(mine - p99[best], 2),
        "difference_ci_ms": [round(low, 2), round(high, 2)],
    }


def p99_ratio_interval(ours: Samples, none: Samples) -> list[float]:
    """The 95% interval of exportgate's p99 over no webhook's."""
    low, high = bootstrap_interval(ours.latencies_ms, none.latencies_ms, 99, lambda a, b: a / b)
    return [round(low, 2), round(high, 2)]


def verdict(value: float, interval: list[float] | None, limit: float = 0.0) -> str:
    """At or below `limit` (a difference's 0, a ratio's bound); above it but with an interval
    that still reaches it (this run's noise); or above it beyond the noise. Without an interval
    (results written before intervals were kept) a miss is just a miss."""
    if value <= limit:
        return "met"
    if interval is not None and interval[0] <= limit:
        return "NOT met (level within noise)"
    return "NOT met"
