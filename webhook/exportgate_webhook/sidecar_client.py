"""The webhook's side of the gRPC contract with the policy sidecar.

One channel per process, created in the running event loop and reused by every review. Every
failure — unreachable, slow, broken answer — becomes `SidecarUnavailable` with a reason a tenant
can read, so the caller can fail closed without knowing anything about gRPC.

Answers are turned into `Verdict`s made of the core's own types (`Action`, `Violation`,
`ResolvedAccelerator`, `ResolvedModel`), so messages and patches never touch protobuf.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import grpc

from exportgate.core.decision import ResolvedAccelerator, ResolvedModel, Violation
from exportgate.core.types import Action
from exportgate.v1 import policy_pb2, policy_pb2_grpc

_ACTIONS: dict[int, Action] = {
    policy_pb2.ACTION_ALLOW: Action.ALLOW,
    policy_pb2.ACTION_DRYRUN: Action.DRYRUN,
    policy_pb2.ACTION_WARN: Action.WARN,
    policy_pb2.ACTION_DENY: Action.DENY,
}

# Reconnect quickly after a sidecar restart (gRPC's default backoff grows to two minutes, which
# would keep the webhook failing closed long after the sidecar is back), and fail fast instead of
# queueing while the sidecar is down: the review budget is small and a denial is the answer.
#
# Deliberately NOT set: "grpc.enable_retries" = 0. With it, grpcio (1.85) left about 40% of calls
# to a frozen sidecar pending past their deadline under concurrency, so the server's safety net
# instead of the deadline ended them (bench/RESULTS.md, fault tests). With retries enabled but no
# retry policy in the service config, gRPC retries nothing, so nothing can outlive the deadline.
_CHANNEL_OPTIONS: tuple[tuple[str, int], ...] = (
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.min_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 1000),
    ("grpc.keepalive_time_ms", 30_000),
    ("grpc.keepalive_timeout_ms", 5_000),
)


class SidecarUnavailable(Exception):
    """The sidecar gave no usable answer. `reason` says why, in words a tenant can read;
    `detail` is gRPC's own account (socket paths, connect errors) for logs and /readyz only."""

    def __init__(self, reason: str, *, kind: str, detail: str = "") -> None:
        self.reason = reason
        self.kind = kind  # metrics label: unavailable | timeout | error | malformed
        self.detail = detail
        super().__init__(reason)

    def describe(self) -> str:
        return f"{self.reason} ({self.detail})" if self.detail else self.reason


@dataclass(frozen=True, slots=True)
class Verdict:
    """One decision as the sidecar logged it."""

    action: Action
    decision_id: str
    rule: str
    citation: str
    message: str
    policy_version: str
    tenant: str
    verification: str
    jurisdictions: tuple[str, ...]
    violations: tuple[Violation, ...]
    accelerators: tuple[ResolvedAccelerator, ...]
    models: tuple[ResolvedModel, ...]
    accelerator_class: str
    reused: bool = False
    """An earlier decision (named by the item's `reuse_decision_id`) answered again; it was
    logged when it was made, and no new record was written for this call."""


@dataclass(frozen=True, slots=True)
class SidecarStatus:
    policy_version: str
    tenants: int
    policies: int
    decision_log: str


def _action(value: int, where: str) -> Action:
    action = _ACTIONS.get(value)
    if action is None:
        raise SidecarUnavailable(f"the policy service sent no action for {where}", kind="malformed")
    return action


