"""One budget for all embedded YAML documents of an object (red team 4, F5).

`MAX_EMBEDDED_CHARS` capped each document at 64 KiB, but not how many an object holds: an Argo
Workflow with 22 templates, each with a 64 KiB pod spec patch of dense flow lists, took 7.6 s
of the webhook's two-thread extraction pool. All documents of one object now share
`MAX_EMBEDDED_CHARS_PER_OBJECT`; past it the remaining ones are unidentified without being
parsed.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from exportgate.core.documents import embedded_budget, load_embedded
from exportgate.core.engine import PolicyEngine
from exportgate.core.errors import InputError
from exportgate.core.extract import extract_workload
from exportgate.core.extract.models import from_ray_serve
from exportgate.core.extract.patches import POD_SPEC_PATCH
from exportgate.core.limits import MAX_EMBEDDED_CHARS, MAX_EMBEDDED_CHARS_PER_OBJECT
from exportgate.core.types import Action
from tests.core.builders import NOW, make_tenant
from tests.core.builders import workload as model_workload
from tests.core.extract.fail_closed import argo_workflow

ENGINE = PolicyEngine.build()
CHINA = make_tenant("nimbus", incorporation="CN")
SINGAPORE = make_tenant("acme", incorporation="SG")


def _dense_patch(chars: int) -> str:
    """/tmp/rt4/f5_argo_patches.py: a flow list of one-character scalars, just under `chars`."""
    return "a: [" + ",".join(["1"] * (chars // 2 - 4)) + "]"


def _nested_patch(chars: int) -> str:
    unit = "[[1,[1,[1]]]]"
    return "a: [" + ",".join([unit] * (chars // (len(unit) + 1) - 2)) + "]"


def _harmless_patch(chars: int) -> str:
    """Sets only fields that reach no device: read, it asks for nothing."""
    return "activeDeadlineSeconds: 100\nmetadata: {annotations: {note: " + "x" * chars + "}}"


@pytest.mark.parametrize("patch", [_dense_patch, _nested_patch], ids=["flat", "nested"])
def test_the_red_team_workflow_is_decided_within_one_documents_work(patch: Any) -> None:
    obj = argo_workflow(*[patch(65_000)] * 22)  # 1.43 MB
    began = time.perf_counter()
    workload = extract_workload(obj)
    assert time.perf_counter() - began < 2.0  # 4.3 s (flat) and 7.6 s (nested) before
    assert [r.resource for r in workload.accelerators] == [POD_SPEC_PATCH]
    assert ENGINE.evaluate(workload, CHINA, NOW).action is Action.DENY


def test_documents_past_the_objects_budget_are_unknown_without_being_parsed() -> None:
    first = _harmless_patch(MAX_EMBEDDED_CHARS_PER_OBJECT - 200)
    # Alone, each patch asks for nothing ...
    assert extract_workload(argo_workflow(first)).accelerators == ()
    assert extract_workload(argo_workflow(_harmless_patch(10))).accelerators == ()
    # ... but after the first has spent the budget, the second is not read: unknown.
    workload = extract_workload(argo_workflow(first, _harmless_patch(300)))
    [request] = workload.accelerators
    assert request.resource == POD_SPEC_PATCH
    assert request.source == "spec.templates[1].podSpecPatch"


def test_ordinary_workflows_with_many_small_patches_read_as_before() -> None:
    harmless = "activeDeadlineSeconds: 600\ncontainers: [{name: main}]"
    reaching = '{"containers": [{"name": "main", "resources": {"limits": {"nvidia.com/gpu": 1}}}]}'
    assert extract_workload(argo_workflow(*[harmless] * 100)).accelerators == ()
    workload = extract_workload(argo_workflow(*[harmless] * 99, reaching))
    assert [r.resource for r in workload.accelerators] == [POD_SPEC_PATCH]
    assert ENGINE.evaluate(extract_workload(argo_workflow(harmless)), CHINA, NOW).action is (
        Action.ALLOW
    )


def test_each_extraction_has_its_own_budget() -> None:
    # Objects one after the other, or at once on the webhook's worker threads, never share it.
    first = _harmless_patch(MAX_EMBEDDED_CHARS_PER_OBJECT - 200)
    for _ in range(3):
        assert extract_workload(argo_workflow(first)).accelerators == ()
    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(lambda _: extract_workload(argo_workflow(first)), range(6)))
    assert all(w.accelerators == () for w in results)


def test_load_embedded_shares_the_budget_only_within_one_scope() -> None:
    text = "a: '" + "x" * (MAX_EMBEDDED_CHARS - 10) + "'"
    with embedded_budget(2 * len(text)):
        load_embedded(text, "spec.a")
        load_embedded(text, "spec.b")
        with pytest.raises(InputError, match="MAX_EMBEDDED_CHARS_PER_OBJECT") as refused:
            load_embedded("b: 1", "spec.c")
        assert refused.value.source == "spec.c"
    for _ in range(3):  # outside an extraction: each document is capped by its reader alone
        assert load_embedded(text, "spec.a") == {"a": "x" * (MAX_EMBEDDED_CHARS - 10)}


def test_a_ray_serve_config_past_the_objects_budget_is_an_unidentified_model() -> None:
    # The Ray Serve reader (models.from_ray_serve) consults the same budget via load_embedded.
    config = "applications:\n- args: {llm_configs: [{model_loading_config: {model_id: x}}]}\n"
    assert [m.reference for m in from_ray_serve(config, "spec.serveConfigV2", None)] == ["x"]
    with embedded_budget(len(config) - 1):
        [model] = from_ray_serve(config, "spec.serveConfigV2", None)
    assert model.reference.startswith("$(unreadable the Ray Serve config at spec.serveConfigV2")
    assert "MAX_EMBEDDED_CHARS_PER_OBJECT" in model.reference
    decision = ENGINE.evaluate(model_workload(models=[model.reference]), CHINA, NOW)
    assert decision.action is Action.DENY
