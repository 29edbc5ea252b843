"""Which workloads the policy service decides off its event loop (`_large`).

Resolving a placement costs about 2 us per value of its `In` lists and Kubernetes does not bound
their length: one request with 60,000 values took 119 ms on the loop that every admission
shares (red team, session 12). Such workloads now go to a worker thread like those with many
requests, and their decision records are checked against `MAX_DECISION_RECORD_BYTES`.
"""

from __future__ import annotations

from exportgate.core.limits import INLINE_REQUESTS
from exportgate.core.types import (
    AcceleratorRequest,
    ModelRequest,
    ObjectRef,
    Operator,
    ProductHint,
    Workload,
)
from exportgate.service.evaluate import _large

REF = ObjectRef("v1", "Pod", "p", "team")


def _pod(*requests: AcceleratorRequest, models: tuple[ModelRequest, ...] = ()) -> Workload:
    return Workload(ref=REF, accelerators=tuple(requests), models=models)


def _pinned(values: list[str]) -> AcceleratorRequest:
    hint = ProductHint("nvidia.com/gpu.product", Operator.IN, tuple(values))
    return AcceleratorRequest("nvidia.com/gpu", 1, (hint,), "spec.containers[0]")


def test_an_ordinary_pod_is_decided_on_the_loop() -> None:
    assert not _large(_pod(_pinned(["NVIDIA-H100-80GB-HBM3", "Tesla-T4"])))


def test_one_request_with_a_huge_in_list_is_decided_off_the_loop() -> None:
    assert _large(_pod(_pinned([f"NVIDIA-H100-80GB-HBM3-{i}" for i in range(60_000)])))


def test_many_requests_are_decided_off_the_loop() -> None:
    requests = [_pinned([f"v{i}"]) for i in range(INLINE_REQUESTS + 1)]
    assert _large(_pod(*requests))


def test_one_long_model_reference_is_large() -> None:
    assert _large(_pod(models=(ModelRequest("a/" * 10_000, None, "spec.containers[0].args"),)))
