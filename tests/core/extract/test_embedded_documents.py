"""YAML documents held in string fields (Ray Serve configs, Argo pod spec patches): bounded reads.

A tenant writes these strings, and the webhook reads them while it decides; a few hundred bytes of
nested YAML aliases stood for billions of nodes that the Ray Serve reader walked, stalling the
reader for minutes (red team, session 12). They now go through the same bounded loader as every
other document, and what cannot be read within the caps is decided as unidentified.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from exportgate.core.documents import NotYaml, load_embedded
from exportgate.core.engine import PolicyEngine
from exportgate.core.errors import InputError
from exportgate.core.extract import AdapterRegistry, extract_workload
from exportgate.core.extract.patches import POD_SPEC_PATCH
from exportgate.core.limits import MAX_EMBEDDED_CHARS
from exportgate.core.types import Action
from tests.core.builders import NOW, make_tenant
from tests.core.extract.fail_closed import argo_workflow

ENGINE = PolicyEngine.build()
CHINA = make_tenant("nimbus", incorporation="CN")
SINGAPORE = make_tenant("acme", incorporation="SG")


def _alias_bomb(inner: str, levels: int = 12) -> str:
    """`levels` lists of nine aliases each to the level below: 9**levels nodes in 600 bytes."""
    lines = [f"a0: &a0 [{inner}]"]
    for level in range(1, levels):
        lines.append(f"a{level}: &a{level} [" + ",".join([f"*a{level - 1}"] * 9) + "]")
    return "\n".join(lines)


def _ray_service(config: str) -> dict[str, Any]:
    return {
        "apiVersion": "ray.io/v1",
        "kind": "RayService",
        "metadata": {"name": "llm", "namespace": "team"},
        "spec": {
            "serveConfigV2": config,
            "rayClusterConfig": {
                "headGroupSpec": {
                    "template": {"spec": {"containers": [{"name": "h", "image": "r"}]}}
                }
            },
        },
    }


def _timed_extract(obj: dict[str, Any]) -> tuple[Any, float]:
    began = time.perf_counter()
    workload = extract_workload(obj)
    return workload, time.perf_counter() - began


def test_an_alias_bomb_in_a_ray_serve_config_is_read_at_once_as_an_unidentified_model() -> None:
    bomb = _alias_bomb("{model_loading_config: {model_id: x}}")
    workload, seconds = _timed_extract(_ray_service(bomb))
    assert seconds < 1.0  # the walk took minutes before the bounded loader
    [model] = workload.models
    assert model.reference.startswith("$(unreadable the Ray Serve config at spec.serveConfigV2")
    assert "MAX_ALIAS_NODES" in model.reference
    decision = ENGINE.evaluate(workload, CHINA, NOW)
    assert decision.action is Action.DENY  # the most restrictive reading
    assert "could not be read" in decision.violations[0].message
    assert ENGINE.evaluate(workload, SINGAPORE, NOW).action is Action.ALLOW


def test_a_ray_serve_config_past_the_size_cap_is_unidentified_not_ignored() -> None:
    padded = "applications: []\n#" + "x" * MAX_EMBEDDED_CHARS
    [model] = extract_workload(_ray_service(padded)).models
    assert "cap 65536" in model.reference
    assert ENGINE.evaluate(extract_workload(_ray_service(padded)), CHINA, NOW).action is (
        Action.DENY
    )


def test_a_ray_serve_config_that_is_not_yaml_names_nothing() -> None:
    # Ray refuses to run it, so it serves no model.
    assert extract_workload(_ray_service("applications: [unclosed")).models == ()


def test_a_ray_serve_config_within_the_caps_is_read_as_before() -> None:
    config = (
        "applications:\n- name: llm\n  args:\n    llm_configs:\n"
        "    - model_loading_config: {model_id: claude-sonnet-4}\n"
    )
    [model] = extract_workload(_ray_service(config)).models
    assert model.reference == "claude-sonnet-4"


def test_an_alias_bomb_in_a_pod_spec_patch_is_an_unknown_accelerator_at_once() -> None:
    workload, seconds = _timed_extract(argo_workflow(_alias_bomb("{a: 1}")))
    assert seconds < 1.0
    assert [r.resource for r in workload.accelerators] == [POD_SPEC_PATCH]


def test_embedded_documents_get_the_document_caps() -> None:
    with pytest.raises(InputError, match="MAX_ALIAS_NODES"):
        load_embedded(_alias_bomb("1"), "spec.x")
    with pytest.raises(InputError, match="MAX_DEPTH"):
        load_embedded("[" * 150 + "]" * 150, "spec.x")
    with pytest.raises(NotYaml):
        load_embedded("a: [", "spec.x")
    with pytest.raises(NotYaml):
        load_embedded("a: 1\n---\nb: 2", "spec.x")  # one document, as Ray reads it
    assert load_embedded("a: &x [1]\nb: *x", "spec.x") == {"a": [1], "b": [1]}


@pytest.mark.parametrize(
    ("obj", "slow"),
    [
        (_ray_service("{}"), True),
        (argo_workflow("{}"), True),
        ({"apiVersion": "v1", "kind": "Pod", "spec": {}}, False),
        ({"apiVersion": "apps/v1", "kind": "Deployment", "spec": {}}, False),
        ({"apiVersion": 1, "kind": "RayService"}, False),  # malformed: refused at once anyway
        ("not an object", False),
    ],
    ids=["rayservice", "workflow", "pod", "deployment", "malformed", "not-a-mapping"],
)
def test_kinds_holding_embedded_documents_are_known_to_be_slow_to_extract(
    obj: object, slow: bool
) -> None:
    assert AdapterRegistry.builtin().reads_embedded_documents(obj) is slow
