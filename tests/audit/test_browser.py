"""The HTML report opened in a real headless Chromium: the charts render, and the numbers on
the page are the numbers of the CSV."""

from __future__ import annotations

import csv
import json
import re
from collections import Counter
from pathlib import Path

from exportgate.cli.main import main
from tests.audit.browser import dump_dom
from tests.audit.builders import StepClock, write_log
from tests.core.builders import NOW


def test_the_report_renders_its_charts_and_matches_the_csv(tmp_path: Path) -> None:
    logs = [tmp_path / "r0" / "decisions.jsonl", tmp_path / "r1" / "decisions.jsonl"]
    write_log(logs[0], 60, cluster="eu-1")
    write_log(logs[1], 40, cluster="us-2", component="sidecar@r1", clock=StepClock(NOW))
    html, table = tmp_path / "report.html", tmp_path / "report.csv"
    code = main(["audit", "report", "--html", str(html), "--csv", str(table), *map(str, logs)])
    assert code == 0
    assert "https://" not in re.sub(r"<script>.*?</script>", "", html.read_text(), flags=re.S)

    dom = dump_dom(html)
    with open(table, newline="") as stream:
        rows = list(csv.DictReader(stream))
    charts = json.loads(
        re.search(r'<script type="application/json" id="chart-data">(.*?)</script>', dom, re.S)
        .group(1)  # type: ignore[union-attr]
        .replace("<\\/", "</")
    )
    assert {"chart-over-time", "chart-deny-rule", "chart-clusters", "chart-kyc"} <= set(charts)
    for chart_id in charts:
        drawn = re.search(rf'<div class="chart[^"]*" id="{chart_id}"[^>]*>(.*?)</svg>', dom, re.S)
        assert drawn and "main-svg" in drawn.group(1), f"{chart_id} was not drawn"
        assert '<g class="trace bars"' in dom or 'class="bars"' in dom

    def figure(key: str) -> int:
        found = re.search(rf'data-figure="{key}"[^>]*>(\d+)<', dom)
        assert found, key
        return int(found.group(1))

    actions = Counter(r["action"] for r in rows)
    assert figure("decisions") == len(rows) == 100
    for action in ("allow", "deny", "warn", "dryrun"):
        assert figure(f"action-{action}") == actions.get(action, 0)
    assert figure("denials-total") == actions["deny"]
    assert figure("replayable") == sum(r["replayable"] == "yes" for r in rows)
    denial_rows = re.search(
        r'<table class="sortable" id="denials">.*?<tbody>(.*?)</tbody>', dom, re.S
    )
    assert denial_rows and denial_rows.group(1).count("<tr>") == actions["deny"]
    # Bars of the clusters chart carry the CSV's counts per cluster.
    clusters = {t["name"]: sum(t["y"]) for t in charts["chart-clusters"]["data"]}
    assert sum(clusters.values()) == len(rows)
    assert Counter(r["cluster"] for r in rows) == Counter(
        {
            c: sum(t["y"][t["x"].index(c)] for t in charts["chart-clusters"]["data"])
            for c in ("eu-1", "us-2")
        }
    )
