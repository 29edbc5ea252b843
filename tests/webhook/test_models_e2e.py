"""Models under other names, end to end: kubectl -> kube-apiserver -> webhook -> sidecar.

Uses the same real stack as test_cluster_e2e (module-scoped: its own sidecar and webhook
processes against the shared test API server). Tenant "nimbus" is a Singapore subsidiary whose
ultimate parent is headquartered in China (Anthropic's terms exclude it); "acme" is a verified
Singapore company (nothing excludes it).
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.cluster.workloads import deployment_of
from tests.webhook import test_cluster_e2e
from tests.webhook.conftest import read_decision_log
from tests.webhook.test_cluster_e2e import ACME, ACME_USER, NIMBUS, Stack

stack = test_cluster_e2e.stack  # the same real stack, started once for this module

pytestmark = pytest.mark.cluster

BEDROCK_PROFILE_ARN = (
    "arn:aws:bedrock:us-east-1:123456789012:inference-profile/"
    "us.anthropic.claude-3-7-sonnet-20250219-v1:0"
)
PROVISIONED_ARN = "arn:aws:bedrock:us-east-1:123456789012:provisioned-model/k2x9q"


def _deployment(name: str, namespace: str, container: dict[str, Any]) -> dict[str, Any]:
    pod = {
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"containers": [{"name": "main", **container}]},
    }
    return deployment_of(pod)


def _agent(name: str, namespace: str) -> dict[str, Any]:
    """An agent that reads its model from $(M), set to a Bedrock inference-profile ARN."""
    return _deployment(
        name,
        namespace,
        {
            "image": "registry.example.com/agent:1.0",
            "env": [
                {"name": "M", "value": BEDROCK_PROFILE_ARN},
                {"name": "ANTHROPIC_MODEL", "value": "$(M)"},
            ],
        },
    )


def _record(stack: Stack, stderr: str) -> dict[str, Any]:
    decision_id = stderr.split("Decision id: ", 1)[1].split()[0].strip(".")
    records = [r for r in read_decision_log(stack.decision_log) if r.get("id") == decision_id]
    assert len(records) == 1, (decision_id, stderr)
    return records[0]


def test_an_anthropic_model_behind_a_variable_and_an_arn_is_denied_and_recorded(
    stack: Stack,
) -> None:
    proc = stack.create(_agent("agent", NIMBUS))
    assert proc.returncode != 0, proc.stdout
    err = proc.stderr
    assert f'exportgate denied Deployment "{NIMBUS}/agent" for tenant "nimbus"' in err
    assert "anthropic-claude" in err
    assert "Anthropic" in err
    record = _record(stack, err)
    assert record["action"] == "deny"
    assert record["violations"][0]["policy"] == "vendor-model-terms"
    assert record["models"] == [
        {
            "reference": BEDROCK_PROFILE_ARN,
            "model": "anthropic-claude",
            "provider": "anthropic",
            "source": "spec.template.spec.containers[0].env[1].value",
        }
    ]
    got = stack.kubectl("get", "deployment", "agent", "-n", NIMBUS, user=None)
    assert got.returncode != 0 and "NotFound" in got.stderr  # nothing was stored


def test_an_unattributable_bedrock_arn_is_denied_with_what_could_not_be_identified(
    stack: Stack,
) -> None:
    obj = _deployment(
        "provisioned",
        NIMBUS,
        {"image": "registry.example.com/agent:1.0",
         "env": [{"name": "BEDROCK_MODEL_ID", "value": PROVISIONED_ARN}]},
    )  # fmt: skip
    proc = stack.create(obj)
    assert proc.returncode != 0, proc.stdout
    said = "an Amazon Bedrock provisioned-model ARN does not say which model it serves"
    assert said in proc.stderr
    assert "models.yaml" in proc.stderr  # how to make it identifiable
    record = _record(stack, proc.stderr)
    assert record["models"][0]["providers"] == ["anthropic", "meta"]
    assert record["models"][0]["note"].startswith("not identified: ")


def test_the_same_models_are_admitted_for_a_tenant_their_terms_allow(stack: Stack) -> None:
    for name, obj in (
        ("agent", _agent("agent", ACME)),
        ("provisioned", _deployment("provisioned", ACME, {
            "image": "registry.example.com/agent:1.0",
            "env": [{"name": "BEDROCK_MODEL_ID", "value": PROVISIONED_ARN}]})),
    ):  # fmt: skip
        proc = stack.create(obj, user=ACME_USER)
        assert proc.returncode == 0, proc.stderr
        stored = json.loads(
            stack.kubectl("get", "deployment", name, "-n", ACME, "-o", "json", user=None).stdout
        )
        assert "exportgate.dev/decision-id" in stored["metadata"]["annotations"]


def test_gpt_oss_served_under_a_hosted_alias_is_admitted_for_nimbus(stack: Stack) -> None:
    """gpt-oss is open weights, and --served-model-name is an alias, not the model."""
    obj = _deployment(
        "gpt-oss",
        NIMBUS,
        {
            "image": "vllm/vllm-openai:v0.10.1",
            "command": ["vllm", "serve", "openai/gpt-oss-120b"],
            "args": ["--served-model-name", "gpt-4o", "--port", "8000"],
        },
    )
    proc = stack.create(obj)
    assert proc.returncode == 0, proc.stderr
    stored = json.loads(
        stack.kubectl("get", "deployment", "gpt-oss", "-n", NIMBUS, "-o", "json", user=None).stdout
    )
    decision_id = stored["metadata"]["annotations"]["exportgate.dev/decision-id"]
    records = [r for r in read_decision_log(stack.decision_log) if r.get("id") == decision_id]
    assert [r["action"] for r in records] == ["allow"]
    assert [(m["reference"], m["model"], m["provider"]) for m in records[0]["models"]] == [
        ("openai/gpt-oss-120b", "openai-gpt-oss", None)
    ]
