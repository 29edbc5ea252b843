"""Model gateways and agent frameworks: Envoy AI Gateway, Inference Extension, kagent adapters."""

from __future__ import annotations

from typing import Any

import pytest

from exportgate.core.extract import extract_workload


def _object(api_version: str, kind: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": api_version,
        "kind": kind,
        "metadata": {"name": "claude-3-5-sonnet", "namespace": "t"},
        "spec": spec,
    }


GATEWAY_OBJECTS = [
    (
        "route-header",
        _object(
            "aigateway.envoyproxy.io/v1beta1",
            "AIGatewayRoute",
            {
                "rules": [
                    {
                        "matches": [
                            {
                                "headers": [
                                    {
                                        "type": "Exact",
                                        "name": "x-ai-eg-model",
                                        "value": "gpt-4o-mini",
                                    },
                                    {"type": "Exact", "name": "x-tenant", "value": "claude-3"},
                                ]
                            }
                        ],
                        "backendRefs": [{"name": "openai"}],
                    }
                ]
            },
        ),
        [("gpt-4o-mini", None, "spec.rules[0].matches[0].headers[0].value")],
    ),
    (
        "route-regex-header",
        _object(
            "aigateway.envoyproxy.io/v1beta1",
            "AIGatewayRoute",
            {
                "rules": [
                    {
                        "matches": [
                            {
                                "headers": [
                                    {
                                        "type": "RegularExpression",
                                        "name": "X-AI-EG-Model",
                                        "value": "^claude-.*$",
                                    }
                                ]
                            }
                        ]
                    }
                ]
            },
        ),
        [("^claude-.*$", None, "spec.rules[0].matches[0].headers[0].value")],
    ),
    (
        "route-override",
        _object(
            "aigateway.envoyproxy.io/v1alpha1",
            "AIGatewayRoute",
            {
                "rules": [
                    {
                        "backendRefs": [
                            {
                                "name": "aws",
                                "modelNameOverride": "anthropic.claude-3-haiku-20240307-v1:0",
                            }
                        ]
                    }
                ]
            },
        ),
        [
            (
                "anthropic.claude-3-haiku-20240307-v1:0",
                None,
                "spec.rules[0].backendRefs[0].modelNameOverride",
            )
        ],
    ),
    (
        "route-names-are-not-models",
        _object(
            "aigateway.envoyproxy.io/v1beta1",
            "AIGatewayRoute",
            {"rules": [{"name": "gpt-4o", "backendRefs": [{"name": "claude-3-5-sonnet"}]}]},
        ),
        [],
    ),
    (
        "backend-anthropic",
        _object(
            "aigateway.envoyproxy.io/v1beta1", "AIServiceBackend", {"schema": {"name": "Anthropic"}}
        ),
        [("*", "Anthropic", "spec.schema.name")],
    ),
    (
        "backend-gcp-vertex",
        _object(
            "aigateway.envoyproxy.io/v1beta1",
            "AIServiceBackend",
            {"schema": {"name": "GCPVertexAI"}},
        ),
        [("*", "GCPVertexAI", "spec.schema.name")],
    ),
    (
        "backend-openai-wire-format",
        _object(
            "aigateway.envoyproxy.io/v1beta1",
            "AIServiceBackend",
            {"schema": {"name": "OpenAI", "version": "v1"}},
        ),
        [],
    ),
    (
        "backend-vendor-host",
        _object(
            "gateway.envoyproxy.io/v1alpha1",
            "Backend",
            {"endpoints": [{"fqdn": {"hostname": "api.openai.com", "port": 443}}]},
        ),
        [("*", "openai", "spec.endpoints[0].fqdn.hostname")],
    ),
    (
        "backend-regional-platform-host",
        _object(
            "gateway.envoyproxy.io/v1alpha1",
            "Backend",
            {
                "endpoints": [
                    {"fqdn": {"hostname": "vllm.default.svc.cluster.local", "port": 80}},
                    {"fqdn": {"hostname": "bedrock-runtime.eu-west-1.amazonaws.com"}},
                ]
            },
        ),
        [("*", "bedrock", "spec.endpoints[1].fqdn.hostname")],
    ),
    (
        # A look-alike of a vendor host is not the vendor's: an external host name that is no
        # model API exportgate knows is an ordinary HTTP service (httpbin, an MCP tool server),
        # as most Envoy Gateway Backends are (false denials of upstream samples, session 12).
        "backend-look-alike-external-host",
        _object(
            "gateway.envoyproxy.io/v1alpha1",
            "Backend",
            {
                "endpoints": [
                    {"fqdn": {"hostname": "api.openai.com.evil.example"}},
                    {"fqdn": {"hostname": "httpbin.org"}},
                    {"fqdn": {"hostname": "mcp.kiwi.com"}},
                ]
            },
        ),
        [],
    ),
    (
        "backend-in-cluster-host",
        _object(
            "gateway.envoyproxy.io/v1alpha1",
            "Backend",
            {
                "endpoints": [
                    {"fqdn": {"hostname": "vllm.models.svc.cluster.local"}},
                    {"fqdn": {"hostname": "vllm"}},
                    {"ip": {"address": "10.96.0.12"}},
                ]
            },
        ),
        [],
    ),
    (
        # Red team (session 12): api.anthropic.com reached by its public IP address cannot be
        # identified (any hosted provider); an egress proxy's host name is an ordinary host (a
        # documented limit: exportgate cannot tell a proxy from any other service).
        "backend-vendor-ip-and-proxy",
        _object(
            "gateway.envoyproxy.io/v1alpha1",
            "Backend",
            {
                "endpoints": [
                    {"ip": {"address": "160.79.104.10", "port": 443}},
                    {"fqdn": {"hostname": "anthropic.my-proxy.example", "port": 443}},
                ]
            },
        ),
        [("*", "160.79.104.10", "spec.endpoints[0].ip.address")],
    ),
    (
        "kagent",
        _object(
            "kagent.dev/v1alpha2",
            "ModelConfig",
            {
                "provider": "AzureOpenAI",
                "model": "gpt-4o",
                "azureOpenAI": {"azureDeployment": "prod"},
            },
        ),
        [("gpt-4o", "AzureOpenAI", "spec.model")],
    ),
    (
        "kagent-v1alpha1",
        _object(
            "kagent.dev/v1alpha1",
            "ModelConfig",
            {"provider": "Anthropic", "model": "claude-3-7-sonnet-20250219"},
        ),
        [("claude-3-7-sonnet-20250219", "Anthropic", "spec.model")],
    ),
    (
        "inference-model",
        _object(
            "inference.networking.x-k8s.io/v1alpha2",
            "InferenceModel",
            {
                "modelName": "chat",
                "targetModels": [{"name": "meta-llama/Llama-3.1-8B"}, {"name": "food-review-lora"}],
            },
        ),
        [
            ("meta-llama/Llama-3.1-8B", None, "spec.targetModels[0].name"),
            ("food-review-lora", None, "spec.targetModels[1].name"),
        ],
    ),
    (
        "inference-model-name-is-a-route-name",
        _object(
            "inference.networking.x-k8s.io/v1alpha2", "InferenceModel", {"modelName": "gpt-4o"}
        ),
        [],
    ),
]


@pytest.mark.parametrize(
    ("obj", "expected"), [c[1:] for c in GATEWAY_OBJECTS], ids=[c[0] for c in GATEWAY_OBJECTS]
)
def test_model_gateways_and_agent_configs(
    obj: dict[str, Any], expected: list[tuple[str, str | None, str]]
) -> None:
    models = extract_workload(obj).models
    assert [(m.reference, m.provider, m.source) for m in models] == expected
