"""exportgate's p99 against the best peer's, with the interval that says whether a run can tell
them apart (bench/b2_compare.py)."""

from __future__ import annotations

import random

from bench.b2_compare import p99_ratio_interval, p99_vs_best_peer, verdict
from bench.b2_measure import Samples


def _samples(scale: float, seed: int, n: int = 800) -> Samples:
    rng = random.Random(seed)
    return Samples(latencies_ms=[5 + rng.expovariate(1 / scale) for _ in range(n)])


def test_the_best_peer_is_the_one_with_the_lowest_p99() -> None:
    samples = {
        "none": _samples(1.0, 1),
        "exportgate": _samples(3.0, 2),
        "gatekeeper": _samples(2.0, 3),
        "kyverno": _samples(6.0, 4),
    }
    versus = p99_vs_best_peer(samples)
    assert versus is not None
    assert versus["peer"] == "gatekeeper"
    assert abs(versus["difference_ms"] - (versus["exportgate_ms"] - versus["peer_ms"])) <= 0.011
    low, high = versus["difference_ci_ms"]
    assert low <= versus["difference_ms"] <= high


def test_nothing_is_compared_without_exportgate_or_a_peer() -> None:
    assert p99_vs_best_peer({"exportgate": _samples(1.0, 1)}) is None
    assert p99_vs_best_peer({"gatekeeper": _samples(1.0, 1)}) is None
    assert p99_vs_best_peer({"exportgate": _samples(1.0, 1), "gatekeeper": Samples()}) is None


def test_ratio_interval_against_no_webhook_brackets_the_ratio() -> None:
    ours, none = _samples(3.0, 5), _samples(1.0, 6)
    low, high = p99_ratio_interval(ours, none)
    assert 1.0 < low < high


def test_verdict_separates_a_miss_within_noise_from_a_real_one() -> None:
    assert verdict(-1.0, [-3.0, 1.0]) == "met"
    assert verdict(0.0, [-1.0, 1.0]) == "met"
    assert verdict(2.0, [-1.0, 5.0]) == "NOT met (level within noise)"
    assert verdict(2.0, [0.5, 5.0]) == "NOT met"
