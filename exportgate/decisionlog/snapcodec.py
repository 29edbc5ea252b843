"""A tagged JSON encoding of the core's immutable types, for policy snapshots beside the log.

A snapshot must rebuild exactly the objects the engine decided with (compiled policies,
tenant records, the data files), from JSON alone, years later. The core's dataclasses hold
dates, enums, tuples, frozensets and the odd float, which plain JSON cannot tell apart, so each
is written as a one-key object naming its kind: ``{"$date": "2025-01-15"}``,
``{"$dc": "Rule", "f": {...}}``, ``{"$enum": "Action", "v": "deny"}``. The classes allowed
are the dataclasses and enums of the core's modules, found by introspection, so a field or type
added to the core is carried without a change here (a value it cannot encode raises
`RecordFormatError`, and the decision is then logged without that snapshot). Sets are sorted
on encoding so equal objects always encode to equal bytes (a snapshot's address is the hash of
its bytes).
"""

from __future__ import annotations

import dataclasses
import enum
import json
import sys
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

from exportgate.decisionlog.errors import RecordFormatError

_found: dict[str, type] = {}


def _classes() -> dict[str, type]:
    """Dataclasses and enums of the core's loaded modules, by name (first definition wins).

    Scanned again when a name is missing, so types of a core module imported later are found.
    """
    if not _found:
        _scan()
    return _found


def _scan() -> None:
    import exportgate.core.policy
    import exportgate.core.types  # noqa: F401 (the modules whose types snapshots hold)

    for module_name, module in sorted(sys.modules.items()):
        if module is None or not module_name.startswith("exportgate.core"):
            continue
        for name, value in vars(module).items():
            if (
                isinstance(value, type)
                and value.__module__ == module_name
                and (dataclasses.is_dataclass(value) or issubclass(value, enum.Enum))
            ):
                _found.setdefault(name, value)


def encode(value: Any) -> Any:
    """`value` as JSON-ready data with the tags described in the module docstring."""
    if isinstance(value, enum.Enum):  # first: a StrEnum is also a str
        name = type(value).__name__
        if _classes().get(name) is not type(value):
            _scan()
            if _classes().get(name) is not type(value):
                raise RecordFormatError(f"{name} is not a core enum a snapshot can hold")
        return {"$enum": name, "v": value.value}
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return {"$float": repr(value)}
    if isinstance(value, datetime):
        return {"$dt": value.isoformat()}
    if isinstance(value, date):
        return {"$date": value.isoformat()}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        name = type(value).__name__
        if _classes().get(name) is not type(value):
            _scan()
            if _classes().get(name) is not type(value):
                raise RecordFormatError(f"{name} is not a core type a snapshot can hold")
        return {
            "$dc": name,
            "f": {f.name: encode(getattr(value, f.name)) for f in dataclasses.fields(value)},
        }
    if isinstance(value, tuple):
        return {"$tuple": [encode(v) for v in value]}
    if isinstance(value, frozenset | set):
        items = [encode(v) for v in value]
        return {"$fset": sorted(items, key=lambda v: json.dumps(v, sort_keys=True))}
    if isinstance(value, list):
        return [encode(v) for v in value]
    if isinstance(value, Mapping):
        if any(not isinstance(k, str) or k.startswith("$") for k in value):
            return {"$map": [[encode(k), encode(v)] for k, v in value.items()]}
        return {k: encode(v) for k, v in value.items()}
    raise RecordFormatError(f"a {type(value).__name__} cannot be kept in a policy snapshot")


def decode(data: Any) -> Any:
    """The inverse of `encode`. Raises `ValueError` on anything `encode` cannot have written."""
    if isinstance(data, list):
        return [decode(v) for v in data]
    if not isinstance(data, dict):
        return data
    tag = next(iter(data), "") if data else ""
    if not tag.startswith("$"):
        return {k: decode(v) for k, v in data.items()}
    payload = data[tag]
    if tag == "$enum":
        return _class(payload)(data["v"])
    if tag == "$float":
        return float(payload)
    if tag == "$dt":
        return datetime.fromisoformat(payload)
    if tag == "$date":
        return date.fromisoformat(payload)
    if tag == "$tuple":
        return tuple(decode(v) for v in payload)
    if tag == "$fset":
        return frozenset(decode(v) for v in payload)
    if tag == "$map":
        return {decode(k): decode(v) for k, v in payload}
    if tag == "$dc":
        return _class(payload)(**{k: decode(v) for k, v in data["f"].items()})
    raise ValueError(f"unknown snapshot tag {tag!r}")


def _class(name: str) -> Any:
    found = _classes().get(name)
    if found is None:
        _scan()
        found = _classes().get(name)
    if found is None:
        raise ValueError(f"snapshot names a type {name!r} this exportgate does not know")
    return found


def to_bytes(value: Any) -> bytes:
    """Canonical bytes of an encoded snapshot: sorted keys, no whitespace, UTF-8."""
    return json.dumps(
        encode(value), sort_keys=True, separators=(",", ":"), ensure_ascii=False
    ).encode("utf-8")
