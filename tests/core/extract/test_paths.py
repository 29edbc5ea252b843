"""Field paths: what they find and the field names they report, matches and errors alike."""

from __future__ import annotations

from typing import Any

import pytest

from exportgate.core.errors import InputError
from exportgate.core.extract import extract_workload
from exportgate.core.extract.paths import compile_path

JOB: dict[str, Any] = {
    "metadata": {"annotations": {"example.com/gpu": "2", "plain": "x"}},
    "spec": {
        "template": {"spec": {"containers": [{"name": "a"}, {"name": "b"}, None]}},
        "replicaSpecs": {"Worker": {"template": {"n": 1}}, "Master": {"template": {"n": 2}}},
        "groups": [{"template": {"n": 3}}, {"other": 1}, {"template": None}],
        "odd keys": {"weird/key": {"template": 4}, "ok_key": {"template": 5}},
    },
}


@pytest.mark.parametrize(
    ("path", "base", "expected"),
    [
        ("spec.template", "", [("spec.template", JOB["spec"]["template"])]),
        ("spec.template", "obj", [("obj.spec.template", JOB["spec"]["template"])]),
        (
            "spec.template.spec.containers[*].name",
            "",
            [
                ("spec.template.spec.containers[0].name", "a"),
                ("spec.template.spec.containers[1].name", "b"),
            ],
        ),
        (
            "spec.template.spec.containers[1]",
            "",
            [("spec.template.spec.containers[1]", {"name": "b"})],
        ),
        ("spec.template.spec.containers[7]", "", []),
        (
            "spec.replicaSpecs.*.template.n",
            "",
            [
                ("spec.replicaSpecs.Worker.template.n", 1),
                ("spec.replicaSpecs.Master.template.n", 2),
            ],
        ),
        ("spec.groups[*].template.n", "", [("spec.groups[0].template.n", 3)]),
        (
            '["spec"]["odd keys"].*.template',
            "",
            [
                ('spec["odd keys"]["weird/key"].template', 4),
                ('spec["odd keys"].ok_key.template', 5),
            ],
        ),
        (
            'metadata.annotations["example.com/gpu"]',
            "",
            [('metadata.annotations["example.com/gpu"]', "2")],
        ),
        ("metadata.annotations.*", "", [
            ('metadata.annotations["example.com/gpu"]', "2"),
            ("metadata.annotations.plain", "x"),
        ]),
        ("spec.missing.template", "", []),
        ("*", "", [(key, value) for key, value in JOB.items()]),
    ],
)
def test_resolve_finds_values_and_names_their_fields(
    path: str, base: str, expected: list[tuple[str, Any]]
) -> None:
    compiled = compile_path(path)
    assert compiled.resolve(JOB, base) == expected
    assert compiled.first(JOB, base) == (expected[0] if expected else None)


@pytest.mark.parametrize(
    ("path", "obj", "field", "message"),
    [
        ("spec.template", {"spec": "oops"}, "spec", "expected an object, found a string"),
        ("spec.items[*]", {"spec": {"items": {"a": 1}}}, "spec.items", "expected a list"),
        ("spec.items[0]", {"spec": {"items": 3}}, "spec.items", "expected a list, found a number"),
        ("spec.*.x", {"spec": {"a/b": [1]}}, 'spec["a/b"]', "expected an object, found a list"),
        ("spec.l[*].x", {"spec": {"l": [{"x": 1}, True]}}, "spec.l[1]", "found a boolean"),
        ("spec", [1], "<root>", "expected an object, found a list"),
    ],
)
def test_wrong_shapes_name_the_offending_field(
    path: str, obj: object, field: str, message: str
) -> None:
    with pytest.raises(InputError, match=message) as raised:
        compile_path(path).resolve(obj)
    assert raised.value.field == field


@pytest.mark.parametrize(
    ("obj", "expected"),
    [
        # ASO v20251002preview: autoscale is one object.
        ({"autoscale": {"size": "a"}}, [("scale.autoscale.size", "a")]),
        # ASO v1api20240402preview / v20260501: a list of them.
        (
            {"autoscale": [{"size": "a"}, {"size": "b"}]},
            [("scale.autoscale[0].size", "a"), ("scale.autoscale[1].size", "b")],
        ),
        ({"autoscale": []}, []),
        ({"autoscale": None}, []),
        ({}, []),
    ],
    ids=["one-object", "list", "empty-list", "null", "missing"],
)
def test_items_or_value_reads_a_list_or_a_single_value(
    obj: dict[str, Any], expected: list[tuple[str, Any]]
) -> None:
    """``[*?]``: every item of a list, or the value itself when it is not a list (a field some
    API versions declare as a list and others as one object)."""
    path = compile_path("autoscale[*?].size")
    assert path.resolve(obj, "scale") == expected
    assert path.first(obj, "scale") == (expected[0] if expected else None)
    # Every list and every value under a mapping: all forms of AKS's scale at once.
    scale = {"manual": [{"size": "m"}], "autoscale": {"size": "a"}}
    assert compile_path("*[*?].size").resolve(scale, "scale") == [
        ("scale.manual[0].size", "m"),
        ("scale.autoscale.size", "a"),
    ]
    # Still strict past it: a string where an object belongs is named.
    with pytest.raises(InputError) as raised:
        path.resolve({"autoscale": "big"}, "scale")
    assert raised.value.field == "scale.autoscale"


def test_first_stops_at_the_first_match_before_a_later_bad_shape() -> None:
    obj = {"spec": {"l": [{"x": 1}, "not an object"]}}
    path = compile_path("spec.l[*].x")
    assert path.first(obj) == ("spec.l[0].x", 1)
    with pytest.raises(InputError):
        path.resolve(obj)


def test_a_base_names_the_root_in_errors() -> None:
    with pytest.raises(InputError) as raised:
        compile_path("template.spec").resolve({"template": 5}, "spec.groups[2]")
    assert raised.value.field == "spec.groups[2].template"


@pytest.mark.parametrize(
    ("metadata", "spec", "field"),
    [
        ({"name": 5}, {}, "metadata.name"),
        ({"name": "p", "labels": {"team": 7}}, {}, "metadata.labels.team"),
        ({"name": "p", "labels": {"example.com/x": True}}, {}, 'metadata.labels["example.com/x"]'),
        ({"name": "p"}, {"nodeSelector": {"zone": 1}}, "spec.nodeSelector.zone"),
    ],
)
def test_metadata_and_selectors_still_name_a_bad_field(
    metadata: dict[str, Any], spec: dict[str, Any], field: str
) -> None:
    # These fields are only spelled out when something is wrong; the names must not change.
    container = {"name": "c", "image": "x", "resources": {"limits": {"nvidia.com/gpu": 1}}}
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": metadata,
           "spec": {"containers": [container], **spec}}
    with pytest.raises(InputError, match="expected a string") as raised:
        extract_workload(pod)
    assert raised.value.field == field
