"""Translation between the gRPC messages (`exportgate.v1`) and the core's types, both directions.

Only this module knows both vocabularies:

- requests: `workload_to_item` (callers build an item from what `exportgate.core.extract` found)
  and `item_to_workload` (the sidecar reads it back). Incoming items are validated here, so a
  malformed item is refused with a message naming the field
  (``items[2].accelerators[0].hints[1].operator``) before the engine sees it.
- answers: `decision_to_proto` (the sidecar) and `answer_from_proto` (callers), which rebuilds the
  core's `Decision` exactly and pairs it with its decision id and policy version in an `Answer`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TypeVar

from exportgate.core.decision import Decision, ResolvedAccelerator, ResolvedModel, Violation
from exportgate.core.errors import InputError
from exportgate.core.extract.aggregate import check_cap
from exportgate.core.limits import MAX_ACCELERATOR_REQUESTS, MAX_MODEL_REFERENCES
from exportgate.core.types import (
    AcceleratorRequest,
    Action,
    EffectiveVerification,
    Jurisdiction,
    JurisdictionRole,
    ModelRequest,
    ObjectRef,
    Operator,
    ProductHint,
    Workload,
)
from exportgate.v1 import policy_pb2 as pb
from exportgate.wire.question import Question
from exportgate.wire.timestamps import timestamp

ACTION_TO_PROTO: dict[Action, pb.Action] = {
    Action.ALLOW: pb.ACTION_ALLOW,
    Action.DRYRUN: pb.ACTION_DRYRUN,
    Action.WARN: pb.ACTION_WARN,
    Action.DENY: pb.ACTION_DENY,
}
ACTION_FROM_PROTO: dict[pb.Action, Action] = {v: k for k, v in ACTION_TO_PROTO.items()}

OPERATION_NAMES: dict[pb.Operation, str] = {
    pb.OPERATION_UNSPECIFIED: "",
    pb.OPERATION_CREATE: "CREATE",
    pb.OPERATION_UPDATE: "UPDATE",
    pb.OPERATION_DELETE: "DELETE",
    pb.OPERATION_CONNECT: "CONNECT",
    pb.OPERATION_AUDIT: "AUDIT",
    pb.OPERATION_CHECK: "CHECK",
}
OPERATIONS_BY_NAME: dict[str, pb.Operation] = {v: k for k, v in OPERATION_NAMES.items() if v}

# --- requests -------------------------------------------------------------------------------


def parse_at(request: pb.EvaluateRequest) -> datetime | None:
    """The instant the caller asked to evaluate at, or None for "now"."""
    if not request.HasField("at"):
        return None
    try:
        at: datetime = request.at.ToDatetime(tzinfo=UTC)
    except (ValueError, OverflowError, OSError) as exc:
        # Seconds outside 0001-01-01..9999-12-31 (or nanos out of range): the caller's input,
        # so INVALID_ARGUMENT naming the field, not an internal error (gRPC UNKNOWN).
        raise InputError(
            f"timestamp {request.at.seconds}s {request.at.nanos}ns is out of range ({exc})",
            field="at",
            hint="use an instant between 0001-01-01 and 9999-12-31 UTC, or leave it unset",
        ) from None
    return at


def item_to_workload(item: pb.EvaluateItem, where: str = "item") -> Workload:
    """The core's view of one item. Raises InputError naming the offending field."""
    obj = item.object
    if not obj.kind:
        raise InputError(
            "the object has no kind",
            field=f"{where}.object.kind",
            hint="set object.kind (and api_version) to what the manifest says",
        )
    # The caps of exportgate.core.limits hold for any caller, not only the webhook's extraction.
    check_cap(len(item.accelerators), MAX_ACCELERATOR_REQUESTS, "MAX_ACCELERATOR_REQUESTS",
              "accelerator requests", f"{where}.accelerators")  # fmt: skip
    check_cap(len(item.models), MAX_MODEL_REFERENCES, "MAX_MODEL_REFERENCES",
              "model references", f"{where}.models")  # fmt: skip
    accelerators = tuple(
        _accelerator(a, f"{where}.accelerators[{i}]") for i, a in enumerate(item.accelerators)
    )
    models = tuple(_model(m, f"{where}.models[{i}]") for i, m in enumerate(item.models))
    return Workload(
        ref=ObjectRef(
            api_version=obj.api_version,
            kind=obj.kind,
            name=obj.name,
            namespace=obj.namespace or None,
        ),
        accelerators=accelerators,
        models=models,
    )


