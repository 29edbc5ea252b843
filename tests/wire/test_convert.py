"""Both directions of `exportgate.wire.convert`, without a network: what goes over the wire
comes back as the same core value."""

from __future__ import annotations

import pytest

from exportgate.core.engine import PolicyEngine
from exportgate.core.errors import InputError
from exportgate.core.types import Action, Operator
from exportgate.v1 import policy_pb2 as pb
from exportgate.wire.convert import (
    MalformedAnswer,
    answer_from_proto,
    decision_to_proto,
    item_to_workload,
    workload_to_item,
)
from tests.core.builders import NOW, gpu, hint, make_tenant, model, pinned, workload

H100 = "NVIDIA-H100-80GB-HBM3"


def test_a_workload_survives_the_round_trip() -> None:
    sent = workload(
        pinned(H100), gpu(hint("nvidia.com/gpu.product", "A", "B", operator=Operator.NOT_IN))
    )
    item = workload_to_item(sent, tenant="acme", operation="create", username="alice")
    assert item.operation == pb.OPERATION_CREATE
    back = item_to_workload(item)
    assert back.ref == sent.ref
    assert back.accelerators == sent.accelerators
    assert back.models == sent.models


def test_an_item_with_a_bad_operator_names_the_field() -> None:
    item = workload_to_item(workload(pinned(H100)), tenant="acme")
    item.accelerators[0].hints[0].operator = "Like"
    with pytest.raises(InputError) as raised:
        item_to_workload(item, "items[3]")
    assert "items[3].accelerators[0].hints[0].operator" in raised.value.describe()


@pytest.mark.parametrize(
    "tenant",
    [
        make_tenant(incorporation="CN"),  # denied, with violations and jurisdictions
        make_tenant(incorporation="SG", headquarters="US"),  # allowed, two jurisdictions
        None,  # unbound
    ],
)
def test_a_decision_comes_back_as_the_same_core_decision(tenant: object) -> None:
    sent = workload(pinned(H100), models=("meta-llama/Llama-3.1-8B",))
    decision = PolicyEngine.build().evaluate(sent, tenant, NOW)  # type: ignore[arg-type]
    item = workload_to_item(sent, tenant="acme")
    wire = decision_to_proto(decision, decision_id="d-1", policy_version="p-1", reused=True)
    answer = answer_from_proto(wire, item)
    assert answer.decision == decision
    assert (answer.decision_id, answer.policy_version, answer.reused) == ("d-1", "p-1", True)
    # The one-word class is the core's, sent for old readers of field 14.
    assert wire.accelerator_class == decision.accelerator_class


def test_the_accelerator_class_is_the_most_restrictive_by_the_core_data() -> None:
    decision = PolicyEngine.build().evaluate(
        workload(pinned("Tesla-T4"), pinned(H100)), make_tenant(), NOW
    )
    assert decision.accelerator_class == "3A090.a"
    assert PolicyEngine.build().evaluate(model("gpt2"), make_tenant(), NOW).accelerator_class == ""


def test_an_answer_without_a_decision_id_is_refused() -> None:
    sent = workload(pinned(H100))
    decision = PolicyEngine.build().evaluate(sent, make_tenant(), NOW)
    wire = decision_to_proto(decision, decision_id="", policy_version="p")
    with pytest.raises(MalformedAnswer, match="without a decision id"):
        answer_from_proto(wire, workload_to_item(sent, tenant="acme"))


def test_an_answer_without_an_action_is_refused() -> None:
    sent = workload(pinned(H100))
    decision = PolicyEngine.build().evaluate(sent, make_tenant(), NOW)
    wire = decision_to_proto(decision, decision_id="d", policy_version="p")
    wire.action = pb.ACTION_UNSPECIFIED
    with pytest.raises(MalformedAnswer, match="no action"):
        answer_from_proto(wire, workload_to_item(sent, tenant="acme"))
    assert Action.ALLOW.admits
