"""What exportgate cannot read is denied, with the reason in the message: a tenant record that
does not parse, and a stored object extraction refused."""

from __future__ import annotations

from exportgate.core.engine import PolicyEngine
from exportgate.core.records import (
    INVALID_RECORD_RULE,
    UNREADABLE_OBJECT_RULE,
    invalid_record_decision,
    unreadable_object_decision,
)
from exportgate.core.types import Action, ObjectRef
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


def test_an_unreadable_stored_object_is_denied_for_a_tenant_that_may_have_anything() -> None:
    engine = PolicyEngine.build()
    ref = ObjectRef("v1", "Pod", "sprawl", "team-a")
    tenant = make_tenant(incorporation="SG")
    problem = "spec.containers: more than 256 containers"
    decision = unreadable_object_decision(engine, ref, "acme", tenant, problem, NOW)
    assert decision.action is Action.DENY
    assert decision.rule_id == UNREADABLE_OBJECT_RULE
    assert decision.object == ref and decision.tenant == "acme"
    assert "could not read Pod/team-a/sprawl" in decision.message
    assert problem in decision.message and "unknown accelerator" in decision.message