def _accelerator(req: pb.AcceleratorRequest, where: str) -> AcceleratorRequest:
    if not req.resource:
        raise InputError("the accelerator request names no resource", field=f"{where}.resource")
    if req.count < 0:
        raise InputError(
            f"count {req.count} is negative", field=f"{where}.count", hint="use 0 or more"
        )
    hints = []
    for i, hint in enumerate(req.hints):
        try:
            op = Operator(hint.operator)
        except ValueError:
            allowed = ", ".join(o.value for o in Operator)
            raise InputError(
                f"unknown operator {hint.operator!r}",
                field=f"{where}.hints[{i}].operator",
                hint=f"use one of {allowed}",
            ) from None
        if not hint.key:
            raise InputError("the hint has no key", field=f"{where}.hints[{i}].key")
        hints.append(ProductHint(key=hint.key, operator=op, values=tuple(hint.values)))
    return AcceleratorRequest(
        resource=req.resource, count=req.count, hints=tuple(hints), source=req.source
    )


def _model(req: pb.ModelRequest, where: str) -> ModelRequest:
    if not req.reference:
        raise InputError("the model request has no reference", field=f"{where}.reference")
    return ModelRequest(reference=req.reference, provider=req.provider or None, source=req.source)


def workload_to_item(
    workload: Workload,
    *,
    tenant: str | None,
    operation: str = "",
    username: str = "",
    user_uid: str = "",
    groups: Sequence[str] = (),
    object_uid: str = "",
    request_uid: str = "",
) -> pb.EvaluateItem:
    """The request item for a workload found by `exportgate.core.extract`.

    `operation` is the AdmissionReview spelling (CREATE, UPDATE, ...) or AUDIT/CHECK.
    """
    return question_to_item(
        Question(
            tenant=tenant or "",
            workload=workload,
            operation=operation,
            username=username,
            user_uid=user_uid,
            groups=tuple(groups),
            object_uid=object_uid,
            request_uid=request_uid,
        )
    )


def question_to_item(question: Question) -> pb.EvaluateItem:
    """The `EvaluateItem` that asks `question` over gRPC."""
    ref = question.workload.ref
    return pb.EvaluateItem(
        tenant=question.tenant,
        object=pb.ObjectRef(
            api_version=ref.api_version,
            kind=ref.kind,
            namespace=ref.namespace or "",
            name=ref.name,
            uid=question.object_uid,
        ),
        user=pb.UserInfo(
            username=question.username, uid=question.user_uid, groups=list(question.groups)
        ),
        operation=OPERATIONS_BY_NAME.get(question.operation.upper(), pb.OPERATION_UNSPECIFIED),
        accelerators=[
            pb.AcceleratorRequest(
                resource=a.resource,
                count=a.count,
                hints=[
                    pb.ProductHint(key=h.key, operator=h.operator.value, values=list(h.values))
                    for h in a.hints
                ],
                source=a.source,
            )
            for a in question.workload.accelerators
        ],
        models=[
            pb.ModelRequest(reference=m.reference, provider=m.provider or "", source=m.source)
            for m in question.workload.models
        ],
        request_uid=question.request_uid,
        reuse_decision_id=question.reuse_decision_id,
    )


def item_to_question(item: pb.EvaluateItem, where: str = "item") -> Question:
    """The `Question` an `EvaluateItem` asks. Raises InputError naming the offending field."""
    user = item.user
    return Question(
        tenant=item.tenant,
        workload=item_to_workload(item, where),
        operation=OPERATION_NAMES.get(item.operation, ""),
        username=user.username,
        user_uid=user.uid,
        groups=tuple(user.groups),
        object_uid=item.object.uid,
        request_uid=item.request_uid,
        reuse_decision_id=item.reuse_decision_id,
    )


# --- responses ------------------------------------------------------------------------------


def decision_to_proto(
    decision: Decision, *, decision_id: str, policy_version: str, reused: bool = False
) -> pb.Decision:
    """The wire form of one decision, stamped with its log record id and snapshot version;
    `reused`: an earlier decision answered again, not logged by this call."""
    accelerators = [
        pb.ResolvedAccelerator(
            resource=a.resource,
            count=a.count,
            products=list(a.candidates),
            pinned=a.pinned,
            classifications=list(a.classifications),
            source=a.source,
        )
        for a in decision.accelerators
    ]
    return pb.Decision(
        action=ACTION_TO_PROTO[decision.action],
        rule=decision.rule_id or "",
        citation=decision.citation or "",
        message=decision.message,
        decision_id=decision_id,
        policy_version=policy_version,
        policy_versions=decision.policy_versions,
        tenant=decision.tenant or "",
        verification=decision.verification.value,
        jurisdictions=list(decision.countries),
        violations=[
            pb.Violation(
                rule=v.rule_id,
                policy=v.policy,
                policy_version=v.policy_version,
                action=ACTION_TO_PROTO[v.action],
                citation=v.citation,
                message=v.message,
                remedy=v.remedy,
                subject=v.subject,
                countries=list(v.countries),
            )
            for v in decision.violations
        ],
        accelerators=accelerators,
        models=[
            pb.ResolvedModel(
                reference=m.reference,
                model=m.model_id or "",
                provider=m.provider or "",
                source=m.source,
            )
            for m in decision.models
        ],
        accelerator_class=decision.accelerator_class,
        reused=reused,
        evaluated_at=timestamp(decision.evaluated_at),
        verification_ref=decision.verification_ref or "",
        jurisdiction_details=[
            pb.Jurisdiction(
                country=j.country, role=j.role.value, via=j.via, declared_as=j.declared_as
            )
            for j in decision.jurisdictions
        ],
    )


