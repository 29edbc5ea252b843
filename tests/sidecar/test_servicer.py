"""Evaluate and Status over a real Unix socket: one decision per item, clear errors, deadlines.

Each decision must be in the decision log, under the id the answer carries, before the answer
arrives; an item that is refused (malformed, or too late) must leave nothing in the log.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc
import pytest
from exportgate_sidecar import SidecarServer, serve_in_background

from exportgate.v1 import policy_pb2 as pb
from exportgate.wire.client import PolicyClient, PolicyUnavailable
from tests.sidecar.builders import (
    NOW,
    SidecarFiles,
    actions,
    ask_one,
    gpu_item,
    model_item,
    plain_item,
)


async def test_a_batch_gets_one_complete_decision_per_item_in_order(
    client: PolicyClient, files: SidecarFiles
) -> None:
    items = [
        gpu_item("acme", name="a"),
        gpu_item("berlin", name="b"),
        gpu_item("pending", name="c"),
        plain_item("pending", name="d"),
    ]
    response = await client.evaluate_wire(items, at=NOW)

    assert actions(response.decisions) == [
        "ACTION_ALLOW",
        "ACTION_WARN",
        "ACTION_DENY",
        "ACTION_ALLOW",
    ]
    allow, warn, deny, plain = response.decisions
    assert [d.tenant for d in response.decisions] == ["acme", "berlin", "pending", "pending"]
    # The custom test policy decided the warning, with its citation and message.
    assert (warn.rule, warn.citation) == ("test-de-h100", "test citation 1.2.3")
    assert "NVIDIA H100 SXM" in warn.message and "berlin" in warn.message
    # The built-in KYC pack decided the denial and says what to do.
    assert deny.rule == "kyc-unverified-accelerator"
    # Provider policy implementing BIS KYC guidance, not the withdrawn 15 CFR 7.300-7.310
    # proposal (regulation-2026.md s6).
    assert deny.citation.startswith("Provider policy implementing BIS Know Your Customer")
    assert deny.verification == "Pending" and "pending" in deny.message
    assert deny.violations[0].remedy
    assert allow.rule == "" and allow.message
    assert allow.accelerator_class == "3A090.a" and plain.accelerator_class == ""
    # Every decision carries its log record id and the one policy version of the batch.
    assert len({d.decision_id for d in response.decisions}) == 4
    assert all(d.decision_id for d in response.decisions)
    assert {d.policy_version for d in response.decisions} == {response.policy_version}
    assert response.decisions[0].policy_versions["test-policy"] == "1.0.0"

    records = {r["id"]: r for r in files.decision_records()}
    for item, decision in zip(items, response.decisions, strict=True):
        record = records[decision.decision_id]
        assert record["action"] == pb.Action.Name(decision.action).removeprefix("ACTION_").lower()
        assert record["rule"] == (decision.rule or None)
        assert record["object"]["name"] == item.object.name
        assert record["policyVersion"] == response.policy_version


async def test_an_unknown_tenant_is_decided_as_unverified_and_told_there_is_no_record(
    client: PolicyClient,
) -> None:
    decision = await ask_one(client, gpu_item("nobody"), at=NOW)

    assert pb.Action.Name(decision.action) == "ACTION_DENY"
    assert decision.rule == "kyc-unverified-accelerator"
    assert decision.verification == "Unbound"
    assert decision.tenant == "nobody"
    assert "'nobody'" in decision.message
    assert "no tenant record" in decision.message
    assert "create the Tenant record 'nobody'" in decision.message


async def test_an_empty_tenant_is_decided_as_unbound(client: PolicyClient) -> None:
    decision = await ask_one(client, gpu_item(""), at=NOW)
    assert pb.Action.Name(decision.action) == "ACTION_DENY"
    assert decision.verification == "Unbound"


async def test_a_restricted_model_needs_a_verified_tenant(client: PolicyClient) -> None:
    # anthropic-claude carries vendor geographic terms in the built-in model catalogue.
    decision = await ask_one(client, model_item("pending", "anthropic/claude-opus-4"), at=NOW)
    assert [m.model for m in decision.models] == ["anthropic-claude"]
    assert decision.rule == "kyc-unverified-model"
    assert pb.Action.Name(decision.action) == "ACTION_DENY"


@pytest.mark.parametrize(
    ("break_item", "field"),
    [
        (lambda i: i.object.ClearField("kind"), "items[1].object.kind"),
        (lambda i: i.accelerators[0].ClearField("resource"), "items[1].accelerators[0].resource"),
        (lambda i: setattr(i.accelerators[0], "count", -2), "items[1].accelerators[0].count"),
        (
            lambda i: setattr(i.accelerators[0].hints[0], "operator", "Like"),
            "items[1].accelerators[0].hints[0].operator",
        ),
        (lambda i: i.models.add(), "items[1].models[0].reference"),
    ],
    ids=["no-kind", "no-resource", "negative-count", "bad-operator", "model-without-reference"],
)
async def test_a_malformed_item_fails_the_batch_with_invalid_argument_naming_the_field(
    client: PolicyClient, files: SidecarFiles, break_item: object, field: str
) -> None:
    bad = gpu_item("acme", name="bad")
    break_item(bad)  # type: ignore[operator]
    before = len(files.decision_records())

    with pytest.raises(PolicyUnavailable) as raised:
        await client.evaluate_wire([gpu_item("acme"), bad], at=NOW)

    assert raised.value.code is grpc.StatusCode.INVALID_ARGUMENT
    assert field in raised.value.detail
    assert not raised.value.retryable
    # Nothing of the batch was decided, so nothing was logged.
    assert len(files.decision_records()) == before


async def test_a_batch_above_the_limit_is_refused_before_any_work(files: SidecarFiles) -> None:
    config = files.config(max_batch_items=3)
    async with serve_in_background(config) as server, PolicyClient(server.unix_target) as c:
        with pytest.raises(PolicyUnavailable) as raised:
            await c.evaluate_wire([plain_item("acme", name=f"p{i}") for i in range(4)])
        assert raised.value.code is grpc.StatusCode.RESOURCE_EXHAUSTED
        assert "maximum of 3" in raised.value.detail
        assert len((await c.evaluate_wire([plain_item("acme")] * 3)).decisions) == 3


async def test_an_expired_deadline_is_deadline_exceeded_and_nothing_is_logged(
    client: PolicyClient, files: SidecarFiles
) -> None:
    uids = [f"late-{i}" for i in range(10)]
    for uid in uids:
        with pytest.raises(PolicyUnavailable) as raised:
            await client.evaluate_wire([gpu_item("acme", request_uid=uid)], timeout=0.0005)
        assert raised.value.code is grpc.StatusCode.DEADLINE_EXCEEDED
    # The server is still fine, and none of the late calls left a record (least of all an allow).
    await client.evaluate_wire([gpu_item("acme", request_uid="on-time")], at=NOW)
    logged = {r.get("requestUid") for r in files.decision_records()}
    assert "on-time" in logged
    assert logged.isdisjoint(uids)


@pytest.fixture
async def demanding_sidecar(files: SidecarFiles) -> AsyncIterator[SidecarServer]:
    """A sidecar that wants 30 s of deadline left: every ordinary call is too late for it."""
    async with serve_in_background(files.config(min_time_remaining=30.0)) as server:
        yield server


async def test_the_server_itself_refuses_a_call_whose_deadline_is_too_close(
    demanding_sidecar: SidecarServer, files: SidecarFiles
) -> None:
    async with PolicyClient(demanding_sidecar.unix_target, timeout=5.0) as c:
        with pytest.raises(PolicyUnavailable) as raised:
            await c.evaluate_wire([gpu_item("acme", request_uid="too-close")])
        assert raised.value.code is grpc.StatusCode.DEADLINE_EXCEEDED
        # The server's message, not the client's own timer: it says what to change.
        assert "raise the caller's timeout" in raised.value.detail
        assert len((await c.evaluate_wire([gpu_item("acme")], timeout=60)).decisions) == 1
    assert "too-close" not in {r.get("requestUid") for r in files.decision_records()}


async def test_status_describes_the_snapshot_being_served(
    client: PolicyClient, files: SidecarFiles
) -> None:
    status = await client.status()
    decision = await ask_one(client, plain_item("acme"))
    assert status.policy_version == decision.policy_version
    assert status.tenants == 3 and status.policies == 1
    assert status.policy_versions["test-policy"] == "1.0.0"
    assert status.decision_log == str(files.decision_log)


async def test_evaluating_at_a_given_instant_uses_that_instant(
    client: PolicyClient, files: SidecarFiles
) -> None:
    # acme's verification ends on 2027-01-01: the same question a year later is a denial.
    later = NOW.replace(year=2027)
    decisions = [
        await ask_one(client, gpu_item("acme"), at=NOW),
        await ask_one(client, gpu_item("acme"), at=later),
    ]
    assert actions(decisions) == ["ACTION_ALLOW", "ACTION_DENY"]
    assert decisions[1].verification == "Expired"


async def test_an_out_of_range_timestamp_is_invalid_argument_not_unknown(
    sidecar: SidecarServer,
) -> None:
    from exportgate.v1 import policy_pb2_grpc as pb_grpc

    request = pb.EvaluateRequest(items=[gpu_item("acme")])
    request.at.seconds = 10**12  # beyond year 9999
    async with grpc.aio.insecure_channel(sidecar.unix_target) as channel:
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await pb_grpc.PolicyServiceStub(channel).Evaluate(request, timeout=5.0)
    assert raised.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert "out of range" in (raised.value.details() or "")


async def test_items_past_the_caps_are_invalid_argument_naming_the_cap(
    client: PolicyClient, files: SidecarFiles
) -> None:
    """The caps of exportgate.core.limits hold for any gRPC caller, not only the webhook."""
    from exportgate.core.limits import MAX_ACCELERATOR_REQUESTS

    many = gpu_item("acme")
    template = many.accelerators[0]
    for i in range(MAX_ACCELERATOR_REQUESTS):
        added = many.accelerators.add()
        added.CopyFrom(template)
        added.hints[0].values[:] = [f"product-{i}"]
    before = len(files.decision_records())
    with pytest.raises(PolicyUnavailable) as raised:
        await client.evaluate_wire([many], at=NOW)
    assert raised.value.code is grpc.StatusCode.INVALID_ARGUMENT
    assert "MAX_ACCELERATOR_REQUESTS" in raised.value.detail

    # Long model references: the decision record itself would pass its cap.
    huge = model_item("acme", "x" * 60_000)
    for i in range(19):
        huge.models.add(reference=f"{i}" + "y" * 60_000, source="spec.containers[0].args")
    with pytest.raises(PolicyUnavailable) as raised:
        await client.evaluate_wire([huge], at=NOW)
    assert raised.value.code is grpc.StatusCode.INVALID_ARGUMENT
    assert "MAX_DECISION_RECORD_BYTES" in raised.value.detail
    assert len(files.decision_records()) == before  # nothing logged


async def test_one_huge_model_reference_is_checked_against_the_record_cap(
    client: PolicyClient, files: SidecarFiles
) -> None:
    """Red team 4, F8: a workload with a single request used to skip the record-size check, so
    one megabyte-long reference (a webhook body holds up to 8 MiB) was logged as it was."""
    from exportgate.core.limits import INLINE_REQUESTS, MAX_DECISION_RECORD_BYTES

    huge = model_item("acme", "a/" * (MAX_DECISION_RECORD_BYTES // 2) + "x")
    assert len(huge.models) + len(huge.accelerators) <= INLINE_REQUESTS  # the fast path
    before = len(files.decision_records())
    with pytest.raises(PolicyUnavailable) as raised:
        await client.evaluate_wire([huge], at=NOW)
    assert raised.value.code is grpc.StatusCode.INVALID_ARGUMENT
    assert "MAX_DECISION_RECORD_BYTES" in raised.value.detail
    assert len(files.decision_records()) == before  # nothing logged
    # An ordinary model is still decided (and logged) on the fast path.
    response = await client.evaluate_wire([model_item("acme", "meta-llama/Llama-3.1-8B")], at=NOW)
    assert len(response.decisions) == 1
    assert len(files.decision_records()) == before + 1
