"""The stage trace: a real webhook, loaded through its sitecustomize, writes one line per review
whose stages add up; and the table reads those lines."""

from __future__ import annotations

import json
from pathlib import Path

from bench.harness import SidecarOptions, Stack, WebhookOptions
from bench.load import drive
from bench.stagetrace import ENV, STAGES
from bench.stagetrace.report import render, stages_of, summarise

SITE = Path(__file__).resolve().parents[2] / "bench" / "stagetrace" / "site"


def test_a_traced_webhook_charges_each_review_to_its_stages(tmp_path: Path) -> None:
    trace = tmp_path / "trace.jsonl"
    webhook = WebhookOptions(env={ENV: str(trace), "PYTHONPATH": str(SITE)})
    with Stack(
        tmp_path / "stack", sidecar=SidecarOptions(cache_size=0), webhook=webhook, embedded=True
    ) as stack:
        load = drive(
            stack.url + "/validate",
            stack.tls.ca_path,
            concurrency=1,
            duration=1.0,
            distinct=10**9,
            guarded_only=True,
        )
    assert load.ok > 0 and load.failed == 0
    summary = summarise(trace.read_text().splitlines())
    # Every guarded review was decided and recorded; the warm-up's too.
    assert summary["reviews"] >= load.ok
    stages = summary["stages"]
    for stage in (*STAGES, "rest", "total", "wire"):
        assert stages[stage]["p50"] >= 0, stage
    assert stages["durable"]["p50"] > 0  # an fsync per review, at one client
    assert stages["extract"]["p50"] > 0 and stages["record"]["p50"] > 0
    assert stages["wire"]["p50"] >= stages["total"]["p50"] * 0.5
    assert "largest stage in the slowest 2%" in render(summary)


def test_stages_add_up_to_the_review() -> None:
    seconds = {"parse": 0.0001, "extract": 0.0002, "decide": 0.0001, "record": 0.0003,
               "journal": 0.0008, "encode": 0.00001, "total": 0.002}  # fmt: skip
    stages = stages_of(seconds)
    assert round(stages["durable"], 6) == 0.5  # the journal's wait less the rendering
    assert round(sum(stages[s] for s in (*STAGES, "rest")), 6) == 2.0


def test_the_summary_names_the_stage_of_the_slowest_reviews() -> None:
    fast = {"parse": 0.0001, "journal": 0.0004, "record": 0.0002, "total": 0.001}
    slow = {"parse": 0.0001, "journal": 0.0090, "record": 0.0002, "total": 0.010}
    lines = [json.dumps({"review": fast})] * 99 + [json.dumps({"review": slow})]
    lines += [json.dumps({"review": {"total": 0.0005}})]  # not decided (unguarded): left out
    lines += [json.dumps({"wire": 0.0012})]
    summary = summarise(lines)
    assert summary["reviews"] == 100
    assert summary["slowest_2pct_dominant"] == {"durable": 1, "rest": 1}
    assert summary["stages"]["wire"]["p50"] == 1.2
