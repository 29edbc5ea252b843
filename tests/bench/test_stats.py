"""Percentiles and their intervals: the figures B2's verdicts rest on."""

from __future__ import annotations

import random

from bench.stats import bootstrap_interval, percentile, percentile_interval


def test_percentile_interval_covers_the_true_p99_about_as_often_as_it_claims() -> None:
    # Uniform(0, 1): the true p99 is 0.99. A 95% interval should hold it in about 95 of 100
    # runs; fewer than 88 would mean the ranks are wrong.
    rng = random.Random(7)
    covered = 0
    for _ in range(100):
        samples = [rng.random() for _ in range(1000)]
        low, high = percentile_interval(samples, 99)
        assert low <= percentile(samples, 99) <= high
        covered += low <= 0.99 <= high
    assert covered >= 88


def test_percentile_interval_is_bounded_by_the_samples_when_they_are_too_few() -> None:
    samples = [float(i) for i in range(1, 101)]
    low, high = percentile_interval(samples, 99)
    assert high == 100.0  # a p99 of 100 samples cannot be bounded above: the largest bounds it
    assert 90.0 <= low < 99.0
    assert percentile_interval([], 99) != percentile_interval([], 99)  # (nan, nan)


def test_bootstrap_interval_is_reproducible_and_brackets_the_point_difference() -> None:
    rng = random.Random(3)
    a = [rng.expovariate(1.0) for _ in range(1000)]
    b = [rng.expovariate(1.0) * 2 for _ in range(1000)]
    first = bootstrap_interval(a, b, 99, lambda x, y: x - y)
    assert first == bootstrap_interval(a, b, 99, lambda x, y: x - y)  # seeded
    point = percentile(a, 99) - percentile(b, 99)
    assert first[0] <= point <= first[1]
    assert first[1] < 0  # twice the scale: a real difference, the interval excludes zero


def test_bootstrap_interval_of_two_samples_of_one_distribution_usually_holds_zero() -> None:
    rng = random.Random(11)
    holds = 0
    for _ in range(20):
        a = [rng.expovariate(1.0) for _ in range(500)]
        b = [rng.expovariate(1.0) for _ in range(500)]
        low, high = bootstrap_interval(a, b, 99, lambda x, y: x - y, resamples=400)
        holds += low <= 0 <= high
    assert holds >= 16
