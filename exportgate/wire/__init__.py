"""The one wire between exportgate's programs: the `exportgate.v1` gRPC contract, seen from Python.

Every program that talks to the policy sidecar, and the sidecar itself, goes through here:

- `exportgate.wire.convert` translates both directions, and only it knows both vocabularies:
  a `Workload` becomes an `EvaluateItem` (callers) and back (the sidecar); a core `Decision`
  becomes a wire `Decision` (the sidecar) and back into an `Answer` (callers).
- `exportgate.wire.client.PolicyClient` is the one client of `PolicyService` over gRPC.
- `exportgate.wire.question.Question` is one item in the form callers hold it (the core's
  `Workload` plus who asks about which object); the service decides Questions, wherever it runs.

An `Answer` is the core's own `Decision` plus what the sidecar adds to it: the id of the
decision-log record that holds it and the policy snapshot that made it. Callers never see
protobuf types in a decision, and domain facts (a decision's accelerator class, its message)
come from the core, not from here.

This package sits below the programs (sidecar, webhook, operator, CLI), which never import each
other; it may import grpc and `exportgate.v1`, the core may not (`.importlinter`).
"""

from exportgate.wire.client import PolicyClient, PolicyUnavailable, SidecarStatus
from exportgate.wire.convert import Answer, workload_to_item
from exportgate.wire.question import Question

__all__ = [
    "Answer",
    "PolicyClient",
    "PolicyUnavailable",
    "Question",
    "SidecarStatus",
    "workload_to_item",
]
