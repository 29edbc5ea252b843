"""Model references decided end to end: a manifest -> extraction -> catalogue -> default packs.

Rule ids belong to the vendor pack (which another change rewrites as dated allow-lists), so the
assertions name the pack and the action, plus what the tenant reads.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from exportgate.core.engine import PolicyEngine
from exportgate.core.extract import extract_workload
from exportgate.core.types import Action, Tenant
from tests.core.builders import NOW, make_tenant

ENGINE = PolicyEngine.build()
CHINA = make_tenant("nimbus", incorporation="CN")
PARENT_IN_CHINA = make_tenant("nimbus-sg", incorporation="SG", parent="CN")
SINGAPORE = make_tenant("acme", incorporation="SG")
GERMANY = make_tenant("berlin", incorporation="DE")
PENDING = make_tenant("orbit", incorporation="SG", state="Pending")


def _pod(env: list[dict[str, Any]] | None = None, **container: Any) -> dict[str, Any]:
    spec = {"name": "app", "image": container.pop("image", "python:3.12"), **container}
    if env is not None:
        spec["env"] = env
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "agent", "namespace": "team"},
        "spec": {"template": {"spec": {"containers": [spec]}}},
    }


def _decide(obj: dict[str, Any], tenant: Tenant) -> tuple[Action, str | None, str]:
    decision = ENGINE.evaluate(extract_workload(obj), tenant, NOW)
    policy = decision.primary.policy if decision.primary else None
    return decision.action, policy, decision.message


BEDROCK_PROFILE_ARN = (
    "arn:aws:bedrock:us-east-1:123456789012:inference-profile/"
    "us.anthropic.claude-3-7-sonnet-20250219-v1:0"
)

DENIED_FOR_A_CHINESE_PARENT = [
    ("claude-code-on-bedrock", _pod([{"name": "CLAUDE_CODE_USE_BEDROCK", "value": "true"}])),
    (
        "sdk-var-through-$(VAR)-to-an-arn",
        _pod(
            [
                {"name": "M", "value": BEDROCK_PROFILE_ARN},
                {"name": "ANTHROPIC_MODEL", "value": "$(M)"},
            ]
        ),
    ),
    (
        "sdk-var-from-a-secret",
        _pod(
            [{"name": "ANTHROPIC_MODEL", "valueFrom": {"secretKeyRef": {"name": "s", "key": "m"}}}]
        ),
    ),
    ("sdk-var-unknown-name", _pod([{"name": "ANTHROPIC_MODEL", "value": "house-claude"}])),
    (
        "default-sonnet-var",
        _pod(
            [
                {
                    "name": "ANTHROPIC_DEFAULT_SONNET_MODEL",
                    "value": "us.anthropic.claude-sonnet-4-20250514-v1:0",
                }
            ]
        ),
    ),
    (
        "generic-var-bedrock-id",
        _pod([{"name": "LLM_MODEL", "value": "bedrock/anthropic.claude-3-5-sonnet-20240620-v1:0"}]),
    ),
    (
        "provisioned-model-arn",
        _pod(
            [
                {
                    "name": "BEDROCK_MODEL_ID",
                    "value": "arn:aws:bedrock:us-east-1:1:provisioned-model/x1",
                }
            ]
        ),
    ),
    ("bedrock-var-unknown", _pod([{"name": "BEDROCK_MODEL_ID", "value": "house-model"}])),
    (
        "args-through-$(VAR)",
        _pod([{"name": "M", "value": "claude-3-5-sonnet-latest"}], args=["--model", "$(M)"]),
    ),
    (
        "shell-line-$VAR",
        _pod(
            [{"name": "M", "value": "anthropic/claude-3-haiku"}],
            command=["sh", "-c", "python agent.py --model $M"],
        ),
    ),
    (
        "vertex-publisher-path",
        _pod(
            [{"name": "MODEL", "value": "publishers/anthropic/models/claude-3-5-sonnet@20240620"}]
        ),
    ),
    ("human-spelling", _pod([{"name": "MODEL", "value": "Claude 3.5 Sonnet"}])),
]


@pytest.mark.parametrize(
    "obj",
    [c[1] for c in DENIED_FOR_A_CHINESE_PARENT],
    ids=[c[0] for c in DENIED_FOR_A_CHINESE_PARENT],
)
def test_anthropic_models_under_other_names_are_denied_for_a_chinese_parent(
    obj: dict[str, Any],
) -> None:
    action, policy, _ = _decide(obj, PARENT_IN_CHINA)
    assert (action, policy) == (Action.DENY, "vendor-model-terms")


@pytest.mark.parametrize(
    "obj",
    [c[1] for c in DENIED_FOR_A_CHINESE_PARENT],
    ids=[c[0] for c in DENIED_FOR_A_CHINESE_PARENT],
)
def test_the_same_references_are_admitted_for_a_verified_singapore_tenant(
    obj: dict[str, Any],
) -> None:
    """Over-blocking: reading more names must not deny what the terms allow."""
    assert _decide(obj, SINGAPORE)[0] is Action.ALLOW


def test_an_unattributable_bedrock_model_says_what_could_not_be_identified() -> None:
    obj = _pod(
        [{"name": "BEDROCK_MODEL_ID", "value": "arn:aws:bedrock:us-east-1:1:provisioned-model/x1"}]
    )
    _, _, message = _decide(obj, PARENT_IN_CHINA)
    assert "an Amazon Bedrock provisioned-model ARN does not say which model it serves" in message
    assert "Anthropic, Meta" in message
    assert "models.yaml" in message


ADMITTED_FOR_CHINA = [
    (
        "gpt-oss-vllm",
        _pod(image="vllm/vllm-openai", command=["vllm", "serve", "openai/gpt-oss-120b"]),
    ),
    (
        "gpt-oss-with-alias-gpt-4o",
        _pod(
            image="vllm/vllm-openai",
            args=["--model", "openai/gpt-oss-20b", "--served-model-name", "gpt-4o"],
        ),
    ),
    ("gpt-j", _pod([{"name": "MODEL_ID", "value": "EleutherAI/gpt-j-6b"}])),
    ("gpt-neox", _pod(args=["--model-id", "EleutherAI/gpt-neox-20b"])),
    ("gpt2", _pod([{"name": "HF_MODEL_ID", "value": "openai-community/gpt2"}])),
    (
        "gemma-ollama",
        _pod(
            image="ollama/ollama",
            lifecycle={"postStart": {"exec": {"command": ["ollama", "pull", "gemma3:27b"]}}},
        ),
    ),
    ("qwen", _pod([{"name": "MODEL", "value": "Qwen/Qwen3-8B"}])),
    ("local-path", _pod(args=["--model", "/mnt/models"])),
    ("openai-compatible-prefix", _pod([{"name": "LLM_MODEL", "value": "openai/my-local-model"}])),
]


@pytest.mark.parametrize(
    "obj", [c[1] for c in ADMITTED_FOR_CHINA], ids=[c[0] for c in ADMITTED_FOR_CHINA]
)
def test_open_weight_and_local_models_are_admitted_for_china(obj: dict[str, Any]) -> None:
    assert _decide(obj, CHINA)[0] is Action.ALLOW


def test_served_model_name_is_an_alias_not_a_model() -> None:
    obj = _pod(
        image="vllm/vllm-openai",
        command=[
            "vllm",
            "serve",
            "meta-llama/Llama-3.1-8B-Instruct",
            "--served-model-name",
            "claude-3-5-sonnet",
        ],
    )
    assert [m.reference for m in extract_workload(obj).models] == [
        "meta-llama/Llama-3.1-8B-Instruct"
    ]


@pytest.mark.parametrize(
    ("reference", "action"),
    [
        ("meta-llama/Llama-Guard-4-12B", Action.DENY),
        ("meta-llama/Llama-Guard-3-11B-Vision", Action.DENY),
        ("meta-llama/Llama-Guard-3-8B", Action.ALLOW),
        ("meta-llama/Llama-Guard-3-1B", Action.ALLOW),
    ],
)
def test_llama_guard_multimodal_models_carry_metas_eu_clause(
    reference: str, action: Action
) -> None:
    obj = _pod(image="vllm/vllm-openai", command=["vllm", "serve", reference])
    assert _decide(obj, GERMANY)[0] is action
    assert _decide(obj, SINGAPORE)[0] is Action.ALLOW


@pytest.mark.parametrize(
    ("env", "action"),
    [
        (
            [{"name": "BEDROCK_MODEL_ID", "value": "arn:aws:bedrock:us-east-1:1:custom-model/x"}],
            Action.DENY,
        ),
        ([{"name": "AZURE_OPENAI_DEPLOYMENT", "value": "prod-chat"}], Action.DENY),
        ([{"name": "MODEL_ID", "value": "openai/gpt-oss-20b"}], Action.ALLOW),
        ([{"name": "MODEL_ID", "value": "mistralai/Mistral-7B-Instruct-v0.3"}], Action.ALLOW),
    ],
)
def test_unverified_tenants_are_denied_unidentified_hosted_models_only(
    env: list[dict[str, Any]], action: Action
) -> None:
    action_taken, policy, _ = _decide(_pod(env), PENDING)
    assert action_taken is action
    assert policy == ("kyc-verification" if action is Action.DENY else None)


def _route(
    name: str, model: str, backend: str, *, version: str = "v1beta1", override: str | None = None
) -> dict[str, Any]:
    """An Envoy AI Gateway route matching the model header `model`, sent to `backend`."""
    ref = {"name": backend, **({"modelNameOverride": override} if override else {})}
    header = {"type": "Exact", "name": "x-ai-eg-model", "value": model}
    return {
        "apiVersion": f"aigateway.envoyproxy.io/{version}",
        "kind": "AIGatewayRoute",
        "metadata": {"name": name, "namespace": "team"},
        "spec": {"rules": [{"matches": [{"headers": [header]}], "backendRefs": [ref]}]},
    }


def _ai_backend(name: str, schema: str) -> dict[str, Any]:
    return {
        "apiVersion": "aigateway.envoyproxy.io/v1beta1",
        "kind": "AIServiceBackend",
        "metadata": {"name": name, "namespace": "team"},
        "spec": {"schema": {"name": schema}, "backendRef": {"name": name}},
    }


def _kagent_model(name: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "kagent.dev/v1alpha2",
        "kind": "ModelConfig",
        "metadata": {"name": name, "namespace": "team"},
        "spec": spec,
    }


GATEWAYS = [
    ("route-claude", _route("gpt-4o-route", "claude-3-5-sonnet", "gpt-4o-backend"), Action.DENY),
    (
        "route-override",
        _route("r", "company-chat", "b", version="v1alpha1", override=BEDROCK_PROFILE_ARN),
        Action.DENY,
    ),
    (
        "route-self-hosted",
        _route("claude-compatible", "some-cool-self-hosted-model", "anthropic-backend"),
        Action.ALLOW,
    ),
    ("backend-aws-anthropic", _ai_backend("b", "AWSAnthropic"), Action.DENY),
    ("backend-bedrock", _ai_backend("b", "AWSBedrock"), Action.DENY),
    ("backend-openai-wire-format", _ai_backend("vllm", "OpenAI"), Action.ALLOW),
    (
        "kagent-bedrock",
        _kagent_model(
            "claude",
            provider="Bedrock",
            model="us.anthropic.claude-sonnet-4-20250514-v1:0",
            bedrock={"region": "us-east-1"},
        ),
        Action.DENY,
    ),
    (
        "kagent-anthropic-unknown-model",
        _kagent_model("m", provider="Anthropic", model="house-default"),
        Action.DENY,
    ),
    (
        "kagent-anthropic-vertex",
        _kagent_model("m", provider="AnthropicVertexAI", model="claude-3-5-sonnet@20240620"),
        Action.DENY,
    ),
    ("kagent-ollama", _kagent_model("m", provider="Ollama", model="qwen3:8b"), Action.ALLOW),
    (
        "inference-model-targets",
        {
            "apiVersion": "inference.networking.x-k8s.io/v1alpha2",
            "kind": "InferenceModel",
            "metadata": {"name": "claude-3-5-sonnet", "namespace": "team"},
            "spec": {"modelName": "claude-3-5-sonnet", "targetModels": [{"name": "Qwen/Qwen3-8B"}]},
        },
        Action.ALLOW,
    ),
]


@pytest.mark.parametrize(("obj", "action"), [c[1:] for c in GATEWAYS], ids=[c[0] for c in GATEWAYS])
def test_gateways_and_agent_frameworks(obj: dict[str, Any], action: Action) -> None:
    """Route, rule and backend names are not model ids; model headers and configs are."""
    assert _decide(obj, PARENT_IN_CHINA)[0] is action
    assert _decide(obj, SINGAPORE)[0] is Action.ALLOW


def _upstream(name: str) -> list[dict[str, Any]]:
    path = Path(__file__).parent / "fixtures" / "models" / name
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


# Envoy AI Gateway's basic example, decided for a tenant incorporated in China: every object
# that reaches a vendor's API (a model header, a vendor schema, a vendor host) is judged by that
# vendor's terms; the self-hosted test upstream reaches none.
ENVOY_BASIC_FOR_CHINA = {
    "AIGatewayRoute/envoy-ai-gateway-basic": Action.DENY,  # gpt-4o-mini
    "AIServiceBackend/envoy-ai-gateway-basic-openai": Action.ALLOW,  # schema OpenAI: a format
    "AIServiceBackend/envoy-ai-gateway-basic-aws": Action.DENY,  # any Bedrock vendor
    "AIServiceBackend/envoy-ai-gateway-basic-azure": Action.DENY,  # OpenAI's models
    "AIServiceBackend/envoy-ai-gateway-basic-testupstream": Action.ALLOW,
    "Backend/envoy-ai-gateway-basic-openai": Action.DENY,  # api.openai.com
    "Backend/envoy-ai-gateway-basic-aws": Action.DENY,
    "Backend/envoy-ai-gateway-basic-azure": Action.DENY,
    "Backend/envoy-ai-gateway-basic-testupstream": Action.ALLOW,  # an in-cluster service
    "Deployment/envoy-ai-gateway-basic-testupstream": Action.ALLOW,
}


def test_envoy_ai_gateway_basic_example() -> None:
    decided: dict[str, Action] = {}
    for obj in _upstream("envoy-ai-gateway-basic.yaml"):
        key = f"{obj['kind']}/{obj['metadata']['name']}"
        workload = extract_workload(obj)
        decided[key] = ENGINE.evaluate(workload, CHINA, NOW).action
        assert ENGINE.evaluate(workload, SINGAPORE, NOW).action is Action.ALLOW, key
        if key.endswith("-gcp"):  # Vertex AI: Gemini's and every Vertex vendor's terms
            (model,) = ENGINE.evaluate(workload, CHINA, NOW).models
            assert "google" in model.candidates, key
    gcp = {k for k in decided if k.endswith("-gcp")}
    assert {k: v for k, v in decided.items() if k not in gcp} == ENVOY_BASIC_FOR_CHINA


@pytest.mark.parametrize(
    ("reference", "action"),
    [
        # could be any Bedrock model, Llama 4 included: Meta's EU clause applies
        ("arn:aws:bedrock:eu-central-1:1:provisioned-model/x1", Action.DENY),
        ("arn:aws:bedrock:eu-central-1:1:custom-model/x1", Action.DENY),
        # a Meta model whose name says nothing multimodal: Meta's, but not read as multimodal
        ("meta/llama-next", Action.ALLOW),
        # identified text models
        ("eu.meta.llama3-2-3b-instruct-v1:0", Action.ALLOW),
        ("eu.meta.llama3-2-11b-instruct-v1:0", Action.DENY),
    ],
)
def test_an_unattributable_model_could_be_any_model_of_its_candidates(
    reference: str, action: Action
) -> None:
    obj = _pod([{"name": "BEDROCK_MODEL_ID", "value": reference}])
    taken, policy, _ = _decide(obj, GERMANY)
    assert taken is action
    if action is Action.DENY:
        assert policy == "vendor-model-terms"


def test_a_rule_naming_model_ids_matches_a_reference_that_could_be_one_of_them() -> None:
    from exportgate.core.policy import parse_policy_text

    (policy,) = parse_policy_text(
        """
