"""`PolicyClient`: a small async client of the policy sidecar's Unix socket (tests, benchmarks).

One client holds one gRPC channel for its lifetime (channels are expensive to set up and
multiplex any number of concurrent calls), created lazily in the running event loop. Every call
has a deadline: `timeout` by default, or the one passed per call. Failures raise
`PolicyClientError` carrying the gRPC status, so callers need not import grpc to tell
"unavailable" from "invalid argument"; a caller must treat any error as "no decision".

    async with PolicyClient("unix:///run/exportgate/policy.sock", timeout=0.5) as client:
        response = await client.evaluate([item])
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import datetime
from types import TracebackType
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from exportgate.v1 import policy_pb2 as pb
from exportgate.v1 import policy_pb2_grpc as pb_grpc
from exportgate_sidecar.convert import timestamp
from exportgate_sidecar.health import SERVICE_NAME

_CHANNEL_OPTIONS = [
    ("grpc.keepalive_time_ms", 30_000),
    ("grpc.keepalive_timeout_ms", 10_000),
    ("grpc.keepalive_permit_without_calls", 1),
]


class PolicyClientError(Exception):
    """An RPC to the sidecar failed; no decision was made (or none can be trusted)."""

    def __init__(self, code: grpc.StatusCode, details: str) -> None:
        self.code = code
        self.details = details
        super().__init__(f"{code.name}: {details}")

    @property
    def retryable(self) -> bool:
        """True for transient failures (sidecar starting, log briefly unwritable, deadline)."""
        return self.code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)


class PolicyClient:
    def __init__(self, target: str, timeout: float = 1.0) -> None:
        """`target`: ``unix:///path/to.sock``, the sidecar's socket.
        `timeout`: default deadline of each call, in seconds."""
        self.target = target
        self.timeout = timeout
        self._options: list[tuple[str, int | str]] = list(_CHANNEL_OPTIONS)
        self._channel: grpc.aio.Channel | None = None
        self._stub: pb_grpc.PolicyServiceStub | None = None
        self._health: health_pb2_grpc.HealthStub | None = None

    # -- calls -----------------------------------------------------------------------------

    async def evaluate(
        self,
        items: Sequence[pb.EvaluateItem],
        *,
        at: datetime | None = None,
        timeout: float | None = None,
    ) -> pb.EvaluateResponse:
        """One decision per item, in order, all from one policy snapshot."""
        request = pb.EvaluateRequest(items=list(items))
        if at is not None:
            request.at.CopyFrom(timestamp(at))
        stub = self._policy_stub()
        response: pb.EvaluateResponse = await self._call(stub.Evaluate, request, timeout)
        return response

    async def evaluate_one(
        self, item: pb.EvaluateItem, *, at: datetime | None = None, timeout: float | None = None
    ) -> pb.Decision:
        response = await self.evaluate([item], at=at, timeout=timeout)
        decision: pb.Decision = response.decisions[0]
        return decision

    async def status(self, *, timeout: float | None = None) -> pb.StatusResponse:
        response: pb.StatusResponse = await self._call(
            self._policy_stub().Status, pb.StatusRequest(), timeout
        )
        return response

    async def health(self, service: str = SERVICE_NAME, *, timeout: float | None = None) -> str:
        """The health status name: SERVING, NOT_SERVING, or SERVICE_UNKNOWN."""
        self._ensure_channel()
        assert self._health is not None
        response = await self._call(
            self._health.Check, health_pb2.HealthCheckRequest(service=service), timeout
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
            except PolicyClientError as exc:
                last = str(exc)
            await asyncio.sleep(interval)
        raise TimeoutError(f"sidecar at {self.target} not SERVING after {timeout}s: {last}")

    # -- channel ---------------------------------------------------------------------------

    def _ensure_channel(self) -> grpc.aio.Channel:
        if self._channel is None:
            self._channel = grpc.aio.insecure_channel(self.target, options=self._options)
            self._stub = pb_grpc.PolicyServiceStub(self._channel)
            self._health = health_pb2_grpc.HealthStub(self._channel)
        return self._channel

    def _policy_stub(self) -> pb_grpc.PolicyServiceStub:
        self._ensure_channel()
        assert self._stub is not None
        return self._stub

    async def _call(self, method: Any, request: object, timeout: float | None) -> Any:
        try:
            return await method(request, timeout=self.timeout if timeout is None else timeout)
        except grpc.aio.AioRpcError as exc:
            raise PolicyClientError(exc.code(), exc.details() or "") from exc

    async def close(self) -> None:
        if self._channel is not None:
            await self._channel.close()
            self._channel = None
            self._stub = None
            self._health = None

    async def __aenter__(self) -> PolicyClient:
        self._ensure_channel()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()
