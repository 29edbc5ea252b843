"""`exportgate check` on models under other names: the installed command, JSON contract."""

from __future__ import annotations

from pathlib import Path

from tests.cli.helpers import AT, TENANT, check, results

MANIFESTS = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: agent, namespace: team}
spec:
  selector: {matchLabels: {app: a}}
  template:
    metadata: {labels: {app: a}}
    spec:
      containers:
        - name: main
          image: registry.example.com/agent:1.0
          env:
            - {name: M, value: "arn:aws:bedrock:us-east-1:1:provisioned-model/k2x9q"}
            - {name: BEDROCK_MODEL_ID, value: "$(M)"}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: oss, namespace: team}
spec:
  selector: {matchLabels: {app: b}}
  template:
    metadata: {labels: {app: b}}
    spec:
      containers:
        - name: main
          image: vllm/vllm-openai
          command: [vllm, serve, openai/gpt-oss-120b, --served-model-name, gpt-4o]
"""


def test_unattributable_models_are_explained_and_open_weights_admitted(tmp_path: Path) -> None:
    tenant = tmp_path / "t.yaml"
    tenant.write_text(TENANT.format(country="CN", state="Verified"))
    manifests = tmp_path / "m.yaml"
    manifests.write_text(MANIFESTS)
    process = check("--tenant", tenant, "--at", AT, "-o", "json", manifests)
    assert process.returncode == 3, process.stderr
    agent, oss = results(process)
    assert agent["decision"] == "deny"
    (model,) = agent["models"]
    assert model["reference"] == "arn:aws:bedrock:us-east-1:1:provisioned-model/k2x9q"
    assert (model["model"], model["provider"], model["providers"]) == (
        None,
        None,
        ["anthropic", "meta"],
    )
    assert "does not say which model it serves" in model["note"]
    assert "models.yaml" in agent["message"]
    assert oss["decision"] == "allow"
    assert [(m["model"], m["provider"]) for m in oss["models"]] == [("openai-gpt-oss", None)]
