"""The chart's decisionLog.clusterName reaches the writers (sidecar and operator) as
EXPORTGATE_CLUSTER_NAME, rendered by the real helm; unset, no variable is rendered at all."""

from __future__ import annotations

from pathlib import Path

from tests.charts.chart import containers, template, write_values


def _cluster_env(docs: list[dict[str, object]]) -> dict[str, str | None]:
    found: dict[str, str | None] = {}
    for owner, container in containers(docs):  # type: ignore[arg-type]
        for env in container.get("env") or ():
            if env["name"] == "EXPORTGATE_CLUSTER_NAME":
                found[f"{owner}/{container['name']}"] = env.get("value")
    return found


def test_the_cluster_name_reaches_sidecar_and_operator(tmp_path: Path) -> None:
    values = write_values(tmp_path, {"decisionLog": {"clusterName": "eu-west-1"}})
    found = _cluster_env(template(values))
    assert any("sidecar" in key for key in found), found
    assert any("operator" in key for key in found), found
    assert set(found.values()) == {"eu-west-1"}


def test_no_cluster_name_renders_no_variable() -> None:
    assert _cluster_env(template()) == {}
