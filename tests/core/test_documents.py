"""Reading YAML/JSON while remembering lines: the basis of every file+line+field error."""

from __future__ import annotations

from pathlib import Path

import pytest

from exportgate.core.documents import (
    dotted,
    flatten_lists,
    nesting_problem,
    parse_documents,
    read_documents,
    tree_problem,
)
from exportgate.core.errors import InputError
from exportgate.core.limits import MAX_DEPTH

MULTI = """\
# leading comment
apiVersion: v1
kind: Pod
metadata:
  name: a
---
---
{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "b"}}
"""


def test_multi_document_yaml_and_json_with_lines() -> None:
    documents = parse_documents(MULTI, "m.yaml")
    assert [d.data["metadata"]["name"] for d in documents] == ["a", "b"]  # empty doc skipped
    assert [d.line for d in documents] == [2, 8]
    assert documents[0].line_of(("metadata", "name")) == 5
    assert documents[0].line_of(("metadata", "labels", "x")) == 5  # nearest known ancestor


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("code: NO\n", "NO"),  # YAML 1.1 would say False: Norway
        ("at: 2027-03-01\n", "2027-03-01"),  # kept a string: RFC 3339 parsing is ours
        ("flag: true\n", True),
        ("flag: yes\n", "yes"),
    ],
)
def test_yaml_surprises_are_avoided(text: str, value: object) -> None:
    (document,) = parse_documents(text, "s.yaml")
    assert next(iter(document.data.values())) == value


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ("a: 1\nb: [1, 2\nc: 3\n", 3),
        ("a:\n  - x\n - y\n", 3),
        ('{"a": 1,, "b": 2}\n', 1),
        ("a: 'unterminated\n", 2),
    ],
)
def test_broken_yaml_names_source_and_line(text: str, line: int) -> None:
    with pytest.raises(InputError) as caught:
        parse_documents(text, "bad.yaml")
    assert caught.value.source == "bad.yaml"
    assert caught.value.line == line
    assert "not valid YAML or JSON" in caught.value.message


def test_dotted_paths_read_like_kubectl_explain() -> None:
    assert dotted(("spec", "rules", 0, "id")) == "spec.rules[0].id"
    assert dotted(()) == ""


def test_lists_are_unwrapped() -> None:
    text = "kind: List\napiVersion: v1\nitems:\n- {kind: Pod, metadata: {name: a}}\n- {kind: Pod}\n"
    found = list(flatten_lists(parse_documents(text, "l.yaml")))
    assert [base for _, _, base in found] == [("items", 0), ("items", 1)]
    assert found[1][0].line_of(found[1][2]) == 5


def test_read_documents_errors(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="file not found"):
        read_documents(tmp_path / "missing.yaml")
    with pytest.raises(InputError, match="is a directory"):
        read_documents(tmp_path)
    binary = tmp_path / "b.yaml"
    binary.write_bytes(b"\xff\xfe\x00bad")
    with pytest.raises(InputError, match="not UTF-8"):
        read_documents(binary)


# -- bounded reading (issue 11) -----------------------------------------------------------------


def _alias_bomb(levels: int = 9) -> str:
    text = 'a0: &a0 ["x","x","x","x","x","x","x","x","x"]\n'
    for level in range(1, levels):
        text += f"a{level}: &a{level} [" + ",".join([f"*a{level - 1}"] * 9) + "]\n"
    return text


def test_an_alias_bomb_is_refused_naming_the_cap() -> None:
    with pytest.raises(InputError) as caught:
        parse_documents(_alias_bomb(), "bomb.yaml")
    assert "MAX_ALIAS_NODES" in caught.value.describe()
    assert "\n" not in caught.value.describe()


def test_aliases_within_the_cap_are_expanded_once() -> None:
    (document,) = parse_documents("a: &x {b: 1}\nc: *x\nd: {<<: *x, e: 2}\n", "ok.yaml")
    assert document.data == {"a": {"b": 1}, "c": {"b": 1}, "d": {"b": 1, "e": 2}}


def test_a_recursive_alias_is_refused() -> None:
    with pytest.raises(InputError, match="contains it"):
        parse_documents("a: &a [*a]\n", "loop.yaml")


@pytest.mark.parametrize("text", ["[" * 5000 + "]" * 5000, "a:\n" + "".join(
    f"{'  ' * i}b{i}:\n" for i in range(1, 300)) + "  " * 300 + "x: 1\n"])
def test_deep_nesting_is_refused_naming_the_cap(text: str) -> None:
    with pytest.raises(InputError, match="MAX_DEPTH"):
        parse_documents(text, "deep.yaml")


def test_tree_problem_names_depth_and_lone_surrogates() -> None:
    deep: object = 1
    for _ in range(MAX_DEPTH + 1):
        deep = [deep]
    assert "MAX_DEPTH" in (tree_problem(deep) or "")
    assert "surrogate" in (tree_problem({"a": ["ok", "\ud800"]}) or "")
    assert tree_problem({"a": ["ok", "é", {"b": None}]}) is None


@pytest.mark.parametrize("levels", [MAX_DEPTH - 1, MAX_DEPTH, MAX_DEPTH + 1, MAX_DEPTH + 50])
@pytest.mark.parametrize("container", ["list", "dict"])
def test_nesting_problem_agrees_with_tree_problem_on_depth(levels: int, container: str) -> None:
    deep: object = "leaf"
    for i in range(levels):
        deep = [1, deep] if container == "list" else {"k": deep, f"s{i}": {"x": [2]} if i else 3}
    assert nesting_problem(deep) == tree_problem(deep)
    if container == "list":  # exactly `levels` containers deep
        assert (nesting_problem(deep) is None) == (levels <= MAX_DEPTH)
