"""KubeAI resource profile strings -> accelerator requests (`resource_profile`)."""

from __future__ import annotations

import pytest

from exportgate.core.errors import InputError
from exportgate.core.extract.dra_refs import NO_DRA_OBJECTS
from exportgate.core.extract.registry import AdapterRegistry
from exportgate.core.extract.resource_profile import kubeai_resource_profile
from exportgate.core.types import Operator, ProductHint

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
