"""Pod specs: counts, placement, and malformed manifests that name the offending field."""

from __future__ import annotations

from typing import Any

import pytest

from exportgate.core.errors import InputError
from exportgate.core.extract import extract_workload
from exportgate.core.types import Operator

GFD = "nvidia.com/gpu.product"


def _pod(spec: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "t"},
            "spec": spec}


def _gpu(resources: dict[str, Any]) -> dict[str, Any]:
    return {"containers": [{"name": "c", "image": "x", "resources": resources}]}


COUNTS = [
    ("limit-int", {"limits": {"nvidia.com/gpu": 2}}, 2),
    ("limit-string", {"limits": {"nvidia.com/gpu": "8"}}, 8),
    ("request-only", {"requests": {"nvidia.com/gpu": 1}}, 1),
    ("limit-wins", {"limits": {"nvidia.com/gpu": "2"}, "requests": {"nvidia.com/gpu": "2"}}, 2),
]


@pytest.mark.parametrize(
    ("resources", "count"), [c[1:] for c in COUNTS], ids=[c[0] for c in COUNTS]
)
def test_counts(resources: dict[str, Any], count: int) -> None:
    (request,) = extract_workload(_pod(_gpu(resources))).accelerators
    assert request.count == count


@pytest.mark.parametrize(
    "resources",
    [{"limits": {"nvidia.com/gpu": 0}}, {"limits": {"cpu": "4", "memory": "1Gi"}},
     {"limits": {"gpu.intel.com/millicores": 100}}],
    ids=["zero", "no-accelerator", "ignored-intel-sharing-resource"],
)
def test_requests_for_no_accelerator(resources: dict[str, Any]) -> None:
    assert extract_workload(_pod(_gpu(resources))).accelerators == ()


def test_node_affinity_terms_are_alternatives_and_node_selector_applies_to_each() -> None:
    spec = _gpu({"limits": {"nvidia.com/gpu": 1}})
    spec["nodeSelector"] = {"karpenter.k8s.aws/instance-gpu-name": "h100"}
    spec["affinity"] = {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
        "nodeSelectorTerms": [
            {"matchExpressions": [{"key": GFD, "operator": "In", "values": ["A", "B"]}]},
            {"matchExpressions": [{"key": GFD, "operator": "NotIn", "values": ["C"]}]},
        ]}}}
    requests = extract_workload(_pod(spec)).accelerators
    assert [[(h.key, h.operator, h.values) for h in r.hints] for r in requests] == [
        [("karpenter.k8s.aws/instance-gpu-name", Operator.IN, ("h100",)),
         (GFD, Operator.IN, ("A", "B"))],
        [("karpenter.k8s.aws/instance-gpu-name", Operator.IN, ("h100",)),
         (GFD, Operator.NOT_IN, ("C",))],
    ]


MALFORMED = [
    # (case, spec, field, words)
    ("count-not-a-number", _gpu({"limits": {"nvidia.com/gpu": "lots"}}),
     'spec.containers[0].resources.limits["nvidia.com/gpu"]', "not a device count"),
    ("fractional-count", _gpu({"limits": {"nvidia.com/gpu": "1.5"}}),
     'spec.containers[0].resources.limits["nvidia.com/gpu"]', "whole devices"),
    ("containers-not-a-list", {"containers": "main"}, "spec.containers", "expected a list"),
    ("resource-name-not-a-string", _gpu({"requests": {1: 2}}),
     'spec.containers[0].resources.requests["1"]', "expected a string"),
    ("node-selector-not-a-map", {**_gpu({"limits": {"nvidia.com/gpu": 1}}),
                                 "nodeSelector": ["a"]}, "spec.nodeSelector",
     "expected an object"),
]


@pytest.mark.parametrize(
    ("spec", "field", "words"), [m[1:] for m in MALFORMED], ids=[m[0] for m in MALFORMED]
)
def test_malformed_pods_name_the_field(spec: dict[str, Any], field: str, words: str) -> None:
    with pytest.raises(InputError) as caught:
        extract_workload(_pod(spec))
    assert caught.value.field == field
    assert words in caught.value.message


def test_cluster_scoped_objects_carry_their_tenant_label() -> None:
    nodepool = {
        "apiVersion": "karpenter.sh/v1",
        "kind": "NodePool",
        "metadata": {"name": "gpu", "labels": {"exportgate.dev/tenant": "acme"}},
        "spec": {"template": {"spec": {"requirements": [
            {"key": "karpenter.k8s.aws/instance-family", "operator": "In", "values": ["p5"]}
        ]}}},
    }
    workload = extract_workload(nodepool)
    assert workload.tenant_label == "acme"
    assert str(workload.ref) == "NodePool/gpu"
