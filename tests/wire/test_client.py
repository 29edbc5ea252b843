"""The one client against a real sidecar: answers are core decisions, failures one exception."""

from __future__ import annotations

import grpc
import pytest
from exportgate_sidecar import SidecarServer

from exportgate.core.types import Action
from exportgate.wire.client import PolicyClient, PolicyUnavailable
from tests.sidecar.builders import NOW, gpu_item, plain_item


async def test_answers_are_core_decisions_with_their_log_id(client: PolicyClient) -> None:
    denied, admitted = await client.evaluate([gpu_item("pending"), plain_item("acme")], at=NOW)
    assert denied.decision.action is Action.DENY
    assert denied.decision.accelerator_class == "3A090.a"
    assert denied.decision.object.name == "trainer"
    assert admitted.decision.action is Action.ALLOW
    assert denied.decision_id and admitted.decision_id
    status = await client.status()
    assert denied.policy_version == admitted.policy_version == status.policy_version
    assert status.loaded_at is not None and status.loaded_at.tzinfo is not None


async def test_an_invalid_item_is_one_exception_with_its_status(client: PolicyClient) -> None:
    bad = gpu_item("acme")
    bad.object.kind = ""
    with pytest.raises(PolicyUnavailable) as raised:
        await client.evaluate([bad])
    assert raised.value.code is grpc.StatusCode.INVALID_ARGUMENT
    assert "items[0].object.kind" in raised.value.describe()
    assert not raised.value.retryable


async def test_a_sidecar_that_is_gone_is_unavailable(sidecar: SidecarServer) -> None:
    async with PolicyClient(sidecar.unix_target + ".gone", timeout=0.5) as client:
        with pytest.raises(PolicyUnavailable) as raised:
            await client.evaluate([plain_item("acme")])
    assert raised.value.kind == "unavailable"
    assert raised.value.retryable


async def test_no_budget_left_is_refused_before_asking(client: PolicyClient) -> None:
    with pytest.raises(PolicyUnavailable) as raised:
        await client.evaluate([plain_item("acme")], timeout=0)
    assert raised.value.kind == "timeout"
