"""The charts of the HTML report, as Plotly figure specifications (plain data).

Plotly.js draws them in the browser from the JSON built here; the library itself is inlined
into the page from the `plotly` package, so the file opens without network access.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from typing import Any, Final

from exportgate.audit.figures import DENY, Figures, threshold_party

ACTION_COLOURS: Final = {
    "allow": "#2e7d32",
    "dryrun": "#78909c",
    "warn": "#f9a825",
    "deny": "#c62828",
}
TOP: Final = 20
DAILY_AFTER_HOURS: Final = 72


def _layout(title: str, **extra: Any) -> dict[str, Any]:
    return {
        "title": {"text": title},
        "margin": {"l": 60, "r": 20, "t": 50, "b": 60},
        "height": 360,
        **extra,
    }


def _short(label: str, limit: int = 48) -> str:
    # Citations are long; the axis shows their start, the hover text all of it.
    return label if len(label) <= limit else label[: limit - 1] + "…"


def _hbar(title: str, counts: Counter[str], colour: str = ACTION_COLOURS[DENY]) -> dict[str, Any]:
    top = counts.most_common(TOP)[::-1]  # largest at the top of a horizontal bar chart
    return {
        "data": [
            {
                "type": "bar",
                "orientation": "h",
                "x": [n for _, n in top],
                "y": [_short(label) for label, _ in top],
                "hovertext": [label for label, _ in top],
                "marker": {"color": colour},
            }
        ],
        "layout": _layout(title, yaxis={"automargin": True}, height=max(260, 60 + 24 * len(top))),
    }


def over_time(figures: Figures) -> dict[str, Any]:
    """Stacked bars per minute, hour or day, whichever gives a readable number of bars."""
    hours = sorted({hour for hour, _ in figures.by_hour_action})
    span = _hours_between(hours[0], hours[-1]) if hours else 0
    buckets: Counter[tuple[str, str]] = Counter()
    if figures.by_minute_action is not None and span <= 3:
        unit = "minute"
        buckets.update(figures.by_minute_action)
    else:
        unit = "hour" if span <= DAILY_AFTER_HOURS else "day"
        for (hour, action), count in figures.by_hour_action.items():
            buckets[(hour + ":00" if unit == "hour" else hour[:10], action)] += count
    xs = sorted({b for b, _ in buckets})
    order = list(ACTION_COLOURS)
    actions = sorted({a for _, a in buckets}, key=lambda a: order.index(a) if a in order else 99)
    return {
        "data": [
            {
                "type": "bar",
                "name": action,
                "x": xs,
                "y": [buckets[(x, action)] for x in xs],
                "marker": {"color": ACTION_COLOURS.get(action, "#5c6bc0")},
            }
            for action in actions
        ],
        "layout": _layout(f"Decisions per {unit} by action (UTC)", barmode="stack"),
    }


def _hours_between(first: str, last: str) -> int:
    def parse(hour: str) -> datetime:
        return datetime.fromisoformat(hour + ":00:00+00:00")

    return int((parse(last) - parse(first)).total_seconds() // 3600)


def by_group(title: str, counter: Counter[tuple[str, str]], top: int = TOP) -> dict[str, Any]:
    totals: Counter[str] = Counter()
    for (group, _), count in counter.items():
        totals[group] += count
    groups = [g for g, _ in totals.most_common(top)]
    actions = sorted({a for _, a in counter})
    return {
        "data": [
            {
                "type": "bar",
                "name": action,
                "x": groups,
                "y": [counter[(g, action)] for g in groups],
                "marker": {"color": ACTION_COLOURS.get(action, "#5c6bc0")},
            }
            for action in actions
        ],
        "layout": _layout(title, barmode="stack"),
    }


def all_charts(figures: Figures) -> dict[str, dict[str, Any]]:
    """Chart id -> Plotly figure; charts without data are left out (the page says so)."""
    denied: Counter[str] = Counter({t: c[DENY] for t, _, c in figures.tenants() if c[DENY]})
    expiries: Counter[str] = Counter()
    for (tenant, _), (count, _, _) in figures.kyc_expiries.items():
        expiries[tenant] += count
    thresholds: Counter[str] = Counter(threshold_party(r) for r in figures.thresholds)
    charts = {
        "chart-over-time": over_time(figures) if figures.total else None,
        "chart-deny-rule": _hbar("Denials by deciding rule", figures.deny_by_rule),
        "chart-deny-citation": _hbar("Denials by citation", figures.deny_by_citation),
        "chart-tenants": by_group("Decisions by tenant (top 20)", figures.by_tenant_action),
        "chart-top-denied": _hbar("Top denied tenants", denied),
        "chart-deny-class": _hbar("Denials by accelerator class", figures.deny_by_class),
        "chart-deny-vendor": _hbar("Denials by model vendor", figures.deny_by_vendor),
        "chart-clusters": by_group("Decisions by cluster", figures.by_cluster_action),
        "chart-kyc": _hbar("Denials caused by expired KYC, by tenant", expiries, "#6a1b9a"),
        "chart-thresholds": _hbar("Compute threshold crossings", thresholds, "#ef6c00"),
    }
    return {
        key: chart
        for key, chart in charts.items()
        if chart is not None and any(trace.get("x") for trace in chart["data"])
    }
