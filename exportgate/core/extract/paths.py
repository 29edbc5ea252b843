"""A tiny path language for finding fields in Kubernetes objects.

Adapters name the places that hold pod specs, resources or model references with paths such as
``spec.template``, ``spec.workerGroupSpecs[*].template``, ``spec.pytorchReplicaSpecs.*.template``
or ``metadata.annotations["capacity.cluster-autoscaler.kubernetes.io/gpu-count"]``. Paths are
compiled once, when the adapter is loaded, and then resolved against every object: resolution is
a loop over a tuple of steps, with no parsing on the hot path.

Grammar (whitespace is not allowed)::

    path  := step ( "." key | "[" index "]" | "[*]" | "[*?]" | ".*" | "[" quoted "]" )*
    step  := key | "*" | "[" quoted "]"
    key   := [A-Za-z0-9_-]+          (a mapping key)
    "*"   := every value of a mapping, in the mapping's order
    "[*]" := every item of a list
    "[*?]":= every item of a list, or the value itself when it is not a list (a field that
             some versions of an API declare as a list and others as one object)
    index := a non-negative integer  (one list item)
    quoted:= "..." or '...'          (a mapping key with dots, slashes or other characters)

Resolution is strict about shapes, because a malformed object must be reported, not silently
read as "asks for nothing": stepping into a string where a mapping belongs raises `InputError`
naming the field. Missing keys and explicit nulls simply yield nothing.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from exportgate.core.errors import InputError

_KEY_RE = re.compile(r"[A-Za-z0-9_\-]+")
_INDEX_RE = re.compile(r"\[(\d+)\]")
_PLAIN_KEY_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_\-]*\Z")


class PathSyntaxError(ValueError):
    """An adapter path that does not follow the grammar above."""


@dataclass(frozen=True, slots=True)
class _Key:
    name: str


@dataclass(frozen=True, slots=True)
class _Index:
    index: int


class _AllItems:
    """``[*]``: every item of a list."""

    __slots__ = ()


class _ItemsOrValue:
    """``[*?]``: every item of a list, or a value that is not a list as it is."""

    __slots__ = ()


class _AllValues:
    """``*``: every value of a mapping."""

    __slots__ = ()


_Step = _Key | _Index | _AllItems | _ItemsOrValue | _AllValues
_ALL_ITEMS = _AllItems()
_ITEMS_OR_VALUE = _ItemsOrValue()
_ALL_VALUES = _AllValues()


def describe_type(value: object) -> str:
    """How a YAML/JSON reader would name the type of `value`, for error messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, Mapping):
        return "an object"
    if isinstance(value, list | tuple):
        return "a list"
    return type(value).__name__


_Trail = tuple["_Trail", str | int] | None
"""The steps taken so far, innermost last: (earlier trail, key or list index)."""


def _spell(base: str, trail: _Trail) -> str:
    """The field path `join_key`/`join_index` would have built step by step along `trail`."""
    parts: list[str | int] = []
    while trail is not None:
        trail, part = trail
        parts.append(part)
    where = base
    for part in reversed(parts):
        where = join_index(where, part) if isinstance(part, int) else join_key(where, part)
    return where


def _no_mapping(value: object, base: str, trail: _Trail) -> Mapping[str, Any]:
    return expect_mapping(value, _spell(base, trail))  # raises: `value` is not a mapping


def _no_list(value: object, base: str, trail: _Trail) -> list[Any] | tuple[Any, ...]:
    return expect_list(value, _spell(base, trail))  # raises: `value` is not a list


# Whether a key needs no quoting, remembered for the keys seen most: the same few dozen field
# names recur in every object, and a dict lookup is cheaper than the regex. Bounded, because
# keys also come from the objects themselves (labels, resource names).
_PLAIN_KEYS: dict[str, bool] = {}
_PLAIN_KEYS_MAX = 4096


def _is_plain(key: str) -> bool:
    plain = _PLAIN_KEYS.get(key)
    if plain is None:
        plain = _PLAIN_KEY_RE.match(key) is not None
        if len(_PLAIN_KEYS) < _PLAIN_KEYS_MAX:
            _PLAIN_KEYS[key] = plain
    return plain


def join_key(base: str, key: str) -> str:
    """The field path of `key` inside the mapping at `base`, quoting keys that need it."""
    if _is_plain(key):
        return f"{base}.{key}" if base else key
    return f"{base}[{json.dumps(key)}]"


def join_index(base: str, index: int) -> str:
    return f"{base}[{index}]"


