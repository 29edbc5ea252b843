"""KubeAI resource profile strings -> accelerator requests (`resource_profile`)."""

from __future__ import annotations

import pytest
import yaml

from exportgate.core.errors import InputError
from exportgate.core.extract import extract_workload
from exportgate.core.extract.dra_refs import NO_DRA_OBJECTS
from exportgate.core.extract.registry import AdapterRegistry
from exportgate.core.extract.resource_profile import kubeai_resource_profile
from exportgate.core.types import Action, Operator, ProductHint
from tests.core.builders import NOW
from tests.core.extract.fail_closed import ENGINE, GPU, RESTRICTED

VOCABULARY = AdapterRegistry.builtin().vocabulary


def read(value: object) -> list[tuple[str, int, tuple[ProductHint, ...]]]:
    found = kubeai_resource_profile(value, "spec.resourceProfile", VOCABULARY, NO_DRA_OBJECTS)
    return [(r.resource, r.count, r.hints) for r in found]


def product(value: str) -> tuple[ProductHint, ...]:
    return (ProductHint("exportgate.dev/product", Operator.IN, (value,)),)


@pytest.mark.parametrize(
    ("profile", "expected"),
    [
        ("nvidia-gpu-h100:8", [("nvidia.com/gpu", 8, product("h100"))]),
        ("nvidia-gpu-a100-80gb:2", [("nvidia.com/gpu", 2, product("a100-80gb"))]),
        ("amd-gpu-mi300x:8", [("amd.com/gpu", 8, product("mi300x"))]),
        ("google-tpu-v5e-1x1:1", [("google.com/tpu", 1, product("v5e"))]),
        ("google-tpu-v5e-2x4:1", [("google.com/tpu", 1, product("v5e"))]),
        ("cpu:1", []),
        ("nvidia-gpu-h100:0", []),
        ("", []),
        (None, []),
        ("gpu-large:2", [("resource-profile.kubeai.org/gpu-large", 2, ())]),
        ("nvidia-gpu-:1", [("resource-profile.kubeai.org/nvidia-gpu-", 1, ())]),
    ],
)
def test_profiles(profile, expected):
    assert read(profile) == expected


@pytest.mark.parametrize("profile", ["nvidia-gpu-h100", "nvidia-gpu-h100:x", 8])
def test_malformed_profiles_are_errors(profile):
    with pytest.raises(InputError) as raised:
        read(profile)
    assert raised.value.field == "spec.resourceProfile"


# Session 14, second red team (k3.yaml, k12.yaml): a Model's denial told the tenant to pin a
# product "with nodeSelector nvidia.com/gpu.product=...", which a Model cannot do, and called
# the product part of a profile name "the node label value".
K3 = """\
apiVersion: kubeai.org/v1
kind: Model
metadata:
  name: m
  namespace: team-n
spec:
  features:
  - TextGeneration
  url: hf://Qwen/Qwen2.5-0.5B-Instruct
  engine: VLLM
  resourceProfile: NVIDIA-GPU-H100:8
  minReplicas: 1
"""
K12 = K3.replace("NVIDIA-GPU-H100:8", "nvidia-gpu-h100-80gb:8")


@pytest.mark.parametrize("text", [K3, K12], ids=["unknown-profile", "unknown-product"])
def test_a_model_is_told_to_choose_a_profile(text):
    workload = extract_workload(yaml.safe_load(text))
    decision = ENGINE.evaluate(workload, RESTRICTED, NOW)
    assert decision.action is Action.DENY
    violation = decision.violations[0]
    assert violation.rule_id  # the rule, its id and the exit code are unchanged
    said = violation.message + " " + violation.remedy
    assert "nodeSelector" not in said
    assert "node selector" not in said
    assert "node label value" not in said
    assert "a resource profile of an allowed accelerator (for example nvidia-gpu-t4:1" in said
    assert "in spec.resourceProfile" in said
    if text is K12:
        assert "the product 'h100-80gb' named at spec.resourceProfile" in said


def test_a_pods_remedy_still_names_a_node_selector():
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "p", "namespace": "t"},
        "spec": {"containers": [{"name": "c", "image": "x", "resources": {"limits": GPU}}]},
    }
    decision = ENGINE.evaluate(extract_workload(pod), RESTRICTED, NOW)
    assert "nodeSelector nvidia.com/gpu.product=" in decision.violations[0].remedy
