"""`PolicyClient`: the one client of the policy sidecar's `PolicyService`, for every caller.

One client holds one gRPC channel for its lifetime (channels are expensive to set up and
multiplex any number of concurrent calls), created lazily in the running event loop. Every call
has a deadline: `timeout` by default, or the one passed per call. Every failure (unreachable,
slow, an error status, an answer that is not a usable decision) raises `PolicyUnavailable`, with
a reason a tenant can read and the gRPC status for callers that tell "invalid argument" from
"unavailable"; a caller must treat any of them as "no decision", never as an allow.

    async with PolicyClient("unix:///run/exportgate/policy.sock", timeout=0.5) as client:
        answers = await client.evaluate([item])   # one `Answer` per item, in order
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from types import TracebackType
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from exportgate.v1 import policy_pb2 as pb
from exportgate.v1 import policy_pb2_grpc as pb_grpc
from exportgate.wire.convert import Answer, MalformedAnswer, answer_from_proto, question_to_item
from exportgate.wire.question import Question
from exportgate.wire.timestamps import timestamp

#: The name the sidecar reports health under (grpc.health.v1), besides the server-wide "".
SERVICE_NAME = "exportgate.v1.PolicyService"

# Reconnect quickly after a sidecar restart (gRPC's default backoff grows to two minutes, which
# would keep an admission webhook failing closed long after the sidecar is back), and fail fast
# instead of queueing while the sidecar is down: callers' budgets are small.
#
# Deliberately NOT set: "grpc.enable_retries" = 0. With it, grpcio (1.85) left about 40% of calls
# to a frozen sidecar pending past their deadline under concurrency, so the webhook server's
# safety net instead of the deadline ended them (bench/RESULTS.md, fault tests). With retries
# enabled but no retry policy in the service config, gRPC retries nothing, so nothing can outlive
# the deadline.
_CHANNEL_OPTIONS: tuple[tuple[str, int], ...] = (
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.min_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 1000),
    ("grpc.keepalive_time_ms", 30_000),
    ("grpc.keepalive_timeout_ms", 5_000),
)


class PolicyUnavailable(Exception):
    """The sidecar gave no usable answer; no decision was made (or none can be trusted).

    `reason` says why in words a tenant can read; `detail` is gRPC's own account (socket paths,
    connect errors, the sidecar's message) for logs and /readyz; `kind` is a metrics label
    (unavailable | timeout | error | malformed); `code` the gRPC status (None when the answer
    itself was unusable)."""

    def __init__(
        self, reason: str, *, kind: str, detail: str = "", code: grpc.StatusCode | None = None
    ) -> None:
        self.reason = reason
        self.kind = kind
        self.detail = detail
        self.code = code
        super().__init__(reason)

    @property
    def retryable(self) -> bool:
        """True for transient failures (sidecar starting, log briefly unwritable, deadline)."""
        return self.code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)

    def describe(self) -> str:
        return f"{self.reason} ({self.detail})" if self.detail else self.reason


@dataclass(frozen=True, slots=True)
class SidecarStatus:
    """What the sidecar serves now (`PolicyService.Status`)."""

    policy_version: str
    policy_versions: dict[str, str]
    tenants: int
    policies: int
    loaded_at: datetime | None
    decision_log: str


def _explain(error: grpc.aio.AioRpcError, target: str, timeout: float) -> PolicyUnavailable:
    code = error.code()
    details = error.details() or ""
    if code == grpc.StatusCode.DEADLINE_EXCEEDED:
        return PolicyUnavailable(
            f"the policy sidecar did not answer within {timeout:.2f}s",
            kind="timeout",
            detail=details,
            code=code,
        )
    if code == grpc.StatusCode.UNAVAILABLE and not details.startswith("decision log"):
        return PolicyUnavailable(
            "cannot reach the policy sidecar",
            kind="unavailable",
            detail=f"{target}: {details}",
            code=code,
        )
    # The sidecar's own error messages are written for callers (e.g. "decision log unwritable"),
    # so they are passed on.
    return PolicyUnavailable(
        f"the policy sidecar failed with {code.name}: {details}",
        kind="error",
        detail=details,
        code=code,
    )


class PolicyClient:
    """Asks the sidecar's PolicyService. Create and use it inside one running event loop."""

    def __init__(self, target: str, timeout: float = 1.0) -> None:
        """`target`: the sidecar's socket, ``unix:///path/to.sock`` (it listens on nothing
        else). `timeout`: default deadline of each call, in seconds."""
        self.target = target
        self.timeout = timeout
        self._channel: grpc.aio.Channel | None = None
        self._stub: pb_grpc.PolicyServiceStub | None = None
        self._health: health_pb2_grpc.HealthStub | None = None

    # -- calls -----------------------------------------------------------------------------

    async def start(self) -> None:
        """Nothing to start: the channel opens on the first call (the sidecar runs apart)."""

    async def evaluate(
        self,
        items: Sequence[pb.EvaluateItem | Question],
        *,
        at: datetime | None = None,
        timeout: float | None = None,
    ) -> list[Answer]:
        """One `Answer` per item (or `Question`), in order, all from one policy snapshot."""
        wire_items = [question_to_item(i) if isinstance(i, Question) else i for i in items]
        response = await self.evaluate_wire(wire_items, at=at, timeout=timeout)
        if len(response.decisions) != len(items):
            raise PolicyUnavailable(
                f"the policy sidecar answered {len(response.decisions)} decisions "
                f"for {len(items)} items",
                kind="malformed",
            )
        try:
            return [
                answer_from_proto(decision, item)
                for decision, item in zip(response.decisions, wire_items, strict=True)
            ]
        except MalformedAnswer as exc:
            raise PolicyUnavailable(str(exc), kind="malformed") from None

    async def evaluate_one(
        self, item: pb.EvaluateItem, *, at: datetime | None = None, timeout: float | None = None
    ) -> Answer:
        return (await self.evaluate([item], at=at, timeout=timeout))[0]

    async def evaluate_wire(
        self,
        items: Sequence[pb.EvaluateItem],
        *,
        at: datetime | None = None,
        timeout: float | None = None,
    ) -> pb.EvaluateResponse:
        """The response exactly as the sidecar sent it (contract tests, debugging tools)."""
        request = pb.EvaluateRequest(items=list(items))
        if at is not None:
            request.at.CopyFrom(timestamp(at))
        response: pb.EvaluateResponse = await self._call(
            self._stubs()[0].Evaluate, request, timeout
        )
        return response

    async def status(self, *, timeout: float | None = None) -> SidecarStatus:
        response: pb.StatusResponse = await self._call(
            self._stubs()[0].Status, pb.StatusRequest(), timeout
        )
        return SidecarStatus(
            policy_version=response.policy_version,
            policy_versions=dict(response.policy_versions),
            tenants=response.tenants,
            policies=response.policies,
            loaded_at=(
                response.loaded_at.ToDatetime(tzinfo=UTC)
                if response.HasField("loaded_at")
                else None
            ),
            decision_log=response.decision_log,
        )

    async def health(self, service: str = SERVICE_NAME, *, timeout: float | None = None) -> str:
        """The health status name: SERVING, NOT_SERVING, or SERVICE_UNKNOWN."""
        response = await self._call(
            self._stubs()[1].Check, health_pb2.HealthCheckRequest(service=service), timeout
        )
        return str(health_pb2.HealthCheckResponse.ServingStatus.Name(response.status))

    async def wait_serving(self, timeout: float = 10.0, interval: float = 0.05) -> None:
        """Poll health until SERVING; raises TimeoutError with the last status seen."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        last = "no answer"
        while loop.time() < deadline:
            try:
                last = await self.health(timeout=min(1.0, timeout))
                if last == "SERVING":
                    return
            except PolicyUnavailable as exc:
                last = exc.describe()
            await asyncio.sleep(interval)
        raise TimeoutError(f"sidecar at {self.target} not SERVING after {timeout}s: {last}")

    # -- channel ---------------------------------------------------------------------------

    def _stubs(self) -> tuple[pb_grpc.PolicyServiceStub, health_pb2_grpc.HealthStub]:
        if self._stub is None or self._health is None:
            self._channel = grpc.aio.insecure_channel(self.target, options=_CHANNEL_OPTIONS)
            self._stub = pb_grpc.PolicyServiceStub(self._channel)
            self._health = health_pb2_grpc.HealthStub(self._channel)
        return self._stub, self._health

    async def _call(self, method: Any, request: object, timeout: float | None) -> Any:
        budget = self.timeout if timeout is None else timeout
        if budget <= 0:
            raise PolicyUnavailable(
                "the time budget was used up before the policy sidecar was asked", kind="timeout"
            )
        try:
            return await method(request, timeout=budget, wait_for_ready=False)
        except grpc.aio.AioRpcError as exc:
            raise _explain(exc, self.target, budget) from None

    async def close(self) -> None:
        if self._channel is not None:
            await self._channel.close()
        self._channel = None
        self._stub = None
        self._health = None

    async def __aenter__(self) -> PolicyClient:
        self._stubs()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()
