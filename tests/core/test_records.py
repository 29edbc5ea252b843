"""A tenant whose stored record does not parse is unusable, with the reason in the message."""

from __future__ import annotations

from exportgate.core.engine import PolicyEngine
from exportgate.core.records import INVALID_RECORD_RULE, invalid_record_decision
from exportgate.core.types import Action
from tests.core.builders import NOW, make_tenant, pinned, workload


def test_an_invalid_record_denies_with_its_reason_even_where_the_old_one_allowed() -> None:
    engine = PolicyEngine.build()
    gpu = workload(pinned("NVIDIA-H100-80GB-HBM3"))
    assert engine.evaluate(gpu, make_tenant(incorporation="SG"), NOW).action is Action.ALLOW
    problem = "Tenant/acme: field spec.incorporation: 'XX' is not an assigned country code"
    decision = invalid_record_decision(engine, gpu, "acme", problem, NOW)
    assert decision.action is Action.DENY
    assert decision.rule_id == INVALID_RECORD_RULE
    assert "Tenant record 'acme' is invalid" in decision.message
    assert "spec.incorporation" in decision.message
