"""Reading YAML/JSON documents while remembering where every field came from.

Users hand-write tenants, policies and adapters; when one is wrong, the error must name the file,
the line and the field. PyYAML's composed node tree carries line marks, so documents are loaded
through it and a path -> line index is kept beside the plain data.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from exportgate.core.errors import InputError
from exportgate.core.limits import MAX_ALIAS_NODES, MAX_DEPTH, MAX_EMBEDDED_CHARS_PER_OBJECT

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


try:  # libyaml's scanner and parser, when PyYAML was built with it: several times faster
    from yaml.cyaml import CParser as _EventSource  # type: ignore[attr-defined]
except ImportError:  # pragma: no cover - pure-Python PyYAML

    class _EventSource(yaml.reader.Reader, yaml.scanner.Scanner, yaml.parser.Parser):  # type: ignore[no-redef]
        def __init__(self, stream: str) -> None:
            yaml.reader.Reader.__init__(self, stream)
            yaml.scanner.Scanner.__init__(self)
            yaml.parser.Parser.__init__(self)


class _Loader(yaml.composer.Composer, _EventSource, yaml.constructor.SafeConstructor,
              yaml.resolver.Resolver):  # fmt: skip
    """A safe loader that keeps timestamps as strings (RFC 3339 parsing is ours, with clear
    errors) and bounds the work one document can cause.

    Events come from libyaml (C, linear); composing and constructing are PyYAML's Python code,
    with this class's composer first in line. PyYAML composes recursively and shares an aliased
    node wherever it is used, so a deep document exhausts the stack and a few hundred bytes of
    nested aliases ("billion laughs") stand for billions of nodes that every later walk visits.
    While composing, this loader counts the nesting depth and the nodes each alias stands for
    (sizes are computed bottom-up, once per node), and refuses a document past `MAX_DEPTH` or
    `MAX_ALIAS_NODES` before anything walks it.
    """

    def __init__(self, stream: str) -> None:
        _EventSource.__init__(self, stream)
        yaml.composer.Composer.__init__(self)
        yaml.constructor.SafeConstructor.__init__(self)
        yaml.resolver.Resolver.__init__(self)
        self._depth = 0
        self._sizes: dict[int, int] = {}  # id(node) -> nodes it stands for, once composed
        self._alias_nodes = 0

    def compose_document(self) -> yaml.Node | None:
        self._sizes, self._alias_nodes = {}, 0
        try:
            return super().compose_document()
        finally:
            self._sizes = {}

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        if self.check_event(yaml.AliasEvent):
            event: Any = self.peek_event()
            target = self.anchors.get(event.anchor)
            if target is not None:
                size = self._sizes.get(id(target))
                if size is None:
                    raise _limit(
                        event,
                        f"alias *{event.anchor} refers to a node that contains it",
                        "a document must be a tree; write the value out instead",
                    )
                self._alias_nodes += size
                if self._alias_nodes > MAX_ALIAS_NODES:
                    raise _limit(
                        event,
                        f"aliases expand to more than {MAX_ALIAS_NODES} nodes "
                        f"(cap MAX_ALIAS_NODES)",
                        "write the values out, or split the document",
                    )
            return super().compose_node(parent, index)
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise _limit(
                    self.peek_event(),
                    f"nested more than {MAX_DEPTH} levels deep (cap MAX_DEPTH)",
                    "no Kubernetes object or exportgate file needs that many levels",
                )
            node = super().compose_node(parent, index)
        finally:
            self._depth -= 1
        size = 1
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                size += self._sizes.get(id(key), 1) + self._sizes.get(id(value), 1)
        elif isinstance(node, yaml.SequenceNode):
            for item in node.value:
                size += self._sizes.get(id(item), 1)
        self._sizes[id(node)] = size
        return node


class _LimitError(yaml.MarkedYAMLError):
    """A document past one of the caps in `exportgate.core.limits`."""

    def __init__(self, problem: str, mark: Any, hint: str) -> None:
        super().__init__(problem=problem, problem_mark=mark)
        self.hint = hint


def _limit(event: Any, problem: str, hint: str) -> _LimitError:
    return _LimitError(problem, event.start_mark, hint)


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
        with _yaml_errors(source, "YAML or JSON", "check indentation and quoting near that line"):
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
    finally:
        loader.dispose()
    return documents


@contextmanager
def _yaml_errors(source: str, kind: str, hint: str) -> Iterator[None]:
    """Turn the loader's failures into one-line InputErrors naming `source` and the line."""
    try:
        yield
    except _LimitError as exc:
        raise _input_error(exc, source, "refused", exc.hint) from None
    except yaml.MarkedYAMLError as exc:
        raise _input_error(exc, source, f"not valid {kind}", hint) from exc
    except yaml.YAMLError as exc:
        raise InputError(f"not valid {kind}: {exc}", source=source) from exc


