"""Percentiles and summaries, with no dependencies (nearest-rank on sorted samples)."""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence
from typing import Any


def percentile(samples: Sequence[float], p: float) -> float:
    if not samples:
        return float("nan")
    ordered = sorted(samples)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def summary(samples: Sequence[float]) -> dict[str, Any]:
    ordered = sorted(samples)
    return {
        "n": len(ordered),
        "p50": percentile(ordered, 50),
        "p99": percentile(ordered, 99),
        "p999": percentile(ordered, 99.9),
        "max": ordered[-1] if ordered else float("nan"),
    }


def percentile_interval(
    samples: Sequence[float], p: float, confidence: float = 0.95
) -> tuple[float, float]:
    """A distribution-free confidence interval for the `p`-th percentile: the order statistics
    whose ranks bracket it with the binomial probability `confidence` (the number of samples
    below the true percentile is Binomial(n, p/100)). Where the bracket runs past the largest
    (or smallest) sample, that sample bounds the interval, which then understates it: a p99 from
    100 samples cannot be bounded above."""
    ordered = sorted(samples)
    n = len(ordered)
    if n == 0:
        return (float("nan"), float("nan"))
    q = min(max(p / 100, 1e-12), 1 - 1e-12)
    tail = (1 - confidence) / 2
    # Binomial CDF in log space (n up to tens of thousands without overflow).
    log_q, log_r = math.log(q), math.log1p(-q)
    cdf, below = 0.0, []
    for k in range(n + 1):
        cdf += math.exp(
            math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1)
            + k * log_q + (n - k) * log_r
        )  # fmt: skip
        below.append(cdf)  # below[k] = P(B <= k)
    # X(l) with P(B <= l-1) <= tail (largest such l), X(u) with P(B <= u-1) >= 1 - tail.
    lower = max((k for k in range(1, n + 1) if below[k - 1] <= tail), default=1)
    upper = min((k for k in range(1, n + 1) if below[k - 1] >= 1 - tail), default=n)
    return (ordered[lower - 1], ordered[upper - 1])


def bootstrap_interval(
    a: Sequence[float],
    b: Sequence[float],
    p: float,
    combine: Callable[[float, float], float],
    *,
    resamples: int = 2000,
    confidence: float = 0.95,
    seed: int = 16,
) -> tuple[float, float]:
    """A percentile-bootstrap confidence interval for `combine(P_p(a), P_p(b))` (a difference
    or a ratio of two systems' percentiles), resampling each independently. Seeded, so a
    report rendered twice from the same samples says the same thing."""
    if not a or not b:
        return (float("nan"), float("nan"))
    rng = random.Random(seed)
    values = sorted(combine(_resampled(rng, a, p), _resampled(rng, b, p)) for _ in range(resamples))
    tail = (1 - confidence) / 2
    return (values[int(tail * resamples)], values[max(0, math.ceil((1 - tail) * resamples) - 1)])


def _resampled(rng: random.Random, samples: Sequence[float], p: float) -> float:
    """The `p`-th percentile of one resample of `samples`, with replacement."""
    return percentile(rng.choices(samples, k=len(samples)), p)
