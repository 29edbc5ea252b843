"""Model references in containers: serving flags, environment, NIM images."""

from __future__ import annotations

from typing import Any

import pytest

from exportgate.core.extract import extract_workload


def _pod(container: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "p", "namespace": "t"},
        "spec": {"containers": [{"name": "c", **container}]},
    }


CONTAINERS = [
    # (case, container, (reference, provider, source))
    ("vllm-flag-and-value",
     {"image": "vllm/vllm-openai", "args": ["--model", "meta-llama/Llama-4-Scout"]},
     ("meta-llama/Llama-4-Scout", None, "spec.containers[0].args[0]")),
    ("flag-equals", {"image": "x", "args": ["--model=claude-sonnet-4-5"]},
     ("claude-sonnet-4-5", None, "spec.containers[0].args[0]")),
    ("vllm-serve-positional", {"image": "vllm/vllm-openai",
                               "command": ["vllm", "serve", "meta-llama/Llama-3.1-8B-Instruct"]},
     ("meta-llama/Llama-3.1-8B-Instruct", None, "spec.containers[0].command[2]")),
    ("kserve-model-id", {"image": "x", "args": ["--model_id", "hf://meta-llama/Llama-3.2-1B"]},
     ("hf://meta-llama/Llama-3.2-1B", None, "spec.containers[0].args[0]")),
    ("tgi-model-id", {"image": "ghcr.io/huggingface/text-generation-inference",
                      "args": ["--model-id", "meta-llama/Llama-4-Scout"]},
     ("meta-llama/Llama-4-Scout", None, "spec.containers[0].args[0]")),
    ("env-model-id", {"image": "x", "env": [{"name": "MODEL_ID", "value": "gpt-4o"}]},
     ("gpt-4o", None, "spec.containers[0].env[0].value")),
    ("nim-image", {"image": "nvcr.io/nim/meta/llama-3.1-70b-instruct:1.3"},
     ("meta/llama-3.1-70b-instruct", "meta", "spec.containers[0].image")),
]


@pytest.mark.parametrize(
    ("container", "expected"), [c[1:] for c in CONTAINERS], ids=[c[0] for c in CONTAINERS]
)
def test_model_references_in_containers(
    container: dict[str, Any], expected: tuple[str, str | None, str]
) -> None:
    models = extract_workload(_pod(container)).models
    assert [(m.reference, m.provider, m.source) for m in models] == [expected]


@pytest.mark.parametrize(
    "container",
    [
        {"image": "x", "args": ["--port", "8080"]},
        {"image": "x", "env": [{"name": "LOG_LEVEL", "value": "debug"}]},
        {"image": "nginx:1.27"},
    ],
    ids=["unrelated-flag", "unrelated-env", "plain-image"],
)
def test_containers_without_model_references(container: dict[str, Any]) -> None:
    assert extract_workload(_pod(container)).models == ()


def test_the_same_model_named_twice_is_reported_once() -> None:
    container = {
        "image": "x",
        "args": ["--model", "gpt-4o"],
        "env": [{"name": "MODEL_ID", "value": "gpt-4o"}],
    }
    assert [m.reference for m in extract_workload(_pod(container)).models] == ["gpt-4o"]
