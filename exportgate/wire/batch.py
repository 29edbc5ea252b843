"""`BatchingClient`: concurrent one-item questions to the sidecar, sent as one Evaluate call.

Most of what one Evaluate costs is the call, not the item: on the 2-core bench machine the
sidecar spent about 0.7 ms of CPU per call and 0.3 ms per item (bench/NOTES.md), and the caller
pays a gRPC client call per call as well. A webhook answering many reviews at once asks one
question per review; this client gathers the questions asked during one turn of the event loop
and sends them together. Nothing waits for company: a question asked while no call is out is
sent at once, in the caller's own task (gathering it would only cost it the loop turns of
handing it to a call and back, three at one client); the questions asked while a call is out
are gathered per loop turn and sent together at the end of it.

What each caller gets is unchanged:

* its own `Answer`, for its own item: the sidecar decides and durably logs every item of a
  batch before it answers (one group commit), exactly as for a call of one item;
* a failure of the whole call (sidecar unreachable, too slow, log unwritable) is each caller's
  `PolicyUnavailable`, as it would have been alone;
* an item the sidecar refuses as invalid (e.g. a decision record over the size cap) fails the
  whole call and nothing of it is logged, so one tenant's object must not cost the others their
  answer: the items of such a batch are asked again one by one, and only the invalid one fails
  (likewise a batch over a sidecar's own --max-batch-items);
* the call's deadline is the earliest of the callers' deadlines, so nobody waits longer than
  asked (a caller with no time left at all fails alone, as it would have);
* a caller that gives up (cancelled) no longer waits; its item is not taken out of a call
  already sent (the sidecar logs it, and it is answered to nobody, as a reply lost on the way
  back would be).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import grpc

from exportgate.v1 import policy_pb2 as pb
from exportgate.wire.client import PolicyUnavailable
from exportgate.wire.convert import Answer
from exportgate.wire.question import Question

DEFAULT_MAX_ITEMS = 32
"""Items per call at most: enough to absorb a burst; small enough that deciding one batch holds
the sidecar's event loop for a few milliseconds at most."""


_NO_TIME = PolicyUnavailable(
    "the time budget was used up before the policy sidecar was asked", kind="timeout"
)


# Whole-call refusals that log nothing and may not concern every item.
_ASK_ALONE = frozenset({grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.RESOURCE_EXHAUSTED})


Item = pb.EvaluateItem | Question
"""What a caller asks about: a wire item, or a `Question` (which the asker converts if needed)."""


class Asker(Protocol):
    """What the batcher sends through: `PolicyClient` (the sidecar over gRPC) or
    `exportgate.service.local.LocalPolicyClient` (the service embedded in this process)."""

    async def evaluate(
        self, items: Sequence[Item], *, timeout: float | None = None
    ) -> list[Answer]: ...


@dataclass(slots=True)
class _Question:
    item: Item
    deadline: float  # loop time
    answer: asyncio.Future[Answer]


class BatchingClient:
    """Asks `client` one call per loop turn for every question asked in that turn."""

    def __init__(
        self,
        client: Asker,
        *,
        max_items: int = DEFAULT_MAX_ITEMS,
        on_call: Callable[[int], None] = lambda items: None,
    ) -> None:
        """`on_call(items)` is told the size of every call sent (a metric)."""
        if max_items < 1:
            raise ValueError(f"max_items must be at least 1, got {max_items}")
        self._client = client
        self._max_items = max_items
        self._on_call = on_call
        self._waiting: list[_Question] = []
        self._calls: set[asyncio.Task[None]] = set()
        self._asked_alone = 0  # calls out that a caller made in its own task

    async def evaluate(self, items: list[Item], *, timeout: float) -> list[Answer]:
        """One `Answer` per item, like `PolicyClient.evaluate`; raises `PolicyUnavailable`."""
        if len(items) != 1 or self._max_items == 1:
            self._on_call(len(items))
            return await self._client.evaluate(items, timeout=timeout)
        if not self._waiting and not self._calls and not self._asked_alone:
            return await self._ask_now(items, timeout)
        loop = asyncio.get_running_loop()
        question = _Question(items[0], loop.time() + timeout, loop.create_future())
        if not self._waiting:
            loop.call_soon(self._send)
        self._waiting.append(question)
        if len(self._waiting) >= self._max_items:
            self._send()
        return [await question.answer]

    async def _ask_now(self, items: list[Item], timeout: float) -> list[Answer]:
        """Ask alone, at once: nobody is there to share a call with."""
        if timeout <= 0:  # as a gathered question without time left (`_ask`)
            raise _fresh(_NO_TIME)
        self._asked_alone += 1
        try:
            self._on_call(1)
            return await self._client.evaluate(items, timeout=timeout)
        finally:
            self._asked_alone -= 1

    def _send(self) -> None:
        """Send what is waiting as one call (called at the end of the loop turn, or when full)."""
        if not self._waiting:
            return
        batch, self._waiting = self._waiting, []
        call = asyncio.get_running_loop().create_task(self._ask(batch))
        self._calls.add(call)  # referenced until done
        call.add_done_callback(self._calls.discard)

    async def _ask(self, batch: list[_Question]) -> None:
        now = asyncio.get_running_loop().time()
        live = []
        for q in batch:
            if q.answer.done():  # a cancelled caller asks nothing
                continue
            if q.deadline <= now:  # nor one without time left (it would shorten the others')
                _fail(q, _NO_TIME)
                continue
            live.append(q)
        if not live:
            return
        if len(live) == 1:
            await self._ask_one(live[0])
            return
        timeout = min(q.deadline for q in live) - now
        self._on_call(len(live))
        try:
            answers = await self._client.evaluate([q.item for q in live], timeout=timeout)
        except PolicyUnavailable as exc:
            if exc.code in _ASK_ALONE:
                # Refused before anything was logged: an invalid item (only it should fail), or
                # a sidecar configured for smaller batches (--max-batch-items). Ask each alone.
                await asyncio.gather(*(self._ask_one(q) for q in live))
                return
            for q in live:
                _fail(q, exc)
            return
        except BaseException as exc:  # a bug: each caller fails (closed) rather than hangs
            for q in live:
                _fail(q, exc)
            if not isinstance(exc, Exception):
                raise
            return
        for q, answer in zip(live, answers, strict=True):
            if not q.answer.done():
                q.answer.set_result(answer)

    async def _ask_one(self, question: _Question) -> None:
        if question.answer.done():
            return
        timeout = question.deadline - asyncio.get_running_loop().time()
        self._on_call(1)
        try:
            (answer,) = await self._client.evaluate([question.item], timeout=timeout)
        except BaseException as exc:
            _fail(question, exc)
            if not isinstance(exc, Exception):
                raise
            return
        if not question.answer.done():
            question.answer.set_result(answer)


def _fail(question: _Question, exc: BaseException) -> None:
    if question.answer.done():
        return
    if isinstance(exc, asyncio.CancelledError):
        question.answer.cancel()
    elif isinstance(exc, PolicyUnavailable):
        question.answer.set_exception(_fresh(exc))
    else:
        question.answer.set_exception(exc)


def _fresh(exc: PolicyUnavailable) -> PolicyUnavailable:
    """A copy for one caller: one exception object raised in many tasks would collect all
    their tracebacks."""
    return PolicyUnavailable(exc.reason, kind=exc.kind, detail=exc.detail, code=exc.code)