def _input_error(exc: yaml.MarkedYAMLError, source: str, what: str, hint: str) -> InputError:
    mark = exc.problem_mark or exc.context_mark
    problem = exc.problem or exc.context or "not valid YAML"
    if "maximum nesting depth" in problem:  # libyaml's own limit (1000), far past ours
        what, problem = "refused", f"nested more than {MAX_DEPTH} levels deep (cap MAX_DEPTH)"
        hint = "no Kubernetes object or exportgate file needs that many levels"
    return InputError(
        f"{what}: {problem}", source=source, line=mark.line + 1 if mark else None, hint=hint
    )


def compose_single(text: str, source: str) -> tuple[Any, yaml.Node | None]:
    """One document as (data, node tree), through the same bounded loader as `parse_documents`
    (for readers that walk the node tree themselves, such as the adapter loader)."""
    loader = _Loader(text)
    try:
        with _yaml_errors(source, "YAML", "check indentation and quoting near this line"):
            node = loader.get_single_node()
            return (None if node is None else loader.construct_document(node)), node
    finally:
        loader.dispose()


class NotYaml(Exception):
    """An embedded string (`load_embedded`) that is not one YAML document."""


# Not envvars.Budget, on purpose: this bounds YAML parsed, and past it the object is refused.
_EMBEDDED_LEFT: ContextVar[list[int] | None] = ContextVar("embedded_left", default=None)
"""Characters of embedded documents the current object may still have read (`embedded_budget`)."""


@contextmanager
def embedded_budget(chars: int = MAX_EMBEDDED_CHARS_PER_OBJECT) -> Iterator[None]:
    """The extraction of one object: every `load_embedded` within it shares `chars`.

    Each document is capped by its reader (`MAX_EMBEDDED_CHARS`), but one object may hold many
    (an Argo Workflow has a pod spec patch per template): without a shared budget 22 patches of
    64 KiB took 7.6 s of the webhook's extraction pool (red team 4, F5). Context-local, so
    threads extracting different objects at once each have their own."""
    token = _EMBEDDED_LEFT.set([chars])
    try:
        yield
    finally:
        _EMBEDDED_LEFT.reset(token)


def load_embedded(text: str, where: str) -> Any:
    """One YAML document held in a string field of an object (a Ray Serve config, a pod spec
    patch), through the same bounded loader as every other document.

    Such strings come from tenants inside admission requests, so they get the same caps: a
    few hundred bytes of nested aliases would otherwise stand for billions of nodes that the
    reader walks on the webhook's event loop. Within an `embedded_budget` (the extraction of
    one object) a document that no longer fits the object's budget is not parsed. Raises
    `InputError` naming the cap when one is passed, and `NotYaml` when the text is not a
    single YAML document (which the caller judges: a config its program would refuse to run,
    or something it cannot read).
    """
    left = _EMBEDDED_LEFT.get()
    if left is not None:
        if len(text) > left[0]:
            raise InputError(
                f"refused: the object's embedded documents pass {MAX_EMBEDDED_CHARS_PER_OBJECT} "
                "characters (cap MAX_EMBEDDED_CHARS_PER_OBJECT)",
                source=where,
                hint="keep embedded configs and pod spec patches short, or split the object",
            )
        left[0] -= len(text)
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        return None if node is None else loader.construct_document(node)
    except _LimitError as exc:
        raise _input_error(exc, where, "refused", exc.hint) from None
    except yaml.YAMLError as exc:
        raise NotYaml(str(exc)) from None
    finally:
        loader.dispose()


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


def nesting_problem(data: object) -> str | None:
    """`tree_problem` for JSON whose parser already refused lone surrogates (orjson does): only
    the nesting is checked, level by level over the containers alone (keys and scalars are not
    visited); about five times cheaper than `tree_problem` on a review (bench/NOTES.md)."""
    level: list[dict[Any, Any] | list[Any]] = (
        [data] if type(data) is dict or type(data) is list else []
    )
    depth = 1
    while level:
        if depth > MAX_DEPTH:
            return f"nested more than {MAX_DEPTH} levels deep (cap MAX_DEPTH)"
        below: list[dict[Any, Any] | list[Any]] = []
        append = below.append
        for value in level:
            for child in value.values() if type(value) is dict else value:
                if type(child) is dict or type(child) is list:
                    append(child)
        level = below
        depth += 1
    return None


def tree_problem(data: object) -> str | None:
    """Why already-parsed JSON cannot be handled, or None: nesting past `MAX_DEPTH`, or a
    string with a lone UTF-16 surrogate (JSON allows ``"\\ud800"``; it cannot be encoded as
    UTF-8, so it would fail later in the sidecar call or the decision log). Iterative and linear,
    so a hostile body cannot exhaust the stack here either."""
    stack: list[tuple[object, int]] = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, str):
            if not value.isascii():
                try:
                    value.encode("utf-8")
                except UnicodeEncodeError:
                    return "a string contains a lone UTF-16 surrogate (not valid Unicode text)"
        elif isinstance(value, dict | list):
            if depth > MAX_DEPTH:
                return f"nested more than {MAX_DEPTH} levels deep (cap MAX_DEPTH)"
            items = [*value.keys(), *value.values()] if isinstance(value, dict) else value
            stack.extend((item, depth + 1) for item in items)
    return None
