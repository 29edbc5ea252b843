"""B2's rendering: peer rows, sweep, who leads, and a peer that is not reported says why."""

from __future__ import annotations

from typing import Any

from bench import report_b2


def _row(
    p50: float, p99: float, cpu: float | None = None, cps: float | None = None
) -> dict[str, Any]:
    row: dict[str, Any] = {"creates": 100, "failures": 0, "p50_ms": p50, "p99_ms": p99}
    if cpu is not None:
        row["webhook_cpu_ms_per_create"] = cpu
    if cps is not None:
        row["throughput_cps"] = cps
    return row


B2: dict[str, Any] = {
    "rows": {
        "none": _row(5.0, 10.0),
        "cel": _row(5.5, 12.0),
        "exportgate": _row(7.0, 13.0, cpu=1.2),
        "gatekeeper": _row(8.0, 15.0, cpu=0.9),
    },
    "sweep": {
        "exportgate": [{"concurrency": 8, **_row(9.0, 20.0, cps=300.0)}],
        "gatekeeper": [{"concurrency": 8, **_row(8.0, 18.0, cps=320.0)}],
    },
    "not_reported": {"kyverno": "peers not built: run make bench-peers"},
    "config": {"creates": 100, "rounds": 2, "warmup_per_slice": 10, "sweep_creates": 96},
}


def test_leaders_are_named_among_enforcing_systems_only() -> None:
    lines = report_b2.leads(B2)
    assert lines[0].startswith("- Pod CREATE p50, one client: **cel** (5.5)")
    assert "exportgate 7.0 (#2 of 3)" in lines[0]
    assert "**gatekeeper** (0.9)" in lines[2]  # CPU: in-process CEL has no webhook process
    assert any("8 clients, CREATEs/s: **gatekeeper** (320.0)" in line for line in lines)


def test_peer_target_is_met_only_where_exportgate_p99_is_at_most_the_best_peers() -> None:
    verdicts = {where: ok for where, _, _, ok in report_b2.target_rows(B2)}
    assert verdicts == {
        "B2 p99 vs best peer, B2 table": "met",
        "B2 p99 vs best peer, sweep 8 clients": "NOT met",
    }


def test_a_miss_says_whether_it_is_within_the_runs_noise() -> None:
    kept = {
        "table": _kept("gatekeeper", 13.0, 15.0, [-4.0, 1.0]),
        "sweep": {"8": _kept("gatekeeper", 20.0, 18.0, [-1.5, 6.0])},
    }
    targets = {where: (m, v) for where, _, m, v in report_b2.target_rows(
        {**B2, "p99_vs_best_peer": kept}
    )}  # fmt: skip
    measured, verdict = targets["B2 p99 vs best peer, sweep 8 clients"]
    assert verdict == "NOT met (level within noise)"
    assert "difference +2.0 ms, 95% interval -1.5 to +6.0" in measured
    assert targets["B2 p99 vs best peer, B2 table"][1] == "met"


def test_the_peer_named_is_the_one_the_comparison_used_even_on_a_rounded_tie() -> None:
    # Rounded to two decimals Kyverno's and Gatekeeper's p99 are the same; the raw samples
    # (`bench.b2_compare`) found Kyverno's lower, and the row names the peer it compared with.
    tie = {**B2, "rows": {**B2["rows"], "kyverno": _row(8.5, 15.0, cpu=1.3)}}
    tie["p99_vs_best_peer"] = {"table": _kept("kyverno", 13.0, 15.0, [-4.0, 1.0])}
    measured = {where: m for where, _, m, _ in report_b2.target_rows(tie)}
    assert measured["B2 p99 vs best peer, B2 table"].startswith("13.0 ms vs kyverno 15.0 ms")


def _kept(peer: str, ours: float, theirs: float, interval: list[float]) -> dict[str, Any]:
    """A comparison as `bench.b2_compare.p99_vs_best_peer` keeps it."""
    return {
        "peer": peer,
        "exportgate_ms": ours,
        "peer_ms": theirs,
        "difference_ms": round(ours - theirs, 2),
        "difference_ci_ms": interval,
    }


def test_section_renders_both_tables_and_says_why_a_peer_is_missing() -> None:
    text = report_b2.section(B2)
    assert "| gatekeeper |" in text and "| 8 | 8.0 | 18.0 | - | 320.0 |" in text
    assert "**kyverno not reported**: peers not built: run make bench-peers" in text


def test_results_written_before_the_peers_still_render() -> None:
    old = {"none": _row(5.0, 10.0), "exportgate": {**_row(7.0, 13.0), "p99_vs_none": 1.3}}
    assert set(report_b2.rows(old)) == {"none", "exportgate"}
    assert "| exportgate |" in report_b2.section(old)


PAIRED: dict[str, Any] = {
    **B2,
    "sweep": {
        "none": [{"concurrency": 1, **_row(3.0, 10.0)}],
        "exportgate": [{"concurrency": 1, **_row(5.0, 14.0, cpu=1.5)}],
        "gatekeeper": [{"concurrency": 1, **_row(4.0, 12.0, cpu=1.4)}],
    },
    "sweep_points": {
        "1": {
            "concurrency": 1,
            "systems": 3,
            "creates": 300,
            "elapsed_s": 1.5,
            "creates_per_s": 200.0,
            "apiserver_etcd_cpu_ms_per_create": 3.2,
            "exportgate_p99_vs_none": 1.4,
            "exportgate_p99_vs_none_ci": [1.1, 1.9],
        }
    },
    "config": {**B2["config"], "sweep_design": "paired"},
}


def test_the_paired_sweep_gives_shared_figures_per_point_not_per_system() -> None:
    text = report_b2.section(PAIRED)
    assert "Concurrency sweep, paired" in text
    assert "| exportgate | 1 | 5.0 | 14.0 | - | 1.40 | 1.5 | 0 |" in text
    assert "| 1 | 3 | 300 | 1.5 | 200.0 | 3.2 |" in text  # throughput and API server: shared
    lines = report_b2.leads(PAIRED)
    assert "- 1 client, p99: **gatekeeper** (12.0); exportgate 14.0 (#2 of 2)" in lines
    assert not any("CREATEs/s" in line for line in lines)  # no per-system throughput to rank


def test_the_paired_ratio_to_none_is_a_target_row_with_its_interval() -> None:
    [(where, target, measured, verdict)] = report_b2.paired_none_rows(PAIRED)
    assert where == "B2 Pod CREATE p99 with exportgate vs no webhook, paired sweep 1 client"
    assert (target, measured, verdict) == (
        "issue 16: <= 1.5x",
        "1.4x, 95% interval 1.1-1.9x",
        "met",
    )
