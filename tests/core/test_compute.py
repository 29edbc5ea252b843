"""Compute accounting arithmetic: windows never count a second twice, estimates from the
catalogue figure behind TPP, peak capacity, days."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from exportgate.core.catalogue import builtin_catalogue
from exportgate.core.compute import (
    Span,
    Usage,
    accrue,
    assumed_product,
    concurrency,
    describe_estimate,
    overlap,
    peak_ops_per_second,
    split_by_day,
)

T0 = datetime(2026, 11, 1, 10, 0, tzinfo=UTC)
H100 = Usage("nvidia-h100-sxm", "3A090.a", 8, 1979e12)
T4 = Usage("nvidia-t4", "outside-3A090", 1, 130e12)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def test_peak_is_the_performance_entry_behind_tpp() -> None:
    catalogue = builtin_catalogue()
    # H100 SXM: fp8 1979 x 8 = fp16 989.5 x 16 = 15,832 TPP; the tie goes to the larger rate.
    assert peak_ops_per_second(catalogue, "nvidia-h100-sxm") == 1979e12
    assert peak_ops_per_second(catalogue, "nvidia-a100") == 624e12
    assert peak_ops_per_second(catalogue, "nvidia-t4") == 130e12
    # Unknown: the most capable product, never less.
    unknown = peak_ops_per_second(catalogue, catalogue.unknown_id)
    assert unknown == max(peak_ops_per_second(catalogue, p) for p in catalogue.products)


def test_assumed_product_is_the_most_restrictive_then_fastest() -> None:
    catalogue = builtin_catalogue()
    chosen = assumed_product(catalogue, catalogue.base_for_resource("nvidia.com/gpu"))
    assert catalogue.products[chosen].eccn == "3A090.a"
    assert assumed_product(catalogue, ["nvidia-t4"]) == "nvidia-t4"
    assert catalogue.products[assumed_product(catalogue, [])].eccn == "3A090.a"


def test_windows_split_a_span_without_double_counting() -> None:
    spans = [Span("run", H100, at(0), None)]
    first = accrue(spans, {}, at(600))["run"]
    second = accrue(spans, {"run": at(600)}, at(1000))["run"]
    whole = accrue(spans, {}, at(1000))["run"]
    assert first.accelerator_seconds == 600 * 8
    assert second.accelerator_seconds == 400 * 8
    assert whole.accelerator_seconds == first.accelerator_seconds + second.accelerator_seconds


def test_finished_span_before_the_watermark_adds_nothing() -> None:
    spans = [Span("run", H100, at(0), at(100))]
    assert accrue(spans, {"run": at(100)}, at(500))["run"].accelerator_seconds == 0


def test_products_and_peak_capacity() -> None:
    spans = [
        Span("run", H100, at(0), at(100)),
        Span("run", T4, at(50), at(300)),
        Span("run", T4, at(100), at(200)),  # starts as the H100 Pod ends: no overlap with it
    ]
    accrual = accrue(spans, {}, at(1000))["run"]
    assert accrual.products["nvidia-h100-sxm"].accelerator_seconds == 800
    assert accrual.products["nvidia-t4"].accelerator_seconds == 250 + 100
    assert accrual.peak_capacity == pytest.approx(8 * 1979e12 + 130e12)
    assert accrual.peak_accelerators == 9


def test_unidentified_time_is_kept_apart() -> None:
    guessed = Usage("nvidia-b200", "3A090.a", 2, 4500e12, identified=False)
    accrual = accrue([Span("run", guessed, at(0), at(10))], {}, at(10))["run"]
    assert set(accrual.products) == {"unidentified:nvidia-b200"}
    assert accrual.products["unidentified:nvidia-b200"].operations(1.0) == 20 * 4500e12


def test_days_and_overlap() -> None:
    late = datetime(2026, 11, 1, 23, 0, tzinfo=UTC)
    assert split_by_day(late, late + timedelta(hours=2)) == {
        date(2026, 11, 1): 3600.0,
        date(2026, 11, 2): 3600.0,
    }
    assert overlap(at(0), None, at(10), at(20)) == 10
    assert overlap(at(30), at(40), at(10), at(20)) == 0


def test_the_method_says_upper_bound_at_one() -> None:
    assert "upper bound" in describe_estimate(1.0)
    assert "upper bound" not in describe_estimate(0.4)


ONE = Usage("nvidia-h100-sxm", "3A090.a", 1, 1979e12)


def test_concurrency_sums_many_small_runs_at_one_instant() -> None:
    # Eight one-GPU runs started 100 s apart: one run never holds more than one H100, the
    # tenant holds eight from +700 on.
    spans = [Span(f"run-{n}", ONE, at(100 * n), None) for n in range(8)]
    held = concurrency(spans, None, at(3600))
    assert held.peak == pytest.approx(8 * 1979e12) and held.at == at(700)
    assert set(held.runs) == {f"run-{n}" for n in range(8)} and held.accelerators == 8
    assert all(accrual.peak_capacity == 1979e12 for accrual in accrue(spans, {}, at(3600)).values())


def test_concurrency_back_to_back_and_windows() -> None:
    spans = [Span("a", ONE, at(0), at(100)), Span("b", ONE, at(100), at(200)),
             Span("c", ONE, at(50), at(150))]
    held = concurrency(spans, None, at(1000))
    assert held.peak == pytest.approx(2 * 1979e12) and held.at == at(50)
    assert set(held.runs) == {"a", "c"}  # b starts as a ends: never three at once
    # Only what lies in the window counts; an empty window still sees what runs now.
    assert concurrency(spans, at(200), at(1000)).peak == 0
    running = [Span("r", ONE, at(0), None), Span("s", ONE, at(500), None)]
    assert concurrency(running, at(600), at(600)).peak == pytest.approx(2 * 1979e12)
    assert concurrency([], None, at(10)).at is None
