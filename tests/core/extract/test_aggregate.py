"""Extraction work is bounded: requests are distinct (resource, placement) pairs, within caps."""

from __future__ import annotations

from typing import Any

import pytest

from exportgate.core.errors import InputError
from exportgate.core.extract import extract_workload
from exportgate.core.limits import (
    MAX_CLAIMS,
    MAX_CONTAINERS,
    MAX_MODEL_REFERENCES,
    MAX_PLACEMENTS,
)

GFD = "nvidia.com/gpu.product"


def _pod(containers: int, terms: int, *, gpus: int = 1) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "p", "namespace": "team"},
        "spec": {
            "containers": [
                {"name": f"c{i}", "image": "x", "resources": {"limits": {"nvidia.com/gpu": gpus}}}
                for i in range(containers)
            ],
            "affinity": {
                "nodeAffinity": {
                    "requiredDuringSchedulingIgnoredDuringExecution": {
                        "nodeSelectorTerms": [
                            {"matchExpressions": [
                                {"key": GFD, "operator": "In", "values": [f"product-{t}"]}
                            ]}
                            for t in range(terms)
                        ]
                    }
                }
            },
        },
    }


def test_containers_times_placements_gives_one_request_per_placement_with_summed_counts() -> None:
    workload = extract_workload(_pod(MAX_CONTAINERS, MAX_PLACEMENTS, gpus=2))
    assert len(workload.accelerators) == MAX_PLACEMENTS
    assert {a.count for a in workload.accelerators} == {2 * MAX_CONTAINERS}
    assert workload.accelerators[0].source.startswith("spec.containers[0]")


def test_repeated_placements_are_merged_in_one_pass() -> None:
    pod = _pod(3, 1)
    terms = pod["spec"]["affinity"]["nodeAffinity"][
        "requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
    terms.extend([terms[0]] * 5000)  # many copies of one term: still one placement
    assert len(extract_workload(pod).accelerators) == 1


@pytest.mark.parametrize(
    ("pod", "cap"),
    [
        (_pod(MAX_CONTAINERS + 1, 1), "MAX_CONTAINERS"),
        (_pod(1, MAX_PLACEMENTS + 1), "MAX_PLACEMENTS"),
    ],
    ids=["containers", "placements"],
)
def test_an_object_past_a_cap_is_refused_naming_it(pod: dict[str, Any], cap: str) -> None:
    with pytest.raises(InputError) as caught:
        extract_workload(pod)
    text = caught.value.describe()
    assert cap in text and "split the workload" in text


def test_too_many_claims_are_refused() -> None:
    pod = _pod(1, 1)
    pod["spec"]["resourceClaims"] = [
        {"name": f"c{i}", "resourceClaimName": f"c{i}"} for i in range(MAX_CLAIMS + 1)
    ]
    with pytest.raises(InputError, match="MAX_CLAIMS"):
        extract_workload(pod)


def test_too_many_model_references_are_refused() -> None:
    pod = _pod(1, 1)
    pod["spec"]["containers"] = [
        {"name": f"c{i}", "image": "vllm/vllm-openai:v0.6.0",
         "args": ["--model", f"meta-llama/Llama-3.1-{i}B-Instruct"]}
        for i in range(MAX_MODEL_REFERENCES + 1)
    ]
    with pytest.raises(InputError, match=r"MAX_CONTAINERS|MAX_MODEL_REFERENCES"):
        extract_workload(pod)
