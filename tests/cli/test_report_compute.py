"""`exportgate report compute` over ComputeRun exports of two clusters."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import pytest

from exportgate.cli.main import main


def run(name: str, tenant: str, daily: dict[str, float], ops_per_second: float,
        crossings: tuple[str, ...] = ()) -> dict[str, Any]:
    seconds = sum(daily.values())
    return {
        "apiVersion": "exportgate.dev/v1alpha1",
        "kind": "ComputeRun",
        "metadata": {"name": f"job-{name}-abc123", "namespace": f"{tenant}-ns"},
        "spec": {"tenant": tenant, "owner": {"kind": "Job", "name": name}},
        "status": {
            "state": "Finished",
            "acceleratorSeconds": seconds,
            "estimatedOperations": seconds * ops_per_second,
            "peakCapacityOpsPerSecond": 8 * ops_per_second,
            "utilisation": 1.0,
            "products": [{"product": "nvidia-h100-sxm", "identified": True,
                          "acceleratorSeconds": seconds, "peakOpsPerSecond": ops_per_second}],
            "daily": [{"day": d, "acceleratorSeconds": s} for d, s in daily.items()],
            "crossings": [{"tier": c} for c in crossings],
        },
    }


@pytest.fixture
def exports(tmp_path: Path) -> tuple[Path, Path]:
    a = tmp_path / "east.json"
    b = tmp_path / "west.json"
    a.write_text(json.dumps({"apiVersion": "v1", "kind": "List", "items": [
        run("pretrain", "acme", {"2026-11-01": 36000, "2026-11-02": 36000}, 1979e12,
            ("compute-monitor-1e23",)),
    ]}))
    b.write_text(json.dumps({"apiVersion": "v1", "kind": "List", "items": [
        run("tune", "acme", {"2026-11-02": 3600}, 624e12),
        run("other", "globex", {"2026-10-01": 3600}, 130e12),
    ]}))
    return a, b


def test_json_over_two_clusters_and_a_period(
    exports: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    a, b = exports
    assert main(["report", "compute", str(a), "--cluster", f"west={b}",
                 "--since", "2026-11-02", "--until", "2026-11-03", "-o", "json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert "upper bound" in report["estimation"]
    (acme,) = report["tenants"]  # globex used nothing in the period
    assert acme["tenant"] == "acme" and acme["clusters"] == ["east", "west"]
    assert acme["accelerator_hours"] == pytest.approx(11.0)
    assert acme["estimated_operations"] == pytest.approx(36000 * 1979e12 + 3600 * 624e12)
    assert acme["crossings"] == ["compute-monitor-1e23 (Job/pretrain)"]


def test_text_and_csv(exports: tuple[Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    a, b = exports
    assert main(["report", "compute", str(a), str(b)]) == 0
    text = capsys.readouterr().out
    assert "upper bound" in text and "acme" in text and "globex" in text
    assert main(["report", "compute", str(a), str(b), "-o", "csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert {r["tenant"] for r in rows} == {"acme", "globex"}
    assert float(rows[0]["accelerator_hours"]) == 20.0


def test_bad_input_is_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    wrong = tmp_path / "pods.json"
    wrong.write_text(json.dumps({"kind": "List", "items": [{"kind": "Pod"}]}))
    assert main(["report", "compute", str(wrong)]) == 2
    assert "ComputeRun" in capsys.readouterr().err
    assert main(["report", "compute", "--cluster", "nofile"]) == 2
    assert main(["report", "compute"]) == 2


def test_a_tenant_crossing_is_listed_once_with_the_tenant_figures(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Eight small runs crossed the capacity tier together: every run carries a copy of the
    crossing; the report lists it once for the tenant, and each run says it was part of it."""
    items = []
    for n in range(8):
        item = run(f"small-{n}", "acme", {"2026-11-02": 3600}, 1979e12)
        item["status"]["tenantCrossings"] = [{
            "tier": "compute-capacity-1e20", "level": "report", "metric": "capacity",
            "scope": "tenant", "threshold": 1e20, "value": 1.2e20,
            "at": "2026-11-02T00:11:40Z", "runCount": 8, "accelerators": 60640,
            "runValue": 1.5e19, "runAccelerators": 7580, "decisionId": "d-1", "notified": True,
        }]
        items.append(item)
    export = tmp_path / "east.json"
    export.write_text(json.dumps({"apiVersion": "v1", "kind": "List", "items": items}))

    assert main(["report", "compute", str(export), "-o", "json"]) == 0
    report = json.loads(capsys.readouterr().out)
    (acme,) = report["tenants"]
    (crossing,) = acme["tenant_crossings"]
    assert crossing == {
        "cluster": "east", "tier": "compute-capacity-1e20", "level": "report",
        "crossed_at": "2026-11-02T00:11:40Z", "ended_at": None, "value": 1.2e20,
        "threshold": 1e20, "runs": 8, "accelerators": 60640, "decision_id": "d-1",
    }
    assert acme["crossings"] == ["compute-capacity-1e20 (tenant, 8 runs)"]
    assert acme["peak_capacity"] == 8 * 1979e12  # the existing key: largest single run
    assert {tuple(r["tenant_crossings"]) for r in report["runs"]} == {
        ("compute-capacity-1e20@2026-11-02T00:11:40Z",)}

    assert main(["report", "compute", str(export)]) == 0
    text = capsys.readouterr().out
    assert text.count("compute-capacity-1e20 (report, 1e+20) at 2026-11-02T00:11:40Z") == 1
    assert "60640 accelerators in 8 runs, still open" in text

    assert main(["report", "compute", str(export), "-o", "csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert rows[0]["tenant_crossings"] == "compute-capacity-1e20@2026-11-02T00:11:40Z"
    assert list(rows[0])[:16] == [  # the existing columns, unchanged and first
        "cluster", "namespace", "name", "tenant", "owner", "state", "first_seen", "last_seen",
        "accelerator_hours", "estimated_operations", "run_estimated_operations",
        "peak_capacity", "utilisation", "products", "unidentified_hours", "crossings"]


def test_a_group_crossing_is_listed_once_with_every_member_tenants_share(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Two subsidiaries of one parent crossed the capacity tier together (each under it): every
    run carries a copy; the report lists the crossing once, with each member's share, and each
    member tenant's CROSSED names it."""
    members = [
        {"tenant": "nimbus-my", "value": 3e19, "accelerators": 15160, "runCount": 4},
        {"tenant": "nimbus-sg", "value": 3e19, "accelerators": 15160, "runCount": 4},
    ]
    items = []
    for n in range(8):
        tenant = members[n % 2]["tenant"]
        item = run(f"small-{n}", str(tenant), {"2026-11-02": 3600}, 1979e12)
        item["status"]["groupCrossings"] = [{
            "tier": "compute-capacity-1e20", "level": "report", "metric": "capacity",
            "scope": "group", "group": "nimbus holdings ltd", "groupName": "Nimbus Holdings Ltd.",
            "threshold": 1e20, "value": 6e19 * 2, "at": "2026-11-02T00:11:40Z",
            "tenantCount": 2, "runCount": 8, "accelerators": 30320, "members": members,
            "links": [{"party": "Nimbus Holdings Ltd.", "namedBy": [
                {"tenant": "nimbus-my", "role": "ultimateParent"},
                {"tenant": "nimbus-sg", "role": "ultimateParent"}]}],
            "runValue": 1.5e19, "runAccelerators": 3790, "decisionId": "d-9", "notified": True,
        }]
        items.append(item)
    export = tmp_path / "east.json"
    export.write_text(json.dumps({"apiVersion": "v1", "kind": "List", "items": items}))

    assert main(["report", "compute", str(export), "-o", "json"]) == 0
    report = json.loads(capsys.readouterr().out)
    (crossing,) = report["group_crossings"]
    assert crossing["group"] == "nimbus holdings ltd" and crossing["cluster"] == "east"
    assert crossing["tenant_count"] == 2 and crossing["runs"] == 8
    assert crossing["decision_id"] == "d-9" and crossing["ended_at"] is None
    assert [m["tenant"] for m in crossing["tenants"]] == ["nimbus-my", "nimbus-sg"]
    for tenant in report["tenants"]:
        assert tenant["crossings"] == [
            "compute-capacity-1e20 (group Nimbus Holdings Ltd., 2 tenants)"]
        assert tenant["tenant_crossings"] == []
    assert {tuple(r["group_crossings"]) for r in report["runs"]} == {
        ("compute-capacity-1e20@2026-11-02T00:11:40Z@nimbus holdings ltd",)}

    assert main(["report", "compute", str(export)]) == 0
    text = capsys.readouterr().out
    assert text.count("Nimbus Holdings Ltd. east: compute-capacity-1e20") == 1
    assert "30320 accelerators in 8 runs of 2 tenants, still open; decision d-9" in text
    assert "by tenant: nimbus-my 15160 (3.00e+19 ops/s), nimbus-sg 15160" in text

    assert main(["report", "compute", str(export), "-o", "csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert list(rows[0])[-2:] == ["tenant_crossings", "group_crossings"]  # appended last
    assert rows[0]["group_crossings"] == (
        "compute-capacity-1e20@2026-11-02T00:11:40Z@nimbus holdings ltd")

    # Only one member asked for: the crossing is still listed, naming both members.
    assert main(["report", "compute", str(export), "-o", "json", "--tenant", "nimbus-sg"]) == 0
    (crossing,) = json.loads(capsys.readouterr().out)["group_crossings"]
    assert crossing["tenant_count"] == 2
