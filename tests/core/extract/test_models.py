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
    (
        "vllm-flag-and-value",
        {"image": "vllm/vllm-openai", "args": ["--model", "meta-llama/Llama-4-Scout"]},
        ("meta-llama/Llama-4-Scout", None, "spec.containers[0].args[0]"),
    ),
    (
        "flag-equals",
        {"image": "x", "args": ["--model=claude-sonnet-4-5"]},
        ("claude-sonnet-4-5", None, "spec.containers[0].args[0]"),
    ),
    (
        "vllm-serve-positional",
        {
            "image": "vllm/vllm-openai",
            "command": ["vllm", "serve", "meta-llama/Llama-3.1-8B-Instruct"],
        },
        ("meta-llama/Llama-3.1-8B-Instruct", None, "spec.containers[0].command[2]"),
    ),
    (
        "kserve-model-id",
        {"image": "x", "args": ["--model_id", "hf://meta-llama/Llama-3.2-1B"]},
        ("hf://meta-llama/Llama-3.2-1B", None, "spec.containers[0].args[0]"),
    ),
    (
        "tgi-model-id",
        {
            "image": "ghcr.io/huggingface/text-generation-inference",
            "args": ["--model-id", "meta-llama/Llama-4-Scout"],
        },
        ("meta-llama/Llama-4-Scout", None, "spec.containers[0].args[0]"),
    ),
    (
        "env-model-id",
        {"image": "x", "env": [{"name": "MODEL_ID", "value": "gpt-4o"}]},
        ("gpt-4o", None, "spec.containers[0].env[0].value"),
    ),
    (
        "nim-image",
        {"image": "nvcr.io/nim/meta/llama-3.1-70b-instruct:1.3"},
        ("meta/llama-3.1-70b-instruct", "meta", "spec.containers[0].image"),
    ),
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


