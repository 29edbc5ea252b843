"""A tenant whose stored record does not parse is unusable, the same for every reader."""

from __future__ import annotations

from dataclasses import dataclass

from exportgate.core.engine import PolicyEngine
from exportgate.core.errors import InputError
from exportgate.core.records import INVALID_RECORD_RULE, decide_stored
from exportgate.core.types import Action, Tenant
from tests.core.builders import NOW, make_tenant, pinned, workload


@dataclass(frozen=True)
class Stored:
    tenant: Tenant | None
    error: InputError | None


def test_an_invalid_record_denies_with_its_reason_even_where_the_old_one_allowed() -> None:
    engine = PolicyEngine.build()
    gpu = workload(pinned("NVIDIA-H100-80GB-HBM3"))
    good = Stored(make_tenant(incorporation="SG"), None)
    assert decide_stored(engine, gpu, "acme", good, NOW).action is Action.ALLOW
    broken = Stored(None, InputError("'XX' is not a country", field="spec.incorporation"))
    decision = decide_stored(engine, gpu, "acme", broken, NOW)
    assert decision.action is Action.DENY
    assert decision.rule_id == INVALID_RECORD_RULE
    assert "Tenant record 'acme' is invalid" in decision.message
    assert "spec.incorporation" in decision.message


def test_no_record_is_decided_as_unbound() -> None:
    decision = decide_stored(
        PolicyEngine.build(), workload(pinned("NVIDIA-H100-80GB-HBM3")), "ghost", None, NOW
    )
    assert decision.action is Action.DENY
    assert decision.rule_id != INVALID_RECORD_RULE
