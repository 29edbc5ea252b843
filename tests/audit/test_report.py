"""`exportgate audit report` over replicas, rotated segments, a torn tail, an edited record, a
missing segment and another cluster's operator log: what it says about each file, and that
its figures, CSV and JSON agree."""

from __future__ import annotations

import csv
import json
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from exportgate.cli.main import main
from exportgate.decisionlog import DecisionLog
from exportgate.decisionlog.segments import rotated_segments
from tests.audit.builders import StepClock, write_log
from tests.core.builders import NOW


def run_report(
    tmp_path: Path, files: list[Path], *extra: str
) -> tuple[int, dict[str, Any], list[dict[str, str]]]:
    out_json, out_csv = tmp_path / "report.json", tmp_path / "report.csv"
    code = main(
        ["audit", "report", "--json", str(out_json), "--csv", str(out_csv), *extra]
        + [str(f) for f in files]
    )
    with open(out_csv, newline="") as stream:
        rows = list(csv.DictReader(stream))
    return code, json.loads(out_json.read_text()), rows


@pytest.fixture
def fleet(tmp_path: Path) -> dict[str, list[Path]]:
    """Logs of four webhook replicas in cluster eu-1 and an operator in cluster us-2."""
    logs = tmp_path / "logs"
    # replica-0: rotated into several segments, all intact.
    rotating = logs / "r0" / "decisions.jsonl"
    write_log(rotating, 160, component="sidecar@r0", max_bytes=64 * 1024)
    # replica-1: the writer crashed mid-write and was not restarted: a torn tail.
    torn = logs / "r1" / "decisions.jsonl"
    write_log(torn, 20, component="sidecar@r1", clock=StepClock(NOW, step=_minutes(5)))
    with open(torn, "ab") as stream:
        stream.write(b'{"type":"decision","tenant":"acme","act')
    # replica-2: someone turned a denial into an allow after the fact.
    edited = logs / "r2" / "decisions.jsonl"
    records = write_log(edited, 20, component="sidecar@r2", clock=StepClock(NOW, step=_minutes(3)))
    lines = edited.read_bytes().splitlines(keepends=True)
    target = next(i for i, r in enumerate(records) if r["action"] == "deny" and i >= 5)
    lines[target] = lines[target].replace(b'"action":"deny"', b'"action":"allow"')
    edited.write_bytes(b"".join(lines))
    # replica-3: rotated, and one of its middle segments is gone.
    gappy = logs / "r3" / "decisions.jsonl"
    write_log(gappy, 160, component="sidecar@r3", max_bytes=64 * 1024,
              clock=StepClock(NOW, step=_minutes(2)))  # fmt: skip
    segments = rotated_segments(gappy)
    assert len(segments) >= 3
    segments[1].unlink()
    # the operator, in another cluster, with a record kind this version does not know yet
    # and a compute threshold crossing from accounting.
    operator = logs / "op" / "decisions.jsonl"
    write_log(operator, 12, component="operator", cluster="us-2")
    with DecisionLog(operator, fsync=False, component="operator", cluster="us-2") as log:
        log.record_raw({"type": "compute-threshold-crossed", "tenant": "dragon",
                        "threshold": "1e25 FLOP", "windowDays": 30})  # fmt: skip
        log.record_raw({"type": "something-new", "note": "a kind added later"})
    return {
        "rotating": [*rotated_segments(rotating), rotating],
        "torn": [torn],
        "edited": [edited],
        "gappy": [*rotated_segments(gappy), gappy],
        "operator": [operator],
    }


def _minutes(n: int) -> Any:
    from datetime import timedelta

    return timedelta(minutes=n)


def test_the_report_says_what_is_wrong_with_each_file(
    tmp_path: Path, fleet: dict[str, list[Path]]
) -> None:
    everything = [p for paths in fleet.values() for p in paths]
    code, report, rows = run_report(tmp_path, everything)
    assert code == 1  # not every file is intact
    status = {f["path"]: f for f in report["files"]}
    for path in fleet["rotating"] + fleet["operator"]:
        assert status[str(path)]["status"] == "intact", status[str(path)]
    torn = status[str(fleet["torn"][0])]
    assert torn["status"] == "torn" and "line 21" in torn["text"]
    assert torn["records"] == 20
    edited = status[str(fleet["edited"][0])]
    assert edited["status"] == "tampered" and "hash mismatch" in edited["text"]
    gappy = [status[str(p)] for p in fleet["gappy"]]
    assert [g["status"] for g in gappy].count("missing-segments") == 1
    assert all(g["status"] in ("intact", "missing-segments") for g in gappy)
    # The tampered file contributes only the records before the edit.
    assert edited["records"] < 20
    by_file = Counter(r["file"] for r in rows)
    assert by_file[str(fleet["edited"][0])] == edited["records"]
    assert by_file[str(fleet["torn"][0])] == 20