MORE_CONTAINERS = [
    # (case, container, [(reference, provider, source)])
    (
        "anthropic-sdk-var",
        {"image": "x", "env": [{"name": "ANTHROPIC_MODEL", "value": "claude-sonnet-4-5"}]},
        [("claude-sonnet-4-5", "anthropic", "spec.containers[0].env[0].value")],
    ),
    (
        "claude-code-default-vars",
        {
            "image": "x",
            "env": [
                {
                    "name": "ANTHROPIC_DEFAULT_OPUS_MODEL",
                    "value": "us.anthropic.claude-opus-4-1-20250805-v1:0",
                },
                {
                    "name": "ANTHROPIC_SMALL_FAST_MODEL",
                    "value": "us.anthropic.claude-3-5-haiku-20241022-v1:0",
                },
            ],
        },
        [
            (
                "us.anthropic.claude-opus-4-1-20250805-v1:0",
                "anthropic",
                "spec.containers[0].env[0].value",
            ),
            (
                "us.anthropic.claude-3-5-haiku-20241022-v1:0",
                "anthropic",
                "spec.containers[0].env[1].value",
            ),
        ],
    ),
    (
        "openai-sdk-var",
        {"image": "x", "env": [{"name": "OPENAI_MODEL", "value": "gpt-4.1"}]},
        [("gpt-4.1", "openai", "spec.containers[0].env[0].value")],
    ),
    (
        "gemini-sdk-var",
        {"image": "x", "env": [{"name": "GEMINI_MODEL", "value": "gemini-2.5-pro"}]},
        [("gemini-2.5-pro", "google", "spec.containers[0].env[0].value")],
    ),
    (
        "azure-deployment",
        {"image": "x", "env": [{"name": "AZURE_OPENAI_DEPLOYMENT", "value": "prod"}]},
        [("prod", "azure-openai", "spec.containers[0].env[0].value")],
    ),
    (
        "bedrock-var",
        {
            "image": "x",
            "env": [{"name": "BEDROCK_MODEL_ID", "value": "meta.llama3-1-8b-instruct-v1:0"}],
        },
        [("meta.llama3-1-8b-instruct-v1:0", "bedrock", "spec.containers[0].env[0].value")],
    ),
    (
        "generic-MODEL",
        {"image": "x", "env": [{"name": "MODEL", "value": "gpt-4o"}]},
        [("gpt-4o", None, "spec.containers[0].env[0].value")],
    ),
    (
        "generic-LLM_MODEL",
        {"image": "x", "env": [{"name": "LLM_MODEL", "value": "anthropic/claude-3-haiku"}]},
        [("anthropic/claude-3-haiku", None, "spec.containers[0].env[0].value")],
    ),
    (
        "env-$(VAR)-resolved",
        {
            "image": "x",
            "env": [
                {
                    "name": "M",
                    "value": "arn:aws:bedrock:us-east-1:1:foundation-model/anthropic.claude-v2",
                },
                {"name": "ANTHROPIC_MODEL", "value": "$(M)"},
            ],
        },
        [
            (
                "arn:aws:bedrock:us-east-1:1:foundation-model/anthropic.claude-v2",
                "anthropic",
                "spec.containers[0].env[1].value",
            )
        ],
    ),
    (
        "env-$(VAR)-defined-later-stays",
        {
            "image": "x",
            "env": [
                {"name": "ANTHROPIC_MODEL", "value": "$(M)"},
                {"name": "M", "value": "claude-3-haiku"},
            ],
        },
        [("$(M)", "anthropic", "spec.containers[0].env[0].value")],
    ),
    (
        "env-$(VAR)-from-secret",
        {
            "image": "x",
            "env": [
                {"name": "M", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}},
                {"name": "OPENAI_MODEL", "value": "$(M)"},
            ],
        },
        [("$(M)", "openai", "spec.containers[0].env[1].value")],
    ),
    (
        "env-escaped-$$",
        {
            "image": "x",
            "env": [{"name": "M", "value": "claude-3-haiku"}, {"name": "MODEL", "value": "$$(M)"}],
        },
        [("$(M)", None, "spec.containers[0].env[1].value")],
    ),
    (
        "valueFrom-vendor-var",
        {
            "image": "x",
            "env": [
                {
                    "name": "ANTHROPIC_MODEL",
                    "valueFrom": {"configMapKeyRef": {"name": "c", "key": "m"}},
                }
            ],
        },
        [("$(ANTHROPIC_MODEL)", "anthropic", "spec.containers[0].env[0].valueFrom")],
    ),
    (
        "args-$(VAR)",
        {
            "image": "x",
            "env": [{"name": "MID", "value": "meta-llama/Llama-4-Scout"}],
            "args": ["--model=$(MID)"],
        },
        [("meta-llama/Llama-4-Scout", None, "spec.containers[0].args[0]")],
    ),
    (
        "args-$(VAR)-unresolvable",
        {"image": "x", "args": ["--model", "$(NOWHERE)"]},
        [("$(NOWHERE)", None, "spec.containers[0].args[0]")],
    ),
    (
        "shell-$VAR",
        {
            "image": "x",
            "env": [{"name": "MID", "value": "Qwen/Qwen3-8B"}],
            "command": ["/bin/sh", "-c", "exec vllm serve ${MID} --port 8000"],
        },
        [("Qwen/Qwen3-8B", None, "spec.containers[0].command[2]")],
    ),
    (
        "vllm-full-path",
        {"image": "x", "command": ["/usr/local/bin/vllm", "serve", "openai/gpt-oss-20b"]},
        [("openai/gpt-oss-20b", None, "spec.containers[0].command[2]")],
    ),
    (
        "vllm-served-model-name-is-an-alias",
        {
            "image": "x",
            "command": ["vllm", "serve", "openai/gpt-oss-20b", "--served-model-name", "gpt-4o"],
        },
        [("openai/gpt-oss-20b", None, "spec.containers[0].command[2]")],
    ),
    (
        "served-model-name-alone-is-nothing",
        {"image": "x", "args": ["--served-model-name", "claude-3-5-sonnet", "--port", "8000"]},
        [],
    ),
    ("served-model-name-equals", {"image": "x", "args": ["--served-model-name=gpt-4o"]}, []),
    (
        "ollama-run",
        {"image": "ollama/ollama", "command": ["ollama", "run", "llama3.2-vision"]},
        [("llama3.2-vision", None, "spec.containers[0].command[2]")],
    ),
    (
        "ollama-pull-post-start",
        {
            "image": "ollama/ollama",
            "lifecycle": {
                "postStart": {"exec": {"command": ["/bin/sh", "-c", "ollama pull gemma3:27b"]}}
            },
        },
        [("gemma3:27b", None, "spec.containers[0].lifecycle.postStart.exec.command[2]")],
    ),
    (
        "served-model-name-env-is-an-alias",
        {"image": "x", "env": [{"name": "SERVED_MODEL_NAME", "value": "claude-3-5-sonnet"}]},
        [],
    ),
    (
        "advertised-name-only-as-fallback",
        {
            "image": "x",
            "env": [
                {"name": "MODEL_NAME", "value": "chat"},
                {"name": "MODEL_ID", "value": "Qwen/Qwen3-8B"},
            ],
        },
        [("Qwen/Qwen3-8B", None, "spec.containers[0].env[1].value")],
    ),
    (
        "claude-code-on-bedrock",
        {"image": "x", "env": [{"name": "CLAUDE_CODE_USE_BEDROCK", "value": "1"}]},
        [("*", "anthropic", "spec.containers[0].env[0].value")],
    ),
    (
        "claude-code-switch-off",
        {"image": "x", "env": [{"name": "CLAUDE_CODE_USE_VERTEX", "value": "0"}]},
        [],
    ),
    (
        "advertised-env-alone-counts",
        {"image": "x", "env": [{"name": "MODEL_NAME", "value": "gpt-4o-mini"}]},
        [("gpt-4o-mini", None, "spec.containers[0].env[0].value")],
    ),
    (
        "kserve-model_name-is-the-isvc-name",
        {
            "image": "kserve/huggingfaceserver",
            "args": ["--model_name=claude-helper", "--port=8080"],
        },
        [],
    ),
    (
        "kserve-template-name",
        {
            "image": "kserve/huggingfaceserver",
            "args": ["--model_name={{.Name}}", "--model_id=Qwen/Qwen3-8B"],
        },
        [("Qwen/Qwen3-8B", None, "spec.containers[0].args[1]")],
    ),
]


