"""`LocalPolicyClient`: the policy service embedded in the caller's process.

The webhook asks the policy service one question per review. Through the sidecar, each question
crosses a Unix socket twice and passes through gRPC's machinery on both ends: on the 2-vCPU
bench machine that hop cost more CPU than deciding and logging (bench/NOTES.md). Embedded, the
webhook hosts the same `PolicyHost` and asks its `PolicyService` directly.

Nothing a tenant or an auditor gets changes with where the service runs: the same snapshot,
engine, cache and decision log decide and record each question, every decision is durably
logged before it is answered, and a failure is the same `PolicyUnavailable` (with the gRPC status
the sidecar would have answered) that the webhook already fails closed on. Its deadline is
enforced the same way: a call that outlives it is abandoned, and decisions already written are
marked not delivered in the log.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence

import grpc

from exportgate.core.errors import InputError
from exportgate.service.evaluate import PolicyService, RefusalCode, Refused
from exportgate.service.host import PolicyHost
from exportgate.v1 import policy_pb2 as pb
from exportgate.wire.client import PolicyUnavailable, SidecarStatus
from exportgate.wire.convert import Answer, item_to_question
from exportgate.wire.question import Question

TARGET = "embedded"
"""How the webhook's flag and logs name the embedded service (instead of a socket)."""


class LocalPolicyClient:
    """Asks the `PolicyService` of `host`, which it starts and stops with itself."""

    def __init__(self, host: PolicyHost, timeout: float = 1.0) -> None:
        self.target = TARGET
        self.timeout = timeout
        self.host = host

    async def start(self) -> None:
        """Open the decision log and start reading tenants and policies (see `PolicyHost`)."""
        await self.host.start()

    async def close(self) -> None:
        """Finish the calls in flight, then close the log (what the sidecar does on SIGTERM)."""
        await self.host.drain(self.host.config.shutdown_grace)
        await self.host.stop()

    # -- calls -----------------------------------------------------------------------------

    async def evaluate(
        self, items: Sequence[pb.EvaluateItem | Question], *, timeout: float | None = None
    ) -> list[Answer]:
        """One `Answer` per question, in order; raises `PolicyUnavailable` like `PolicyClient`."""
        budget = self.timeout if timeout is None else timeout
        if budget <= 0:
            raise PolicyUnavailable(
                "the time budget was used up before the policy service was asked", kind="timeout"
            )
        service = self._service()
        deadline = time.monotonic() + budget

        def time_remaining() -> float:
            return deadline - time.monotonic()

        try:
            questions = [
                i if isinstance(i, Question) else item_to_question(i, f"items[{n}]")
                for n, i in enumerate(items)
            ]
        except InputError as exc:
            raise _unavailable(Refused(RefusalCode.INVALID_ARGUMENT, exc.describe())) from None
        try:
            async with asyncio.timeout(budget):
                return await service.evaluate(questions, time_remaining=time_remaining)
        except Refused as refused:
            raise _unavailable(refused) from None
        except TimeoutError:
            raise PolicyUnavailable(
                f"the policy service did not answer within {budget:.2f}s",
                kind="timeout",
                code=grpc.StatusCode.DEADLINE_EXCEEDED,
            ) from None

    async def status(self, *, timeout: float | None = None) -> SidecarStatus:
        """What the service serves now; raises `PolicyUnavailable` while it cannot decide (no
        snapshot yet, or the decision log is not writable)."""
        snapshot = self.host.store.current
        if snapshot is None:
            raise PolicyUnavailable(
                "no policy snapshot loaded yet",
                kind="unavailable",
                code=grpc.StatusCode.UNAVAILABLE,
            )
        health = self.host.health
        if health is not None and not health.serving:
            raise PolicyUnavailable(
                "the decision log is not writable, or its fsync is stalled",
                kind="error",
                code=grpc.StatusCode.UNAVAILABLE,
            )
        return SidecarStatus(
            policy_version=snapshot.version,
            policy_versions=dict(snapshot.engine.policy_versions),
            tenants=len(snapshot.tenants),
            policies=snapshot.policy_count,
            loaded_at=snapshot.loaded_at,
            decision_log=str(self.host.config.decision_log),
        )

    def _service(self) -> PolicyService:
        if self.host.service is None:
            raise PolicyUnavailable(
                "the embedded policy service is not started",
                kind="unavailable",
                code=grpc.StatusCode.UNAVAILABLE,
            )
        return self.host.service


def _unavailable(refused: Refused) -> PolicyUnavailable:
    """The failure the webhook would have got from the sidecar for the same refusal."""
    code = grpc.StatusCode[refused.code.value]
    if refused.code is RefusalCode.DEADLINE_EXCEEDED:
        return PolicyUnavailable(
            "the policy service ran out of time", kind="timeout", detail=refused.message, code=code
        )
    return PolicyUnavailable(
        f"the policy service failed with {code.name}: {refused.message}",
        kind="error",
        detail=refused.message,
        code=code,
    )
