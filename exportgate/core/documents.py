"""Reading YAML/JSON documents while remembering where every field came from.

Users hand-write tenants, policies and adapters; when one is wrong, the error must name the file,
the line and the field. PyYAML's composed node tree carries line marks, so documents are loaded
through it and a path -> line index is kept beside the plain data.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from exportgate.core.errors import InputError

PathKey = tuple[str | int, ...]


@dataclass(frozen=True, slots=True)
class LocatedDocument:
    """One parsed document, with the line of every field in it."""

    data: Any
    source: str
    line: int  # line where the document starts (1-based)
    lines: Mapping[PathKey, int] = field(default_factory=dict)

    def line_of(self, path: Sequence[str | int]) -> int:
        """The line of `path`, or of its nearest ancestor that has one."""
        key = tuple(path)
        while key:
            if key in self.lines:
                return self.lines[key]
            key = key[:-1]
        return self.line

    def error(self, path: Sequence[str | int], message: str, hint: str | None = None) -> InputError:
        return InputError(
            message,
            source=self.source,
            line=self.line_of(path),
            field=dotted(path) or None,
            hint=hint,
        )


def dotted(path: Sequence[str | int]) -> str:
    """`("spec", "rules", 0, "id")` -> `spec.rules[0].id`, the way kubectl explains fields."""
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text


class _Loader(yaml.SafeLoader):
    """SafeLoader that keeps timestamps as strings: RFC 3339 parsing is ours, with clear errors."""


# YAML 1.1 turns unquoted dates into datetime objects and "NO" into False; both surprise users
# writing country codes and timestamps. Keep dates as strings and treat only true/false as bools.
_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _bool_strict(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> Any:
    value = loader.construct_scalar(node)
    lowered = str(value).lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    return value


_Loader.add_constructor("tag:yaml.org,2002:bool", _bool_strict)

DataLoader = _Loader
"""The loader for every YAML exportgate reads, built-in data included (safe, strict bools)."""


def _index(node: yaml.Node, path: PathKey, lines: dict[PathKey, int]) -> None:
    lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            if isinstance(key_node, yaml.ScalarNode):
                _index(value_node, (*path, str(key_node.value)), lines)
    elif isinstance(node, yaml.SequenceNode):
        for position, item in enumerate(node.value):
            _index(item, (*path, position), lines)


def parse_documents(text: str, source: str) -> list[LocatedDocument]:
    """Parse multi-document YAML (JSON is YAML) into located documents; skip empty ones."""
    documents: list[LocatedDocument] = []
    loader = _Loader(text)
    try:
        while loader.check_node():
            node = loader.get_node()
            if node is None:
                continue
            data = loader.construct_document(node)
            if data is None:
                continue
            lines: dict[PathKey, int] = {}
            _index(node, (), lines)
            documents.append(
                LocatedDocument(
                    data=data, source=source, line=node.start_mark.line + 1, lines=lines
                )
            )
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = exc.problem or exc.context or "not valid YAML"
        raise InputError(
            f"not valid YAML or JSON: {problem}",
            source=source,
            line=mark.line + 1 if mark else None,
            hint="check indentation and quoting near that line",
        ) from exc
    except yaml.YAMLError as exc:
        raise InputError(f"not valid YAML or JSON: {exc}", source=source) from exc
    finally:
        loader.dispose()
    return documents


def read_documents(path: str | Path) -> list[LocatedDocument]:
    """Read a file (or '-' for stdin) into located documents."""
    import sys

    name = str(path)
    if name == "-":
        return parse_documents(sys.stdin.read(), "<stdin>")
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise InputError("file not found", source=name, hint="check the path") from exc
    except IsADirectoryError as exc:
        raise InputError("is a directory, expected a file", source=name) from exc
    except UnicodeDecodeError as exc:
        raise InputError("not UTF-8 text", source=name) from exc
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror}", source=name) from exc
    return parse_documents(text, name)


def flatten_lists(
    documents: list[LocatedDocument],
) -> Iterator[tuple[LocatedDocument, Any, PathKey]]:
    """Yield each object, unwrapping `kind: List` documents (as kubectl get -o yaml prints)."""
    for document in documents:
        data = document.data
        if (
            isinstance(data, dict)
            and str(data.get("kind", "")).endswith("List")
            and isinstance(data.get("items"), list)
        ):
            for position, item in enumerate(data["items"]):
                yield document, item, ("items", position)
        else:
            yield document, data, ()
