"""The `exportgate.v1.PolicyService` gRPC servicer: the sidecar's front door to the service.

It reads each Evaluate call into `Question`s, lets `exportgate.service.PolicyService` decide,
log and answer them, and writes the answers back as wire decisions. A `Refused` call becomes
the gRPC status it is named after (see `exportgate.service.evaluate` for what each means); an
item that cannot be read is INVALID_ARGUMENT, naming the field, and nothing is logged.
"""

from __future__ import annotations

from typing import NoReturn

import grpc

from exportgate.core.errors import InputError
from exportgate.service.evaluate import PolicyService, RefusalCode, Refused
from exportgate.v1 import policy_pb2 as pb
from exportgate.v1 import policy_pb2_grpc as pb_grpc
from exportgate.wire.convert import decision_to_proto, item_to_question, parse_at
from exportgate.wire.timestamps import timestamp


class PolicyServicer(pb_grpc.PolicyServiceServicer):  # type: ignore[misc]  # untyped base
    def __init__(self, service: PolicyService, *, decision_log: str) -> None:
        self._service = service
        self._decision_log = decision_log

    async def Evaluate(  # the RPC's name in the proto
        self, request: pb.EvaluateRequest, context: grpc.aio.ServicerContext
    ) -> pb.EvaluateResponse:
        service = self._service
        with service.activity.running():
            try:
                snapshot = service.admit(len(request.items), context.time_remaining)
                try:
                    # An out-of-range instant is the caller's input: INVALID_ARGUMENT.
                    at = parse_at(request)
                    questions = [
                        item_to_question(item, f"items[{i}]")
                        for i, item in enumerate(request.items)
                    ]
                except InputError as exc:
                    service.refuse(RefusalCode.INVALID_ARGUMENT, exc.describe())
                answers = await service.decide_and_log(
                    snapshot, questions, at, context.time_remaining
                )
            except Refused as refused:
                await _abort(context, refused)
        return pb.EvaluateResponse(
            decisions=[
                decision_to_proto(
                    a.decision,
                    decision_id=a.decision_id,
                    policy_version=a.policy_version,
                    reused=a.reused,
                )
                for a in answers
            ],
            policy_version=snapshot.version,
        )

    async def Status(  # the RPC's name in the proto
        self, request: pb.StatusRequest, context: grpc.aio.ServicerContext
    ) -> pb.StatusResponse:
        snapshot = self._service.current
        if snapshot is None:
            try:
                self._service.refuse(RefusalCode.UNAVAILABLE, "no policy snapshot loaded yet")
            except Refused as refused:
                await _abort(context, refused)
        return pb.StatusResponse(
            policy_version=snapshot.version,
            policy_versions=snapshot.engine.policy_versions,
            tenants=len(snapshot.tenants),
            policies=snapshot.policy_count,
            loaded_at=timestamp(snapshot.loaded_at),
            decision_log=self._decision_log,
        )


async def _abort(context: grpc.aio.ServicerContext, refused: Refused) -> NoReturn:
    await context.abort(grpc.StatusCode[refused.code.value], refused.message)
    raise AssertionError("unreachable: context.abort raises")  # pragma: no cover