_E = TypeVar("_E", EffectiveVerification, JurisdictionRole)


@dataclass(frozen=True, slots=True)
class Answer:
    """One decision as the sidecar made and logged it: the core's `Decision`, the id of the
    decision-log record that holds it, and the digest of the policy snapshot that made it."""

    decision: Decision
    decision_id: str
    policy_version: str
    reused: bool = False
    """An earlier decision (named by the item's `reuse_decision_id`) answered again; it was
    logged when it was made, and no new record was written for this call."""


class MalformedAnswer(ValueError):
    """The sidecar's answer cannot be read as a decision; `str()` says what is wrong."""


# Lookups by wire value: a dict is several times cheaper than calling the enum, and this runs
# for every answer the webhook reads.
_VERIFICATIONS = {v.value: v for v in EffectiveVerification}
_ROLES = {r.value: r for r in JurisdictionRole}


def _action(value: int, rule: str | None = None) -> Action:
    action: Action | None = ACTION_FROM_PROTO.get(value)  # type: ignore[call-overload]
    if action is None:
        where = "a decision" if rule is None else f"violation {rule!r}"
        raise MalformedAnswer(f"the policy service sent no action for {where}")
    return action


def _known(table: dict[str, _E], value: str, where: str) -> _E:
    found = table.get(value)
    if found is None:
        raise MalformedAnswer(f"the policy service sent an unknown {where} {value!r}")
    return found


def answer_from_proto(decision: pb.Decision, item: pb.EvaluateItem) -> Answer:
    """The `Answer` to `item`; raises `MalformedAnswer` when it is not a usable decision."""
    if not decision.decision_id:
        # A decision without a log record cannot be traced; nobody may act on it.
        raise MalformedAnswer("the policy service answered without a decision id (not logged)")
    obj = item.object
    if decision.jurisdiction_details:
        jurisdictions = [
            Jurisdiction(
                country=j.country,
                role=_known(_ROLES, j.role, "jurisdiction role"),
                via=j.via,
                declared_as=j.declared_as,
            )
            for j in decision.jurisdiction_details
        ]
    else:
        # A sidecar older than field 18 sends only the countries; their roles are unknown, and
        # messages use only the countries.
        jurisdictions = [
            Jurisdiction(country=c, role=JurisdictionRole.INCORPORATION)
            for c in decision.jurisdictions
        ]
    core = Decision(
        action=_action(decision.action),
        object=ObjectRef(
            api_version=obj.api_version,
            kind=obj.kind,
            name=obj.name,
            namespace=obj.namespace or None,
        ),
        tenant=decision.tenant or None,
        evaluated_at=(
            decision.evaluated_at.ToDatetime(tzinfo=UTC)
            if decision.HasField("evaluated_at")
            else datetime.now(UTC)
        ),
        verification=_known(_VERIFICATIONS, decision.verification, "verification state"),
        verification_ref=decision.verification_ref or None,
        jurisdictions=tuple(jurisdictions),
        accelerators=tuple(
            [
                ResolvedAccelerator(
                    resource=a.resource,
                    count=a.count,
                    candidates=tuple(a.products),
                    pinned=a.pinned,
                    classifications=tuple(a.classifications),
                    source=a.source,
                )
                for a in decision.accelerators
            ]
        ),
        models=tuple(
            [
                ResolvedModel(
                    reference=m.reference,
                    model_id=m.model or None,
                    provider=m.provider or None,
                    source=m.source,
                )
                for m in decision.models
            ]
        ),
        violations=tuple(
            [
                Violation(
                    rule_id=v.rule,
                    policy=v.policy,
                    policy_version=v.policy_version,
                    action=_action(v.action, v.rule),
                    citation=v.citation,
                    message=v.message,
                    remedy=v.remedy,
                    subject=v.subject,
                    countries=tuple(v.countries),
                )
                for v in decision.violations
            ]
        ),
        policy_versions=dict(decision.policy_versions),
    )
    return Answer(
        decision=core,
        decision_id=decision.decision_id,
        policy_version=decision.policy_version,
        reused=decision.reused,
    )
