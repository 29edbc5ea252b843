"""`Question`: one item for the policy service to decide, in the form its callers hold it.

An `EvaluateItem` on the wire says who asks (tenant, user), about which object and operation,
and what that object asks for (accelerators, models). A `Question` says the same with the core's
own `Workload` for the last part, so that a caller in the same process as the service (the
webhook with the service embedded) hands over what it extracted without encoding and decoding
it, and the gRPC servicer decodes an item into exactly the same thing. Either way the service
sees one shape, and decides and logs it identically.
"""

from __future__ import annotations

from dataclasses import dataclass

from exportgate.core.types import ModelRequest, ObjectRef, Workload


@dataclass(frozen=True, slots=True)
class Question:
    tenant: str
    """The Tenant record named by the object's namespace (or cluster-scoped label); "" for none."""

    workload: Workload
    """What is asked for, as the wire carries it (`on_the_wire`): no labels, no tenant label."""

    operation: str = ""
    """CREATE, UPDATE, DELETE, CONNECT, AUDIT or CHECK; "" when unspecified."""

    username: str = ""
    user_uid: str = ""
    groups: tuple[str, ...] = ()
    object_uid: str = ""
    request_uid: str = ""
    reuse_decision_id: str = ""
    """An earlier decision the caller names for reuse (the validating phase after the stamp)."""

    @property
    def ref(self) -> ObjectRef:
        return self.workload.ref


def on_the_wire(workload: Workload, ref: ObjectRef | None = None) -> Workload:
    """`workload` (about object `ref`, when given) exactly as an `EvaluateItem` would deliver it
    to the service.

    The wire carries the object reference, accelerators and models; not the labels the webhook
    read them from, nor the object's own tenant label, and an empty namespace or provider arrives
    as none. A question asked in-process is normalised the same way, so that where the service
    runs never changes what it decides or logs."""
    ref = ref or workload.ref
    if ref.namespace == "":
        ref = ObjectRef(api_version=ref.api_version, kind=ref.kind, name=ref.name)
    models = workload.models
    if any(m.provider == "" for m in models):
        models = tuple(
            ModelRequest(reference=m.reference, provider=m.provider or None, source=m.source)
            for m in models
        )
    return Workload(ref=ref, accelerators=workload.accelerators, models=models)
