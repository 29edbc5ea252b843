"""`exportgate audit explain`: the record in words, and a replay from the policy snapshot kept
beside the log, independent of the code's current policy."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
import yaml

from exportgate.audit.replay import replay, snapshot_directories
from exportgate.cli.main import main
from exportgate.core.engine import PolicyEngine
from exportgate.core.policy import parse_policy_document
from exportgate.decisionlog import DecisionLog, LogEntry
from exportgate.decisionlog.snapshots import keep_policy_snapshot
from tests.audit.builders import TENANTS, WORKLOADS, StepClock, write_log
from tests.core.builders import NOW
from tests.decisionlog.builders import make_decision


def explain(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    code = main(["audit", "explain", *args])
    return code, capsys.readouterr().out


def test_every_decision_of_a_log_replays_identically(tmp_path: Path) -> None:
    log = tmp_path / "decisions.jsonl"
    records = write_log(log, 48)
    directories = snapshot_directories([str(log)])
    for record in records:
        result = replay(record, directories)
        assert result.same, (record["id"], result.differences)


def test_explain_says_who_asked_for_what_and_why_in_words(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log = tmp_path / "decisions.jsonl"
    records = write_log(log, 8)
    denied = next(r for r in records if r["tenant"] == "dragon" and r["action"] == "deny")
    code, out = explain(capsys, denied["id"], str(log))
    assert code == 0, out
    assert "user user-dragon" in out and "CREATE of Pod team/train" in out
    assert "For tenant dragon: verification Verified (evidence kyc-dragon)" in out
    assert "The tenant record then: Dragon Ltd., incorporated in CN" in out
    assert f"decided by rule {denied['rule']} citing {denied['citation']}" in out
    assert "nvidia-h100-sxm" in out
    assert "IDENTICAL" in out
    code, out = explain(capsys, "-o", "json", denied["id"], str(log))
    data = json.loads(out)
    assert code == 0
    assert data["replay"] == {"possible": True, "same": True, "differences": [], "caveats": []}


def _policy(version: str, action: str) -> dict[str, object]:
    return {
        "apiVersion": "exportgate.dev/v1alpha1",
        "kind": "ExportPolicy",
        "metadata": {"name": "provider-l4-watch"},
        "spec": {
            "version": version,
            "enforcementAction": action,
            "rules": [
                {
                    "id": "provider-no-l4-for-de",
                    "citation": "provider terms 4.2",
                    "effective": "2020-01-01",
                    "match": {"accelerators": {"products": ["nvidia-l4"]}},
                    "jurisdictions": {"anyIn": ["DE"]},
                    "message": "{subject} is not offered to tenant {tenant} (provider terms)",
                }
            ],
        },
    }


def test_a_decision_under_a_policy_changed_since_replays_from_its_snapshot(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    then = PolicyEngine.build(policies=[parse_policy_document(_policy("1.0.0", "deny"))])
    keep_policy_snapshot(then)
    log = tmp_path / "decisions.jsonl"
    berlin, l4_pod = TENANTS["berlin"], WORKLOADS[1]
    with DecisionLog(log, fsync=False, clock=StepClock()) as writer:
        record = writer.record_many(
            [
                LogEntry(
                    then.evaluate(l4_pod, berlin, NOW),
                    extra={"policyVersion": then.version},
                    workload=l4_pod,
                    tenant_record=berlin,
                )
            ]
        )[0]
    assert record["action"] == "deny" and record["rule"] == "provider-no-l4-for-de"
    # Today the provider only warns.
    today = tmp_path / "policy-today.yaml"
    today.write_text(yaml.safe_dump(_policy("2.0.0", "warn")))
    code, out = explain(capsys, "--policy", str(today), record["id"], str(log))
    assert code == 0, out
    assert "IDENTICAL" in out
    assert "With today's policy" in out and "differently" in out
    assert "action: logged 'deny'" in out and "now    'warn'" in out


def test_a_replay_that_differs_exits_1_and_shows_the_difference(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    engine = PolicyEngine.build()
    keep_policy_snapshot(engine)
    log = tmp_path / "decisions.jsonl"
    acme, h100_pod = TENANTS["acme"], WORKLOADS[0]
    # A record whose outcome the logged inputs and policy do not produce (a writer bug, or a
    # record built by hand): acme in SG may use an H100, yet the record says deny.
    wrong = replace(make_decision(tenant="acme", name="train", namespace="team"), evaluated_at=NOW)
    with DecisionLog(log, fsync=False) as writer:
        record = writer.record_many(
            [
                LogEntry(
                    wrong,
                    extra={"policyVersion": engine.version},
                    workload=h100_pod,
                    tenant_record=acme,
                )
            ]
        )[0]
    code, out = explain(capsys, record["id"], str(log))
    assert code == 1
    assert "DIFFERS" in out and "action: logged 'deny'" in out and "now    'allow'" in out


def test_a_record_from_before_snapshots_is_explained_but_not_replayed(
    capsys: pytest.CaptureFixture[str],
) -> None:
    legacy = Path(__file__).parents[1] / "decisionlog" / "fixtures" / "legacy.jsonl"
    first = json.loads(legacy.read_bytes().splitlines()[0])
    code, out = explain(capsys, first["id"], str(legacy))
    assert code == 3
    assert "Decision " + first["id"] in out
    assert "NOT POSSIBLE" in out and "predates snapshots" in out


def test_an_altered_snapshot_is_named_as_tampered(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log = tmp_path / "decisions.jsonl"
    record = write_log(log, 2)[0]
    snapshot = (
        tmp_path / "snapshots" / (record["snapshot"]["policy"].removeprefix("sha256:") + ".json")
    )
    snapshot.write_bytes(snapshot.read_bytes().replace(b'"deny"', b'"warn"'))
    code, out = explain(capsys, record["id"], str(log))
    assert code == 3
    assert "was altered" in out and "tampered" in out


def test_snapshots_are_content_addressed_and_shared(tmp_path: Path) -> None:
    first = write_log(tmp_path / "a" / "decisions.jsonl", 4)
    second = write_log(tmp_path / "a" / "other.jsonl", 4, component="sidecar@r1")
    assert first[0]["snapshot"]["policy"] == second[0]["snapshot"]["policy"]
    files = sorted((tmp_path / "a" / "snapshots").iterdir())
    assert len(files) == 1 + len(TENANTS)  # one policy snapshot, one per tenant record


def test_unknown_ids_are_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    log = tmp_path / "decisions.jsonl"
    write_log(log, 2)
    assert main(["audit", "explain", "no-such-id", str(log)]) == 2
    assert "no decision with id no-such-id" in capsys.readouterr().err


def test_a_tenant_record_that_cannot_be_kept_does_not_stop_the_decision_being_logged(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    engine = PolicyEngine.build()
    keep_policy_snapshot(engine)
    odd = replace(TENANTS["acme"], legal_name=object())  # type: ignore[arg-type]
    log = tmp_path / "decisions.jsonl"
    with DecisionLog(log, fsync=False) as writer:
        record = writer.record_many(
            [
                LogEntry(
                    engine.evaluate(WORKLOADS[0], TENANTS["acme"], NOW),
                    extra={"policyVersion": engine.version},
                    workload=WORKLOADS[0],
                    tenant_record=odd,
                )
            ]
        )[0]
    assert record["snapshot"] == {"policy": record["snapshot"]["policy"], "tenant": None}
    code, out = explain(capsys, record["id"], str(log))
    assert code == 3 and "was not kept beside the log" in out


def test_a_replay_says_when_data_the_core_reads_itself_has_changed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from exportgate.core import data as core_data

    log = tmp_path / "decisions.jsonl"
    record = write_log(log, 2)[0]
    real = core_data.load_data

    def changed(name: str) -> object:
        loaded = real(name)
        return {**loaded, "version": "changed"} if name == "licence-review.yaml" else loaded

    monkeypatch.setattr(core_data, "load_data", changed)
    code, out = explain(capsys, record["id"], str(log))
    assert code == 0
    assert "Note: licence-review.yaml has changed since this snapshot" in out
