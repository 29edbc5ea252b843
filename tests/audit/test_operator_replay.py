"""The operator's re-audit records carry their inputs and tenant record, so they replay too."""

from __future__ import annotations

from pathlib import Path

import pytest
from exportgate_operator.decisions import DecisionRecorder

from exportgate.cli.main import main
from exportgate.core.engine import PolicyEngine
from exportgate.decisionlog.snapshots import keep_policy_snapshot
from tests.audit.builders import TENANTS, WORKLOADS
from tests.core.builders import NOW


async def test_a_re_audit_decision_replays(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    engine = PolicyEngine.build()
    keep_policy_snapshot(engine)  # what the operator's world does when it builds its engine
    log = tmp_path / "operator.jsonl"
    recorder = DecisionRecorder(str(log), fsync=False)
    lapsed, pod = TENANTS["lapsed"], WORKLOADS[0]
    decision = engine.evaluate(pod, lapsed, NOW)
    try:
        [decision_id] = await recorder.record(
            [decision], extra={"policyVersion": engine.version, "reason": "expiry"},
            inputs=[(pod, lapsed)],
        )  # fmt: skip
    finally:
        recorder.close()
    assert main(["audit", "explain", decision_id, str(log)]) == 0
    out = capsys.readouterr().out
    assert "AUDIT of Pod team/train" in out and "verification Expired" in out
    assert "IDENTICAL" in out
