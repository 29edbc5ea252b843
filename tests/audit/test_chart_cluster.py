"""The chart's decisionLog.clusterName reaches the writers (the policy service, embedded in the
webhook or in the sidecar, and the operator) as EXPORTGATE_CLUSTER_NAME, rendered by the real helm;
unset, no variable is rendered at all."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.charts.chart import containers, template, write_values


def _cluster_env(docs: list[dict[str, object]]) -> dict[str, str | None]:
    found: dict[str, str | None] = {}
    for owner, container in containers(docs):  # type: ignore[arg-type]
        for env in container.get("env") or ():
            if env["name"] == "EXPORTGATE_CLUSTER_NAME":
                found[f"{owner}/{container['name']}"] = env.get("value")
    return found


@pytest.mark.parametrize(("mode", "writer"), [("embedded", "webhook"), ("sidecar", "sidecar")])
def test_the_cluster_name_reaches_the_service_and_operator(
    mode: str, writer: str, tmp_path: Path
) -> None:
    values = {"decisionLog": {"clusterName": "eu-west-1"}, "policyService": {"mode": mode}}
    found = _cluster_env(template(write_values(tmp_path, values)))
    assert set(found) == {f"eg-exportgate-webhook/{writer}", "eg-exportgate-operator/operator"}
    assert set(found.values()) == {"eu-west-1"}


def test_no_cluster_name_renders_no_variable() -> None:
    assert _cluster_env(template()) == {}
