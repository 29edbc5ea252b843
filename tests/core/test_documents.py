"""Reading YAML/JSON while remembering lines: the basis of every file+line+field error."""

from __future__ import annotations

from pathlib import Path

import pytest

from exportgate.core.documents import dotted, flatten_lists, parse_documents, read_documents
from exportgate.core.errors import InputError

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