@dataclass(frozen=True, slots=True)
class FieldPath:
    """A compiled path. `text` is the path as written; `resolve` finds the values it names."""

    text: str
    steps: tuple[_Step, ...]

    def resolve(self, root: object, base: str = "") -> list[tuple[str, Any]]:
        """Every (field path, value) the path names under `root`; `base` is root's own path.

        Nulls and missing keys yield nothing. A value of the wrong shape on the way raises
        `InputError` with `field` set to the offending field.
        """
        found: list[tuple[str, Any]] = []
        self._collect(root, base, None, 0, found, False)
        return found

    def first(self, root: object, base: str = "") -> tuple[str, Any] | None:
        """The first (field path, value) the path names, or None."""
        found: list[tuple[str, Any]] = []
        self._collect(root, base, None, 0, found, True)
        return found[0] if found else None

    def _collect(
        self,
        value: object,
        base: str,
        trail: _Trail,
        position: int,
        found: list[tuple[str, Any]],
        only_first: bool,
    ) -> bool:
        """Append what the steps from `position` name under `value` to `found`.

        The field path is kept as a `_Trail` of keys and indexes and only spelled out for a
        match or an error: most steps of most paths lead nowhere (an adapter lists every place
        a pod spec could be), and formatting a path per step used to cost more than the walk.
        Returns True when `only_first` and a match was found, to stop the whole walk.
        """
        steps = self.steps
        while value is not None:
            if position == len(steps):
                found.append((_spell(base, trail), value))
                return only_first
            step = steps[position]
            position += 1
            # The expect_* calls only run to raise: the path is spelled out for the message.
            if type(step) is _Key:
                mapping = value if isinstance(value, Mapping) else _no_mapping(value, base, trail)
                trail = (trail, step.name)
                value = mapping.get(step.name)
            elif type(step) is _Index:
                items = value if isinstance(value, list | tuple) else _no_list(value, base, trail)
                if step.index >= len(items):
                    return False
                trail = (trail, step.index)
                value = items[step.index]
            elif step is _ALL_ITEMS:
                items = value if isinstance(value, list | tuple) else _no_list(value, base, trail)
                for index, item in enumerate(items):
                    if self._collect(item, base, (trail, index), position, found, only_first):
                        return True
                return False
            elif step is _ITEMS_OR_VALUE:
                if isinstance(value, list | tuple):
                    for index, item in enumerate(value):
                        if self._collect(item, base, (trail, index), position, found, only_first):
                            return True
                    return False
                # Not a list: the value is its own single item, at its own field.
            else:
                mapping = value if isinstance(value, Mapping) else _no_mapping(value, base, trail)
                for key, item in mapping.items():
                    if self._collect(item, base, (trail, str(key)), position, found, only_first):
                        return True
                return False
        return False

    def __str__(self) -> str:
        return self.text


def expect_mapping(value: object, field: str) -> Mapping[str, Any]:
    """`value` as a mapping, or an InputError naming `field`."""
    # type() first: parsed JSON holds plain dicts, and the ABC check costs several times more.
    if type(value) is dict or isinstance(value, Mapping):
        return value
    raise InputError(
        f"expected an object, found {describe_type(value)}",
        field=field or "<root>",
        hint="check the indentation and that this field holds key: value pairs",
    )


def expect_list(value: object, field: str) -> list[Any] | tuple[Any, ...]:
    """`value` as a list, or an InputError naming `field`."""
    if isinstance(value, list | tuple):
        return value
    raise InputError(
        f"expected a list, found {describe_type(value)}",
        field=field or "<root>",
        hint="this field holds a list; write each item on its own line starting with '- '",
    )


def expect_string(value: object, field: str) -> str:
    if isinstance(value, str):
        return value
    raise InputError(
        f"expected a string, found {describe_type(value)}",
        field=field,
        hint="quote the value if YAML reads it as a number or boolean",
    )


def compile_path(text: str) -> FieldPath:
    """Compile `text` into a FieldPath, or raise PathSyntaxError saying what is wrong."""
    if not text:
        raise PathSyntaxError("empty path")
    steps: list[_Step] = []
    position = 0
    expect_key = True  # at the start and after ".", a key or "*" must follow
    while position < len(text):
        char = text[position]
        if char == "[":
            step, position = _bracket(text, position)
            steps.append(step)
            expect_key = False
            continue
        if char == "." and not expect_key:
            position += 1
            expect_key = True
            if position == len(text):
                raise PathSyntaxError(f"{text!r}: a path cannot end with '.'")
            continue
        if not expect_key:
            raise PathSyntaxError(
                f"{text!r}: unexpected {char!r} at column {position + 1}; "
                "separate keys with '.' and put odd keys in [\"...\"]"
            )
        if char == "*":
            steps.append(_ALL_VALUES)
            position += 1
        else:
            match = _KEY_RE.match(text, position)
            if match is None:
                raise PathSyntaxError(
                    f"{text!r}: unexpected {char!r} at column {position + 1}; "
                    'keys with characters other than letters, digits, "_" and "-" '
                    'must be quoted: ["example.com/key"]'
                )
            steps.append(_Key(match.group()))
            position = match.end()
        expect_key = False
    return FieldPath(text, tuple(steps))


def _bracket(text: str, position: int) -> tuple[_Step, int]:
    if text.startswith("[*]", position):
        return _ALL_ITEMS, position + 3
    if text.startswith("[*?]", position):
        return _ITEMS_OR_VALUE, position + 4
    index = _INDEX_RE.match(text, position)
    if index is not None:
        return _Index(int(index.group(1))), index.end()
    if position + 1 < len(text) and text[position + 1] in "\"'":
        quote = text[position + 1]
        end = text.find(quote, position + 2)
        if end == -1 or not text.startswith("]", end + 1):
            raise PathSyntaxError(
                f'{text!r}: unterminated quoted key at column {position + 1}; write ["key"]'
            )
        key = text[position + 2 : end]
        if not key:
            raise PathSyntaxError(f"{text!r}: empty quoted key at column {position + 1}")
        return _Key(key), end + 2
    raise PathSyntaxError(
        f"{text!r}: bad bracket at column {position + 1}; "
        "use [*] for every item, [*?] for every item or a single value, [0] for one item, "
        'or ["key"] for a quoted key'
    )
