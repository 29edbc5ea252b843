"""Resource-name globs: linear matching, and names no resource can have (red team 4, F3).

``*kubernetes.io/*`` (standardResources) was compiled to ``.*kubernetes\\.io/.*`` without DOTALL;
``fullmatch`` on a name of repeated ``kubernetes.io/`` ending in a newline made the two stars
backtrack against each other: a 15 KB custom resource cost 70 ms of the webhook's event loop, a
240 KB one 14 s. Such names are now unknown accelerators before any glob runs, and the globs are
matched in linear time whatever the name.
"""

from __future__ import annotations

import itertools
import re
import time
from typing import Any

import pytest

from exportgate.core.engine import PolicyEngine
from exportgate.core.extract import AdapterRegistry, extract_workload
from exportgate.core.extract.vocabulary import (
    _linear_pattern,
    compile_names,
    name_pattern,
    possible_resource_name,
)
from exportgate.core.limits import MAX_RESOURCE_NAME_CHARS
from exportgate.core.types import Action
from tests.core.builders import NOW, make_tenant

ENGINE = PolicyEngine.build()
CHINA = make_tenant("nimbus", incorporation="CN")
SINGAPORE = make_tenant("acme", incorporation="SG")
VOCABULARY = AdapterRegistry.builtin().vocabulary


def _widget(resource: str) -> dict[str, Any]:
    """The red team's object: an unadapted custom resource (generic fallback) whose
    ``resources`` map the API server does not validate."""
    return {
        "apiVersion": "example.com/v1",
        "kind": "Widget",
        "metadata": {"name": "w", "namespace": "n"},
        "spec": {"worker": {"resources": {"limits": {resource: "1"}}}},
    }


def _backtracking_name(chars: int) -> str:
    return "kubernetes.io/" * (chars // 14) + "\n"


@pytest.mark.parametrize("chars", [15_000, 240_000, 1_400_000])
def test_the_red_team_resource_name_is_an_unknown_accelerator_at_once(chars: int) -> None:
    obj = _widget(_backtracking_name(chars))
    began = time.perf_counter()
    workload = extract_workload(obj)
    assert time.perf_counter() - began < 0.5  # 70 ms at 15 KB and 14 s at 240 KB before
    [request] = workload.accelerators
    assert request.resource == _backtracking_name(chars)
    assert ENGINE.evaluate(workload, CHINA, NOW).action is Action.DENY  # unknown: most restrictive


@pytest.mark.parametrize(
    "name",
    [
        "kubernetes.io/x\n",  # a control character (it was never standard: "." missed "\n")
        "example.com/" + "a" * MAX_RESOURCE_NAME_CHARS,  # longer than Kubernetes allows
        "hugepages-2Mi ",  # a space
        "requests.nvidia.com/gpu\t",
        "kubernetes.io/gpu\u00e9",  # not ASCII
    ],
)
def test_names_no_resource_can_have_are_unknown_accelerators(name: str) -> None:
    assert not possible_resource_name(name)
    assert VOCABULARY.requested_accelerator(name)


@pytest.mark.parametrize(
    ("name", "accelerator"),
    [
        ("cpu", False),
        ("hugepages-2Mi", False),
        ("kubernetes.io/batch-node", False),
        ("example.kubernetes.io/thing", False),
        ("requests.nvidia.com/gpu", False),
        ("count/pods", False),
        ("intel.com/intel_sriov_netdevice", False),  # ignored: *sriov*
        ("rdma/hca_shared_devices_a", False),
        ("nvidia.com/gpu", True),
        ("nvidia.com/mig-1g.10gb", True),
        ("example.com/gpu", True),  # unknown, not harmless
        ("a" * 253 + "/" + "b" * 63, True),  # as long as a resource name can be
    ],
)
def test_ordinary_resource_names_read_as_before(name: str, accelerator: bool) -> None:
    assert possible_resource_name(name)
    assert VOCABULARY.requested_accelerator(name) is accelerator


def test_the_linear_translation_matches_exactly_what_the_chart_pattern_matches() -> None:
    # Every glob over {a, b, *} up to 5 characters against every name over {a, b, "\n"} up to
    # 6: the chart keeps `name_pattern` (RE2 never backtracks), the extractor the linear form.
    globs = ["".join(g) for n in range(6) for g in itertools.product("ab*", repeat=n)]
    names = ["".join(c) for n in range(7) for c in itertools.product("ab\n", repeat=n)]
    for glob in globs:
        chart = re.compile(name_pattern(glob), re.DOTALL)
        linear = re.compile(_linear_pattern(glob), re.DOTALL)
        for name in names:
            assert (chart.fullmatch(name) is None) == (linear.fullmatch(name) is None), (glob, name)


@pytest.mark.parametrize("glob", ["*kubernetes.io/*", "*a*b*c", "intel.com/*sriov*", "x*y"])
def test_globs_match_in_linear_time_even_on_names_past_the_cap(glob: str) -> None:
    pattern = compile_names([glob])
    assert pattern is not None
    for name in [_backtracking_name(1_400_000), "ab" * 700_000, "x" + "yx" * 700_000]:
        began = time.perf_counter()
        pattern.fullmatch(name)
        assert time.perf_counter() - began < 0.1


def test_the_chart_patterns_are_unchanged_re2() -> None:
    # charts/tools/sync_kinds.py anchors `name_pattern` for CEL's matches(): still plain RE2.
    assert name_pattern("*kubernetes.io/*") == r".*kubernetes\.io/.*"
    assert name_pattern("hugepages-*") == r"hugepages\-.*"
