"""Questions asked while a call is out share one Evaluate call, against a real sidecar; a
question with nobody to share with is asked at once; each caller still gets its own answer, its
own logged decision, and its own failure."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence

import grpc
import pytest
from exportgate_sidecar import SidecarServer
from exportgate_sidecar.server import serve_in_background

from exportgate.core.types import Action
from exportgate.v1 import policy_pb2 as pb
from exportgate.wire.batch import BatchingClient
from exportgate.wire.client import PolicyClient, PolicyUnavailable
from exportgate.wire.convert import Answer
from tests.sidecar.builders import SidecarFiles, gpu_item, plain_item


class _Counting:
    """The real client, counting the calls that reach it and their sizes."""

    def __init__(self, client: PolicyClient) -> None:
        self.client = client
        self.calls: list[int] = []

    async def evaluate(
        self, items: Sequence[pb.EvaluateItem], *, timeout: float | None = None
    ) -> list[Answer]:
        self.calls.append(len(items))
        return await self.client.evaluate(items, timeout=timeout)


def _logged_ids(sidecar: SidecarServer) -> list[str]:
    assert sidecar.journal is not None
    lines = sidecar.journal.path.read_text().splitlines()
    return [r["id"] for r in map(json.loads, lines) if r.get("type") == "decision"]


async def test_questions_asked_while_a_call_is_out_share_one_call(
    client: PolicyClient, sidecar: SidecarServer
) -> None:
    counting = _Counting(client)
    batcher = BatchingClient(counting)
    items = [gpu_item("pending"), plain_item("acme"), gpu_item("pending"), plain_item("acme")]
    answers = await asyncio.gather(*(batcher.evaluate([i], timeout=5.0) for i in items))
    # The first, with nobody to share with, is asked at once; the three asked in the same turn
    # while its call is out go together.
    assert counting.calls == [1, 3]
    actions = [a.decision.action for (a,) in answers]
    assert actions == [Action.DENY, Action.ALLOW, Action.DENY, Action.ALLOW]
    ids = [a.decision_id for (a,) in answers]
    assert len(set(ids)) == 4
    assert set(ids) <= set(_logged_ids(sidecar))  # each durably logged before it was answered


async def test_a_lone_question_is_sent_at_once_and_batches_are_capped(
    client: PolicyClient,
) -> None:
    counting = _Counting(client)
    sizes: list[int] = []
    batcher = BatchingClient(counting, max_items=2, on_call=sizes.append)
    (alone,) = await asyncio.wait_for(batcher.evaluate([plain_item("acme")], timeout=5.0), 5)
    assert alone.decision.action is Action.ALLOW
    await asyncio.gather(*(batcher.evaluate([plain_item("acme")], timeout=5.0) for _ in range(5)))
    assert counting.calls == sizes == [1, 1, 2, 2]


async def test_an_invalid_item_fails_alone(client: PolicyClient, sidecar: SidecarServer) -> None:
    counting = _Counting(client)
    batcher = BatchingClient(counting)
    bad = gpu_item("acme")
    bad.object.kind = ""
    results = await asyncio.gather(
        batcher.evaluate([gpu_item("pending")], timeout=5.0),  # asked at once, alone
        batcher.evaluate([bad], timeout=5.0),
        batcher.evaluate([plain_item("acme")], timeout=5.0),
        return_exceptions=True,
    )
    denied, refused, admitted = results
    assert isinstance(refused, PolicyUnavailable)
    assert refused.code is grpc.StatusCode.INVALID_ARGUMENT
    assert "items[0].object.kind" in refused.describe()  # asked alone: it is item 0
    assert isinstance(denied, list) and denied[0].decision.action is Action.DENY
    assert isinstance(admitted, list) and admitted[0].decision.action is Action.ALLOW
    assert counting.calls == [1, 2, 1, 1]  # the refused batch logged nothing; then one by one
    assert len(_logged_ids(sidecar)) == 2


async def test_a_sidecar_taking_smaller_batches_answers_each_alone(
    files: SidecarFiles,
) -> None:
    config = files.config(max_batch_items=1)
    async with (
        serve_in_background(config, ready_timeout=20) as small,
        PolicyClient(small.unix_target, timeout=5.0) as client,
    ):
        counting = _Counting(client)
        batcher = BatchingClient(counting)
        answers = await asyncio.gather(
            *(batcher.evaluate([plain_item("acme")], timeout=5.0) for _ in range(3))
        )
    assert [a.decision.action for (a,) in answers] == [Action.ALLOW] * 3
    assert counting.calls == [1, 2, 1, 1]  # RESOURCE_EXHAUSTED (nothing logged), then alone


async def test_an_unreachable_sidecar_fails_every_caller(sidecar: SidecarServer) -> None:
    async with PolicyClient(sidecar.unix_target + ".gone", timeout=0.5) as gone:
        batcher = BatchingClient(gone)
        results = await asyncio.gather(
            *(batcher.evaluate([plain_item("acme")], timeout=0.5) for _ in range(3)),
            return_exceptions=True,
        )
    assert all(isinstance(r, PolicyUnavailable) and r.kind == "unavailable" for r in results)
    assert len({id(r) for r in results}) == 3  # each caller its own exception


async def test_a_caller_that_gives_up_does_not_stop_the_others(client: PolicyClient) -> None:
    batcher = BatchingClient(client)
    quitter = asyncio.ensure_future(batcher.evaluate([gpu_item("pending")], timeout=5.0))
    stayer = asyncio.ensure_future(batcher.evaluate([plain_item("acme")], timeout=5.0))
    await asyncio.sleep(0)  # both asked; the call is sent at the end of this turn
    quitter.cancel()
    (answer,) = await stayer
    assert answer.decision.action is Action.ALLOW
    with pytest.raises(asyncio.CancelledError):
        await quitter


async def test_a_caller_without_time_left_fails_alone(client: PolicyClient) -> None:
    batcher = BatchingClient(client)
    late, on_time = await asyncio.gather(
        batcher.evaluate([plain_item("acme")], timeout=0.0),
        batcher.evaluate([plain_item("acme")], timeout=5.0),
        return_exceptions=True,
    )
    assert isinstance(late, PolicyUnavailable) and late.kind == "timeout"
    assert isinstance(on_time, list) and on_time[0].decision.action is Action.ALLOW


async def test_the_call_waits_no_longer_than_its_most_hurried_caller(
    client: PolicyClient, sidecar: SidecarServer
) -> None:
    counting = _Counting(client)
    batcher = BatchingClient(counting)
    first = asyncio.ensure_future(batcher.evaluate([plain_item("acme")], timeout=5.0))
    await asyncio.sleep(0)  # its call is out: the next two are gathered into one
    hurried = batcher.evaluate([plain_item("acme")], timeout=0.001)
    patient = batcher.evaluate([plain_item("acme")], timeout=5.0)
    results = await asyncio.gather(hurried, patient, return_exceptions=True)
    assert (await first)[0].decision.action is Action.ALLOW
    assert counting.calls == [1, 2]
    # 1 ms is less than the sidecar needs to decide and log: the shared call was refused
    # (or timed out) for both; the patient caller is not answered after the hurried one's end.
    assert all(isinstance(r, PolicyUnavailable) and r.kind == "timeout" for r in results)


async def test_a_question_asked_alone_without_time_left_is_not_sent(client: PolicyClient) -> None:
    counting = _Counting(client)
    batcher = BatchingClient(counting)
    with pytest.raises(PolicyUnavailable) as refused:
        await batcher.evaluate([plain_item("acme")], timeout=0.0)
    assert refused.value.kind == "timeout" and counting.calls == []
    (answer,) = await batcher.evaluate([plain_item("acme")], timeout=5.0)  # the next is asked
    assert answer.decision.action is Action.ALLOW and counting.calls == [1]