apiVersion: exportgate.dev/v1alpha1
kind: ExportPolicy
metadata: {name: house}
spec:
  version: "1"
  rules:
    - id: no-llama-4
      citation: "House rule 1"
      effective: "2025-01-01"
      match: {models: {ids: [meta-llama-4]}}
      jurisdictions: {anyIn: ["*"]}
      message: "{subject} is not offered."
      remedy: "Use another model."
""",
        "house.yaml",
    )
    engine = PolicyEngine.build(policies=[policy], packs=[])
    arn = _pod(
        [{"name": "BEDROCK_MODEL_ID", "value": "arn:aws:bedrock:us-east-1:1:imported-model/m"}]
    )
    assert engine.evaluate(extract_workload(arn), SINGAPORE, NOW).action is Action.DENY
    gpt = _pod([{"name": "OPENAI_MODEL", "value": "house-model"}])
    assert engine.evaluate(extract_workload(gpt), SINGAPORE, NOW).action is Action.ALLOW


@pytest.mark.parametrize(
    ("env", "action"),
    [
        ({"name": "GEMINI_MODEL", "value": "gemini-2.5-pro"}, Action.DENY),
        ({"name": "MODEL", "value": "Gemini 1.5 Pro"}, Action.DENY),
        ({"name": "LLM_MODEL", "value": "vertex_ai/gemini-2.0-flash"}, Action.DENY),
        ({"name": "MODEL", "value": "models/gemini-1.5-flash"}, Action.DENY),
        ({"name": "GEMINI_MODEL", "value": "tunedModels/support-bot"}, Action.DENY),
        ({"name": "MODEL_ID", "value": "google/gemma-3-27b-it"}, Action.ALLOW),
        ({"name": "MODEL_ID", "value": "google/flan-t5-xl"}, Action.ALLOW),
    ],
)
def test_google_gemini_is_hosted_and_gemma_is_open(env: dict[str, Any], action: Action) -> None:
    taken, policy, _ = _decide(_pod([env]), CHINA)
    assert taken is action
    assert policy == ("vendor-model-terms" if action is Action.DENY else None)
    assert _decide(_pod([env]), SINGAPORE)[0] is Action.ALLOW


# Regressions from the red-team manifests (/tmp/rt2/models, findings F4 to F9). Each reaches a
# model a tenant may not have; before the fixes each was admitted.
EURO = GERMANY


def _deployment(container: dict[str, Any], **pod: Any) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "rt", "namespace": "team"},
        "spec": {"template": {"spec": {"containers": [{"name": "srv", **container}], **pod}}},
    }


def _object(api_version: str, kind: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": api_version,
        "kind": kind,
        "metadata": {"name": "rt", "namespace": "team"},
        "spec": spec,
    }


LLAMA_4 = "meta-llama/Llama-4-Scout-17B-16E-Instruct"

DENIED_LLAMA_4_FOR_THE_EU = [
    # F6: server command lines
    (
        "llama.cpp -hf",
        _deployment(
            {
                "image": "ghcr.io/ggml-org/llama.cpp:server",
                "args": ["-hf", "unsloth/Llama-4-Scout-17B-16E-Instruct-GGUF"],
            }
        ),
    ),
    (
        "llama.cpp --hf-repo with quant",
        _deployment(
            {"image": "x", "command": ["llama-server", "--hf-repo", f"{LLAMA_4}-GGUF:Q4_K_M"]}
        ),
    ),
    (
        "llama.cpp -m local file",
        _deployment({"image": "x", "args": ["-m", "/models/Llama-4-Scout-Q4_K_M.gguf"]}),
    ),
    (
        "llama.cpp --model-url",
        _deployment(
            {
                "image": "x",
                "args": [
                    "--model-url",
                    "https://huggingface.co/unsloth/Llama-4-Scout-17B-16E-Instruct-GGUF/"
                    "resolve/main/Llama-4-Scout-17B-16E-Instruct-Q4_K_M.gguf",
                ],
            }
        ),
    ),
    (
        "trtllm-serve",
        _deployment({"image": "nvcr.io/nvidia/tensorrt-llm", "command": ["trtllm-serve", LLAMA_4]}),
    ),
    (
        "trtllm-serve serve",
        _deployment({"image": "x", "command": ["trtllm-serve", "serve", LLAMA_4]}),
    ),
    (
        "lmdeploy",
        _deployment(
            {"image": "openmmlab/lmdeploy", "command": ["lmdeploy", "serve", "api_server", LLAMA_4]}
        ),
    ),
    (
        "python -m vllm",
        _deployment(
            {
                "image": "vllm/vllm-openai",
                "command": ["python3", "-m", "vllm.entrypoints.cli.main", "serve", LLAMA_4],
            }
        ),
    ),
    (
        "init container download",
        _deployment(
            {"image": "vllm/vllm-openai", "args": ["--model", "/models/m"]},
            initContainers=[
                {
                    "name": "fetch",
                    "image": "python:3.12",
                    "command": [
                        "sh",
                        "-c",
                        "pip install -q huggingface_hub && hf download "
                        f"{LLAMA_4} --local-dir /models/m",
                    ],
                }
            ],
        ),
    ),
    (
        "huggingface-cli download",
        _deployment(
            {"image": "x", "command": ["huggingface-cli", "download", LLAMA_4]},
        ),
    ),
    (
        "local path naming the model",
        _deployment({"image": "vllm/vllm-openai", "args": ["--model", f"/models/{LLAMA_4[11:]}"]}),
    ),
    (
        "percent-encoded id",
        _deployment({"image": "x", "args": ["--model", "meta-llama%2FLlama-4-Scout-17B-16E"]}),
    ),
    (
        "RayService serveConfigV2",
        _object(
            "ray.io/v1",
            "RayService",
            {
                "serveConfigV2": (
                    "applications:\n"
                    "  - name: llm\n"
                    "    import_path: ray.serve.llm:build_openai_app\n"
                    "    args:\n"
                    "      llm_configs:\n"
                    "        - model_loading_config:\n"
                    "            model_id: scout\n"
                    f"            model_source: {LLAMA_4}\n"
                ),
                "rayClusterConfig": {
                    "headGroupSpec": {
                        "rayStartParams": {},
                        "template": {"spec": {"containers": [{"name": "h", "image": "ray"}]}},
                    }
                },
            },
        ),
    ),
    (
        "KServe storage.path",
        _object(
            "serving.kserve.io/v1beta1",
            "InferenceService",
            {
                "predictor": {
                    "model": {
                        "modelFormat": {"name": "huggingface"},
                        "storage": {"key": "hf-secret", "path": LLAMA_4},
                    }
                }
            },
        ),
    ),
]


@pytest.mark.parametrize(
    "obj", [c[1] for c in DENIED_LLAMA_4_FOR_THE_EU], ids=[c[0] for c in DENIED_LLAMA_4_FOR_THE_EU]
)
def test_llama_4_named_by_any_server_command_line_is_denied_for_the_eu(
    obj: dict[str, Any],
) -> None:
    decision = ENGINE.evaluate(extract_workload(obj), EURO, NOW)
    assert decision.action is Action.DENY
    assert [m.model_id for m in decision.models] == ["meta-llama-4"]
    assert _decide(obj, SINGAPORE)[0] is Action.ALLOW


@pytest.mark.parametrize(
    "container",
    [
        {"image": "vllm/vllm-openai", "args": ["--model", "/mnt/models"]},
        {"image": "python:3.12", "command": ["python", "-m", "http.server", "8080"]},
        {"image": "busybox", "command": ["sh", "-c", "mkdir -m 755 /data && free -m"]},
        {"image": "nginx", "envFrom": [{"configMapRef": {"name": "nginx-conf"}}]},
        {"image": "app", "envFrom": [{"secretRef": {"name": "db-credentials"}}]},
    ],
    ids=["unnamed-local-path", "python-module", "short-m-flags", "nginx-envfrom", "app-envfrom"],
)
def test_ordinary_containers_stay_without_model_requests(container: dict[str, Any]) -> None:
    """The new readings create no model request for ordinary workloads (no false denials)."""
    workload = extract_workload(_deployment(container))
    assert workload.models == ()
    assert _decide(_deployment(container), CHINA)[0] is Action.ALLOW


RUN_TIME = [
    # F5: MODEL_ID from a ConfigMap; a model server's or client's envFrom.
    (
        "valueFrom",
        _deployment(
            {
                "image": "ghcr.io/huggingface/text-generation-inference",
                "env": [
                    {
                        "name": "MODEL_ID",
                        "valueFrom": {"configMapKeyRef": {"name": "m", "key": "id"}},
                    }
                ],
            }
        ),
        "$(MODEL_ID) is set at run time",
    ),
    (
        "server envFrom",
        _deployment(
            {
                "image": "ghcr.io/huggingface/text-generation-inference",
                "envFrom": [{"configMapRef": {"name": "m"}}],
            }
        ),
        "envFrom (ConfigMap 'm')",
    ),
    (
        "client envFrom",
        _deployment({"image": "app", "envFrom": [{"secretRef": {"name": "anthropic"}}]}),
        "envFrom (Secret 'anthropic')",
    ),
    (
        "server command envFrom",
        _deployment(
            {
                "image": "registry.example/llm",
                "command": ["text-generation-launcher"],
                "envFrom": [{"configMapRef": {"name": "m"}}],
            }
        ),
        "envFrom (ConfigMap 'm')",
    ),
]


@pytest.mark.parametrize(("obj", "said"), [c[1:] for c in RUN_TIME], ids=[c[0] for c in RUN_TIME])
def test_a_model_set_at_run_time_is_decided_as_the_most_restrictive(
    obj: dict[str, Any], said: str
) -> None:
    action, _, message = _decide(obj, CHINA)
    assert action is Action.DENY
    assert said in message
    assert "set the model in the manifest itself" in message
    # It could be Llama 4: the EU multimodal clause applies too.
    assert _decide(obj, EURO)[0] is Action.DENY
    # A tenant no rule restricts is admitted; the decision records what could not be read.
    decision = ENGINE.evaluate(extract_workload(obj), SINGAPORE, NOW)
    assert decision.action is Action.ALLOW
    assert said in decision.models[0].note


def test_a_server_that_names_its_model_ignores_its_env_from() -> None:
    obj = _deployment(
        {
            "image": "vllm/vllm-openai",
            "args": ["--model", "Qwen/Qwen3-8B"],
            "envFrom": [{"secretRef": {"name": "hf-token"}}],
        }
    )
    assert [m.reference for m in extract_workload(obj).models] == ["Qwen/Qwen3-8B"]
    assert _decide(obj, CHINA)[0] is Action.ALLOW


HOSTED_FOR_CHINA = [
    # F4: a hosted vendor or platform serving an open-weight family.
    (
        "vertex-gemma",
        _object(
            "exportgate.dev/v1alpha1",
            "ModelEndpoint",
            {"provider": "google", "model": "gemma-3-27b-it"},
        ),
    ),
    (
        "openrouter-gemma",
        _object(
            "exportgate.dev/v1alpha1",
            "ModelEndpoint",
            {"provider": "openrouter", "model": "google/gemma-3-27b-it"},
        ),
    ),
    (
        "openai-gpt-oss",
        _object(
            "exportgate.dev/v1alpha1",
            "ModelEndpoint",
            {"provider": "openai", "model": "gpt-oss-120b"},
        ),
    ),
    (
        "litellm-gemini-prefix",
        _deployment(
            {
                "image": "litellm",
                "env": [{"name": "LITELLM_MODEL", "value": "gemini/gemma-3-27b-it"}],
            }
        ),
    ),
    (
        "gemini-sdk-var",
        _deployment({"image": "app", "env": [{"name": "GEMINI_MODEL", "value": "gemma-3-27b-it"}]}),
    ),
    # F6: a RayJob entrypoint calling Claude.
    (
        "rayjob-entrypoint",
        _object(
            "ray.io/v1",
            "RayJob",
            {
                "entrypoint": "python client.py --model claude-opus-4-1",
                "rayClusterSpec": {
                    "headGroupSpec": {
                        "rayStartParams": {},
                        "template": {"spec": {"containers": [{"name": "h", "image": "ray"}]}},
                    }
                },
            },
        ),
    ),
    # F7: gateway backends reaching a vendor by IP address or through an external proxy.
    (
        "backend-ip",
        _object(
            "gateway.envoyproxy.io/v1alpha1",
            "Backend",
            {"endpoints": [{"ip": {"address": "160.79.104.10", "port": 443}}]},
        ),
    ),
    # F8: OpenAI names outside the gpt-/o- families, and a base URL naming OpenAI's API.
    ("sora", _deployment({"image": "app", "env": [{"name": "MODEL", "value": "sora-2"}]})),
    ("davinci", _deployment({"image": "app", "env": [{"name": "MODEL", "value": "davinci-002"}]})),
    (
        "computer-use",
        _deployment({"image": "app", "env": [{"name": "MODEL", "value": "computer-use-preview"}]}),
    ),
    (
        "openai-base-url",
        _deployment(
            {
                "image": "app",
                "env": [
                    {"name": "OPENAI_BASE_URL", "value": "https://api.openai.com/v1"},
                    {"name": "LLM", "value": "gpt-4.1"},
                ],
            }
        ),
    ),
]


@pytest.mark.parametrize(
    "obj", [c[1] for c in HOSTED_FOR_CHINA], ids=[c[0] for c in HOSTED_FOR_CHINA]
)
def test_hosted_vendor_models_are_denied_for_china(obj: dict[str, Any]) -> None:
    assert _decide(obj, CHINA)[0] is Action.DENY
    assert _decide(obj, SINGAPORE)[0] is Action.ALLOW


@pytest.mark.parametrize(
    "obj",
    [
        _object(
            "gateway.envoyproxy.io/v1alpha1",
            "Backend",
            {"endpoints": [{"fqdn": {"hostname": "vllm.models.svc.cluster.local"}}]},
        ),
        _deployment(
            {
                "image": "app",
                "env": [
                    # The OpenAI SDK pointed at vLLM in the cluster: gpt-oss is the served weights.
                    {"name": "OPENAI_BASE_URL", "value": "http://vllm.models.svc:8000/v1"},
                    {"name": "OPENAI_MODEL", "value": "openai/gpt-oss-120b"},
                ],
            }
        ),
    ],
    ids=["in-cluster-backend", "sdk-pointed-at-in-cluster-vllm"],
)
def test_in_cluster_endpoints_stay_unattributed(obj: dict[str, Any]) -> None:
    assert _decide(obj, CHINA)[0] is Action.ALLOW