def verdict_from_proto(decision: policy_pb2.Decision) -> Verdict:
    violations = tuple(
        Violation(
            rule_id=v.rule,
            policy=v.policy,
            policy_version=v.policy_version,
            action=_action(v.action, f"violation {v.rule!r}"),
            citation=v.citation,
            message=v.message,
            remedy=v.remedy,
            subject=v.subject,
            countries=tuple(v.countries),
        )
        for v in decision.violations
    )
    return Verdict(
        action=_action(decision.action, "a decision"),
        decision_id=decision.decision_id,
        rule=decision.rule,
        citation=decision.citation,
        message=decision.message,
        policy_version=decision.policy_version,
        tenant=decision.tenant,
        verification=decision.verification,
        jurisdictions=tuple(decision.jurisdictions),
        violations=violations,
        accelerators=tuple(
            ResolvedAccelerator(
                resource=a.resource,
                count=a.count,
                candidates=tuple(a.products),
                pinned=a.pinned,
                classifications=tuple(a.classifications),
                source=a.source,
            )
            for a in decision.accelerators
        ),
        models=tuple(
            ResolvedModel(
                reference=m.reference,
                model_id=m.model or None,
                provider=m.provider or None,
                source=m.source,
            )
            for m in decision.models
        ),
        accelerator_class=decision.accelerator_class,
        reused=decision.reused,
    )


def _explain(error: grpc.aio.AioRpcError, target: str, timeout: float) -> SidecarUnavailable:
    code = error.code()
    if code == grpc.StatusCode.DEADLINE_EXCEEDED:
        return SidecarUnavailable(
            f"the policy sidecar did not answer within {timeout:.2f}s", kind="timeout"
        )
    if code == grpc.StatusCode.UNAVAILABLE:
        return SidecarUnavailable(
            "cannot reach the policy sidecar",
            kind="unavailable",
            detail=f"{target}: {error.details()}",
        )
    # The sidecar's own error messages are written for callers (e.g. "decision log not
    # writable"), so they are passed on.
    return SidecarUnavailable(
        f"the policy sidecar failed with {code.name}: {error.details()}", kind="error"
    )


class SidecarClient:
    """Asks the sidecar's PolicyService. Create and use it inside one running event loop."""

    def __init__(self, target: str) -> None:
        self.target = target
        self._channel: grpc.aio.Channel | None = None
        self._stub: policy_pb2_grpc.PolicyServiceStub | None = None

    def _ensure_stub(self) -> policy_pb2_grpc.PolicyServiceStub:
        if self._stub is None:
            self._channel = grpc.aio.insecure_channel(self.target, options=_CHANNEL_OPTIONS)
            self._stub = policy_pb2_grpc.PolicyServiceStub(self._channel)
        return self._stub

    async def evaluate(
        self, items: Sequence[policy_pb2.EvaluateItem], *, timeout: float
    ) -> list[Verdict]:
        """One verdict per item, in order; raises `SidecarUnavailable` for anything else."""
        if timeout <= 0:
            raise SidecarUnavailable(
                "the review budget was used up before the policy sidecar was asked", kind="timeout"
            )
        stub = self._ensure_stub()
        try:
            response = await stub.Evaluate(
                policy_pb2.EvaluateRequest(items=items), timeout=timeout, wait_for_ready=False
            )
        except grpc.aio.AioRpcError as exc:
            raise _explain(exc, self.target, timeout) from None
        if len(response.decisions) != len(items):
            raise SidecarUnavailable(
                f"the policy sidecar answered {len(response.decisions)} decisions "
                f"for {len(items)} items",
                kind="malformed",
            )
        verdicts = [verdict_from_proto(decision) for decision in response.decisions]
        for verdict in verdicts:
            if not verdict.decision_id:
                # A decision without a log record cannot be traced; refuse to act on it.
                raise SidecarUnavailable(
                    "the policy sidecar answered without a decision id (decision not logged)",
                    kind="malformed",
                )
        return verdicts

    async def status(self, *, timeout: float) -> SidecarStatus:
        stub = self._ensure_stub()
        try:
            response = await stub.Status(
                policy_pb2.StatusRequest(), timeout=timeout, wait_for_ready=False
            )
        except grpc.aio.AioRpcError as exc:
            raise _explain(exc, self.target, timeout) from None
        return SidecarStatus(
            policy_version=response.policy_version,
            tenants=response.tenants,
            policies=response.policies,
            decision_log=response.decision_log,
        )

    async def close(self) -> None:
        if self._channel is not None:
            await self._channel.close()
            self._channel = None
            self._stub = None
