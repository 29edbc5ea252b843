"""`Decision.restamped`: a cached decision reused for another object and instant."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

from exportgate.core.decision import Decision
from exportgate.core.engine import PolicyEngine
from exportgate.core.types import ObjectRef
from tests.core.builders import make_tenant, pinned, workload
from tests.sidecar.builders import NOW


def test_restamped_changes_the_object_and_instant_and_keeps_every_other_field() -> None:
    decision = PolicyEngine.build().evaluate(
        workload(pinned("NVIDIA-H100-80GB-HBM3")), make_tenant("acme"), NOW
    )
    other = ObjectRef("v1", "Pod", "replica-2", "acme-ml")
    later = NOW + timedelta(seconds=5)
    restamped = decision.restamped(other, later)
    assert restamped == dataclasses.replace(decision, object=other, evaluated_at=later)
    for f in dataclasses.fields(Decision):
        if f.name not in ("object", "evaluated_at"):
            assert getattr(restamped, f.name) is getattr(decision, f.name), f.name
    # `restamped` passes each field on by hand: a new field must be added there too.
    assert [f.name for f in dataclasses.fields(Decision)] == [
        "action", "object", "tenant", "evaluated_at", "verification", "verification_ref",
        "jurisdictions", "accelerators", "models", "violations", "policy_versions",
    ]  # fmt: skip