@pytest.mark.parametrize(
    ("container", "expected"), [c[1:] for c in MORE_CONTAINERS], ids=[c[0] for c in MORE_CONTAINERS]
)
def test_sdk_variables_kubelet_expansion_and_positional_models(
    container: dict[str, Any], expected: list[tuple[str, str | None, str]]
) -> None:
    models = extract_workload(_pod(container)).models
    assert [(m.reference, m.provider, m.source) for m in models] == expected


SCOUT = "meta-llama/Llama-4-Scout-17B-16E-Instruct"

SERVER_LINES = [
    # (case, container, [(reference, provider, source)]): /tmp/rt2 F5, F6, F8
    (
        "llama.cpp-hf",
        {"image": "ghcr.io/ggml-org/llama.cpp:server", "args": ["-hf", f"{SCOUT}-GGUF"]},
        [(f"{SCOUT}-GGUF", None, "spec.containers[0].args[0]")],
    ),
    (
        "llama.cpp-m-file-named-after-the-model",
        {"image": "x", "args": ["-m", "/models/Llama-4-Scout-Q4_K_M.gguf"]},
        [("/models/Llama-4-Scout-Q4_K_M.gguf", None, "spec.containers[0].args[0]")],
    ),
    ("llama.cpp-m-file-naming-nothing", {"image": "x", "args": ["-m", "/models/x.gguf"]}, []),
    ("python-m-is-a-module", {"image": "x", "command": ["python", "-m", "my/app"]}, []),
    (
        "trtllm-serve",
        {"image": "x", "command": ["trtllm-serve", SCOUT, "--tp_size", "8"]},
        [(SCOUT, None, "spec.containers[0].command[1]")],
    ),
    (
        "trtllm-serve-serve",
        {"image": "x", "command": ["/usr/bin/trtllm-serve", "serve", SCOUT]},
        [(SCOUT, None, "spec.containers[0].command[2]")],
    ),
    (
        "lmdeploy",
        {"image": "x", "command": ["lmdeploy", "serve", "api_server", SCOUT]},
        [(SCOUT, None, "spec.containers[0].command[3]")],
    ),
    (
        "python-m-vllm-serve",
        {"image": "x", "command": ["python3", "-m", "vllm.entrypoints.cli.main", "serve", SCOUT]},
        [(SCOUT, None, "spec.containers[0].command[4]")],
    ),
    (
        "hf-download-in-a-shell-line",
        {"image": "x", "command": ["sh", "-c", f"hf download {SCOUT} --local-dir /m && ls"]},
        [(SCOUT, None, "spec.containers[0].command[2]")],
    ),
    (
        "local-path-naming-a-model",
        {"image": "x", "args": ["--model", "/models/Llama-4-Scout-17B-16E-Instruct/"]},
        [("/models/Llama-4-Scout-17B-16E-Instruct/", None, "spec.containers[0].args[0]")],
    ),
    ("local-path-naming-nothing", {"image": "x", "args": ["--model", "/mnt/models"]}, []),
    (
        "server-env-from",
        {"image": "vllm/vllm-openai:v0.9", "envFrom": [{"configMapRef": {"name": "llm"}}]},
        [("$(envFrom ConfigMap llm)", None, "spec.containers[0].envFrom[0]")],
    ),
    (
        "client-env-from-a-vendor-secret",
        {"image": "app", "envFrom": [{"prefix": "X_"}, {"secretRef": {"name": "openai-key"}}]},
        [("$(envFrom Secret openai-key)", None, "spec.containers[0].envFrom[1]")],
    ),
    ("other-env-from", {"image": "app", "envFrom": [{"configMapRef": {"name": "cfg"}}]}, []),
    (
        "base-url-of-a-vendor",
        {
            "image": "app",
            "env": [{"name": "ANTHROPIC_BASE_URL", "value": "https://api.anthropic.com"}],
        },
        [("*", "anthropic", "spec.containers[0].env[0].value")],
    ),
    (
        "base-url-named-model-wins",
        {
            "image": "app",
            "env": [
                {"name": "OPENAI_BASE_URL", "value": "https://api.openai.com/v1"},
                {"name": "OPENAI_MODEL", "value": "gpt-4.1"},
            ],
        },
        [("gpt-4.1", "openai", "spec.containers[0].env[1].value")],
    ),
    (
        "base-url-in-the-cluster",
        {
            "image": "app",
            "env": [
                {"name": "OPENAI_BASE_URL", "value": "http://vllm:8000/v1"},
                {"name": "OPENAI_MODEL", "value": "gpt-oss-120b"},
            ],
        },
        [("gpt-oss-120b", None, "spec.containers[0].env[1].value")],
    ),
    (
        "base-url-elsewhere",
        {"image": "app", "env": [{"name": "OPENAI_BASE_URL", "value": "https://llm.example/v1"}]},
        [],
    ),
]


