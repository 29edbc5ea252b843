"""`exportgate check --decision-log` writes records `exportgate audit explain` can replay, as
the sidecar's: inputs in the record, policy and tenant snapshots beside the log, both under the
hash chain; a decision under a policy given with --policy replays from its snapshot after the
policy file is gone, while today's policy decides it otherwise."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from exportgate.cli.main import main
from tests.cli.test_check import AT, TENANTS, WORKLOADS, check, results

HOUSE_POLICY = """\
apiVersion: exportgate.dev/v1alpha1
kind: ExportPolicy
metadata: {name: house}
spec:
  version: "1"
  enforcementAction: deny
  rules:
    - id: t4-house-rule
      citation: "house rule 7"
      effective: "2024-01-01"
      match: {accelerators: {products: [nvidia-t4]}}
      jurisdictions: {anyIn: ["*"]}
      message: "{subject} is reserved for {tenant}'s on-premises work"
"""


def _records(log: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in log.read_text().splitlines()]


def _explain(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    code = main(["audit", "explain", *args])
    return code, capsys.readouterr().out


def test_every_checked_decision_replays_identically(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log = tmp_path / "logs" / "decisions.jsonl"
    log.parent.mkdir()
    plain = check("--tenant", TENANTS, "--at", AT, "-o", "json", WORKLOADS)
    logged = check("--tenant", TENANTS, "--at", AT, "-o", "json", "--decision-log", log, WORKLOADS)
    # The command's contract is unchanged by logging: same JSON, same exit code.
    assert (
        (logged.returncode, logged.stdout) == (plain.returncode, plain.stdout) == (3, plain.stdout)
    )
    records = _records(log)
    assert len(records) == len(results(plain)) == 9
    snapshots = {p.name for p in (log.parent / "snapshots").iterdir()}
    for record in records:
        assert record["operation"] == "CHECK" and record["inputs"] is not None
        snapshot = record["snapshot"]
        assert isinstance(snapshot, dict) and snapshot["policy"] and snapshot["tenant"]
        assert {
            f"{snapshot[k].removeprefix('sha256:')}.json" for k in ("policy", "tenant")
        } <= snapshots
        code, out = _explain(capsys, str(record["id"]), str(log))
        assert code == 0, out
        assert "IDENTICAL" in out and "With today's policy" in out and "the same outcome" in out


def test_a_decision_under_a_policy_since_dropped_replays_from_its_snapshot(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    policy = tmp_path / "house.yaml"
    policy.write_text(HOUSE_POLICY)
    log = tmp_path / "decisions.jsonl"
    process = check("--tenant", TENANTS, "--policy", policy, "--at", AT, "--decision-log", log,
                    WORKLOADS)  # fmt: skip
    assert process.returncode == 3, process.stderr
    [t4] = [r for r in _records(log) if r["rule"] == "t4-house-rule"]
    assert t4["action"] == "deny" and t4["citation"] == "house rule 7"
    policy.unlink()  # the provider dropped its house rule; the record still replays
    code, out = _explain(capsys, str(t4["id"]), str(log))
    assert code == 0, out
    assert "IDENTICAL" in out
    assert "it would come out differently" in out  # today: no house rule, so allowed


def test_an_edited_snapshot_is_tamper_evidence(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log = tmp_path / "decisions.jsonl"
    assert check("--tenant", TENANTS, "--at", AT, "--decision-log", log, WORKLOADS).returncode == 3
    record = next(r for r in _records(log) if r["action"] == "deny")
    snapshot = record["snapshot"]
    assert isinstance(snapshot, dict)
    tenant_file = tmp_path / "snapshots" / f"{snapshot['tenant'].removeprefix('sha256:')}.json"
    tenant_file.write_text(tenant_file.read_text().replace("CN", "SG"))
    code, out = _explain(capsys, str(record["id"]), str(log))
    assert code == 3, out
    assert "altered" in out and "tampered" in out