def test_figures_csv_and_json_agree_and_are_merged_by_time(
    tmp_path: Path, fleet: dict[str, list[Path]]
) -> None:
    everything = [p for paths in fleet.values() for p in paths]
    _, report, rows = run_report(tmp_path, everything)
    figures = report["figures"]
    assert figures["decisions"] == len(rows) == len(report["decisions"])
    assert figures["byAction"] == dict(Counter(r["action"] for r in rows))
    times = [r["time"] for r in rows]
    assert times == sorted(times)
    assert set(figures["byCluster"]) == {"eu-1", "us-2"}
    assert figures["byCluster"]["us-2"] == dict(
        Counter(r["action"] for r in rows if r["cluster"] == "us-2")
    )
    assert figures["thresholdCrossings"]["total"] == 1
    assert figures["thresholdCrossings"]["records"][0]["tenant"] == "dragon"
    assert figures["otherRecords"]["something-new"] == 1
    assert figures["kycExpiries"] and figures["kycExpiries"][0]["tenant"] == "lapsed"
    denials = figures["denials"]
    assert sum(denials["byRule"].values()) == figures["byAction"]["deny"]
    assert {"3A090.a", "no accelerator"} <= set(denials["byAcceleratorClass"])
    assert {"anthropic", "openai"} <= set(denials["byModelVendor"])
    assert all(r["replayable"] == "yes" for r in rows)


def test_a_period_selects_decisions_but_every_file_is_still_verified(
    tmp_path: Path, fleet: dict[str, list[Path]]
) -> None:
    _, full, all_rows = run_report(tmp_path, fleet["rotating"])
    code, part, rows = run_report(
        tmp_path,
        fleet["rotating"],
        "--since",
        "2026-07-01T15:00:00Z",
        "--until",
        "2026-07-01T18:00:00Z",
    )
    assert code == 0
    assert 0 < len(rows) < len(all_rows)
    assert all("2026-07-01T15:00" <= r["time"] < "2026-07-01T18:00" for r in rows)
    assert [f["records"] for f in part["files"]] == [f["records"] for f in full["files"]]


def test_records_written_before_clusters_were_named_read_as_unknown(tmp_path: Path) -> None:
    legacy = Path(__file__).parents[1] / "decisionlog" / "fixtures" / "legacy.jsonl"
    code, report, rows = run_report(tmp_path, [legacy])
    assert code == 0  # its torn line was recovered by the writer
    assert report["files"][0]["status"] == "recovered"
    assert rows and {r["cluster"] for r in rows} == {"unknown"}
    assert {r["replayable"] for r in rows} == {"no"}


def test_bad_input_is_refused_with_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log = tmp_path / "d.jsonl"
    write_log(log, 2)
    assert main(["audit", "report", str(log)]) == 2
    assert "--html" in capsys.readouterr().err
    assert main(["audit", "report", "--csv", "-", "--since", "yesterday", str(log)]) == 2


def test_a_missing_file_is_reported_as_unreadable(tmp_path: Path) -> None:
    log = tmp_path / "d.jsonl"
    write_log(log, 3)
    code, report, rows = run_report(tmp_path, [log, tmp_path / "gone.jsonl"])
    assert code == 1
    assert [f["status"] for f in report["files"]] == ["intact", "unreadable"]
    assert len(rows) == 3


def test_files_read_in_parallel_give_the_same_report(
    tmp_path: Path, fleet: dict[str, list[Path]], monkeypatch: pytest.MonkeyPatch
) -> None:
    from exportgate.audit import collect as collect_module

    everything = [p for paths in fleet.values() for p in paths]

    def outcome(workers: int) -> tuple[Any, Any, list[list[str]]]:
        collected = collect_module.collect(everything, workers=workers)
        try:
            return (
                [s.to_dict() for s in collected.files],
                collected.figures.to_dict(),
                list(collected.merged_rows()),
            )
        finally:
            collected.close()

    sequential = outcome(1)
    monkeypatch.setattr(collect_module, "PARALLEL_FROM_BYTES", 0)
    assert outcome(2) == sequential


@pytest.mark.parametrize(
    ("step", "unit"),
    [(timedelta(minutes=1), "minute"), (timedelta(hours=1), "hour"), (timedelta(days=1), "day")],
)
def test_decisions_over_time_are_counted_per_minute_hour_or_day(
    tmp_path: Path, step: timedelta, unit: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from exportgate.audit import figures as figures_module
    from exportgate.audit.charts import over_time
    from exportgate.audit.collect import collect

    if unit == "day":  # a long period drops the minute counts
        monkeypatch.setattr(figures_module, "MINUTE_KEYS", 8)
    log = tmp_path / "d.jsonl"
    write_log(log, 12, clock=StepClock(NOW, step=step))
    collected = collect([log])
    collected.close()
    chart = over_time(collected.figures)
    assert f"per {unit}" in chart["layout"]["title"]["text"]
    assert sum(sum(trace["y"]) for trace in chart["data"]) == 12


def test_a_line_break_in_a_message_stays_one_csv_row(tmp_path: Path) -> None:
    from dataclasses import replace

    from tests.decisionlog.builders import make_decision

    decision = make_decision()
    broken = replace(decision.violations[0], message="first line\nsecond line")
    log = tmp_path / "d.jsonl"
    with DecisionLog(log, fsync=False) as writer:
        writer.record(replace(decision, violations=(broken,)))
        writer.record(decision)
    code, _, rows = run_report(tmp_path, [log])
    assert code == 0 and len(rows) == 2
    assert rows[0]["message"].startswith("first line second line")
    assert (tmp_path / "report.csv").read_text().count("\n") == 3