@pytest.mark.parametrize(
    ("container", "expected"), [c[1:] for c in SERVER_LINES], ids=[c[0] for c in SERVER_LINES]
)
def test_server_command_lines_env_from_and_base_urls(
    container: dict[str, Any], expected: list[tuple[str, str | None, str]]
) -> None:
    models = extract_workload(_pod(container)).models
    assert [(m.reference, m.provider, m.source) for m in models] == expected


def _ray(kind: str, spec: dict[str, Any]) -> dict[str, Any]:
    head = {"rayStartParams": {}, "template": {"spec": {"containers": [{"name": "h"}]}}}
    cluster = "rayClusterConfig" if kind == "RayService" else "rayClusterSpec"
    return {
        "apiVersion": "ray.io/v1",
        "kind": kind,
        "metadata": {"name": "r", "namespace": "t"},
        "spec": {**spec, cluster: {"headGroupSpec": head}},
    }


@pytest.mark.parametrize(
    ("obj", "expected"),
    [
        (
            _ray(
                "RayService",
                {
                    "serveConfigV2": "applications:\n- args:\n    llm_configs:\n"
                    f"    - model_loading_config: {{model_id: scout, model_source: {SCOUT}}}\n"
                },
            ),
            [(SCOUT, "spec.serveConfigV2")],
        ),
        (
            _ray(
                "RayService",
                {
                    "serveConfigV2": "applications:\n- args:\n    llm_configs:\n"
                    "    - model_loading_config: {model_id: Qwen/Qwen3-8B}\n"
                },
            ),
            [("Qwen/Qwen3-8B", "spec.serveConfigV2")],
        ),
        (
            _ray(
                "RayService",
                {
                    "serveConfigV2": "applications:\n- runtime_env:\n    env_vars:\n"
                    "      MODEL_ID: claude-opus-4-1\n"
                },
            ),
            [("claude-opus-4-1", "spec.serveConfigV2")],
        ),
        (_ray("RayService", {"serveConfigV2": "applications: [unbalanced"}), []),
        (
            _ray("RayJob", {"entrypoint": "python client.py --model claude-opus-4-1"}),
            [("claude-opus-4-1", "spec.entrypoint")],
        ),
        (
            _ray(
                "RayJob",
                {"entrypoint": "python train.py", "runtimeEnvYAML": "env_vars: {MODEL: gpt-4o}"},
            ),
            [("gpt-4o", "spec.runtimeEnvYAML")],
        ),
    ],
    ids=[
        "serve-llm-source",
        "serve-llm-id-only",
        "serve-env-vars",
        "not-yaml",
        "entrypoint",
        "runtime-env",
    ],
)
def test_ray_serve_configs_and_job_entrypoints(
    obj: dict[str, Any], expected: list[tuple[str, str]]
) -> None:
    models = extract_workload(obj).models
    assert [(m.reference, m.source) for m in models] == expected
