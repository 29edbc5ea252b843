"""Stage figures from a trace file written by `bench.stagetrace` (one JSON line per review)."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from bench.stagetrace import STAGES
from bench.stats import percentile

ROWS = (*STAGES, "rest", "total", "wire")


def stages_of(review: dict[str, float]) -> dict[str, float]:
    """One review's stages in ms: ``durable`` is the journal's wait less the record's
    rendering; ``rest`` is the review less every named stage."""
    ms = {name: seconds * 1000 for name, seconds in review.items()}
    out = {stage: ms.get(stage, 0.0) for stage in STAGES if stage != "durable"}
    out["durable"] = max(0.0, ms.get("journal", 0.0) - ms.get("record", 0.0))
    out["total"] = ms["total"]
    out["rest"] = max(0.0, out["total"] - sum(out[stage] for stage in STAGES))
    return out


def summarise(lines: Iterable[str]) -> dict[str, Any]:
    """p50/p90/p99/mean per stage over the decided reviews (those that were recorded), and
    which stage was the largest in the slowest 2% of them."""
    reviews, wire = [], []
    for line in lines:
        entry = json.loads(line)
        if "review" in entry and "journal" in entry["review"]:
            reviews.append(stages_of(entry["review"]))
        elif "wire" in entry:
            wire.append(entry["wire"] * 1000)
    rows: dict[str, dict[str, float]] = {}
    columns = {row: [r[row] for r in reviews] for row in ROWS if row != "wire"}
    columns["wire"] = wire
    for row, values in columns.items():
        if not values:
            continue
        rows[row] = {
            "p50": percentile(values, 50),
            "p90": percentile(values, 90),
            "p99": percentile(values, 99),
            "mean": sum(values) / len(values),
        }
    slowest = sorted(reviews, key=lambda r: r["total"])[-max(1, len(reviews) // 50) :]
    dominant = Counter(
        max((*STAGES, "rest"), key=lambda stage: review[stage]) for review in slowest
    )
    return {"reviews": len(reviews), "stages": rows, "slowest_2pct_dominant": dict(dominant)}


def render(summary: dict[str, Any]) -> str:
    out = [f"{summary['reviews']} decided reviews; ms", f"{'stage':9s} {'p50':>7s} {'p90':>7s} "
           f"{'p99':>7s} {'mean':>7s}"]  # fmt: skip
    for row, figures in summary["stages"].items():
        out.append(
            f"{row:9s} {figures['p50']:7.3f} {figures['p90']:7.3f} {figures['p99']:7.3f} "
            f"{figures['mean']:7.3f}"
        )
    dominant = ", ".join(
        f"{stage} {count}" for stage, count in sorted(
            summary["slowest_2pct_dominant"].items(), key=lambda kv: -kv[1]
        )
    )  # fmt: skip
    out.append(f"largest stage in the slowest 2%: {dominant or '-'}")
    return "\n".join(out)


def report(path: Path) -> str:
    return render(summarise(path.read_text(encoding="utf-8").splitlines()))
