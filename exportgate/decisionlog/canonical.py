"""The byte-level contract of a decision log line: canonical JSON and the hash chain.

Writer and verifier must agree on these bytes exactly, and so must any verifier written in
another language, so the rules are few and strict (see docs/decision-log.md):

* canonical JSON: keys sorted by code point, separators ``,`` and ``:`` with no whitespace,
  non-ASCII characters written as themselves (UTF-8), no NaN/Infinity;
* values are only strings, integers, booleans, null, arrays and objects — no floats, because
  float formatting differs between JSON libraries and a verifier must reproduce every byte;
* a record's ``hash`` is ``sha256:`` + hex SHA-256 of the canonical JSON of the record without
  its ``hash`` key; the line on disk is the canonical JSON of the whole record plus ``\\n``;
* the first record of a chain has ``prev`` = `GENESIS`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any, Final

import orjson

from exportgate.decisionlog.errors import RecordFormatError

FORMAT_VERSION: Final = 1
HASH_PREFIX: Final = "sha256:"
GENESIS: Final = HASH_PREFIX + "0" * 64
"""The `prev` of the first record of a chain: no record can hash to it."""

# One definition shared by the line renderer (`canonical_line`, the writer's) and the hasher
# (`record_hash`, the verifier's), so the two can never drift apart.
CANONICAL_DUMPS_KW: Final[Mapping[str, Any]] = {
    "sort_keys": True,
    "separators": (",", ":"),
    "ensure_ascii": False,
    "allow_nan": False,
}

# Keys every record carries, whatever its type; the writer owns them.
CHAIN_KEYS: Final = frozenset({"v", "type", "chain", "seq", "prev", "hash"})


def _refuse_unknown(value: object) -> Any:
    raise RecordFormatError(
        f"a {type(value).__name__} cannot be written to the decision log; "
        "convert it to a string, integer, boolean, list or mapping first"
    )


def canonical_json(record: Mapping[str, Any], **_ignored: Any) -> str:
    """Canonical JSON text of `record` (no trailing newline).

    Accepts and ignores extra keyword arguments so that it can also serve as the serializer of
    a structlog ``JSONRenderer`` without letting the renderer change the encoding.
    """
    return json.dumps(record, default=_refuse_unknown, **CANONICAL_DUMPS_KW)


def _checked_json(record: Mapping[str, Any]) -> str:
    """`canonical_json` of a record whose values `check_values` accepted (no floats), by orjson:
    for strings, integers within 64 bits, booleans, null, lists, tuples and dicts with string
    keys its compact, key-sorted, unescaped-UTF-8 output is byte for byte the stdlib's
    (tests/decisionlog/test_canonical.py compares them), several times faster. What orjson
    refuses (an integer past 64 bits, a lone surrogate, a mapping that is not a dict) goes to the
    stdlib, which writes or refuses it exactly as before."""
    try:
        return orjson.dumps(record, option=orjson.OPT_SORT_KEYS).decode("utf-8")
    except TypeError:  # orjson.JSONEncodeError
        return canonical_json(record)


def canonical_bytes(record: Mapping[str, Any]) -> bytes:
    try:
        return canonical_json(record).encode("utf-8")
    except UnicodeEncodeError as exc:  # a lone surrogate from a badly decoded input
        raise _not_unicode(exc) from exc


def record_hash(record: Mapping[str, Any]) -> str:
    """The hash of a record: over its canonical JSON without the ``hash`` key."""
    body = {key: value for key, value in record.items() if key != "hash"}
    return HASH_PREFIX + hashlib.sha256(canonical_bytes(body)).hexdigest()


def bytes_digest(data: bytes) -> str:
    """Digest of raw bytes, used to name damaged (torn) lines in recovery records."""
    return HASH_PREFIX + hashlib.sha256(data).hexdigest()


def canonical_line(record: Mapping[str, Any]) -> tuple[str, str]:
    """(hash, canonical JSON of `record` with that hash added) from one serialisation pass.

    `record` must not hold a ``hash`` key yet, and its values must have passed `check_values`
    (the writer's processor chain checks them first). The same bytes as hashing `record` and then
    dumping it again with its hash, for half the work: the writer does this for every decision.
    Canonical JSON sorts keys by code point, so the line is the keys before ``"hash"``, the
    hash, then the keys after it; the hashed text is the same two halves without the hash.
    """
    if "hash" in record:
        raise RecordFormatError("the record already has a hash; it is the writer's to set")
    before = _checked_json({k: v for k, v in record.items() if k < "hash"})[:-1]  # "{..."
    after = _checked_json({k: v for k, v in record.items() if k > "hash"})[1:]  # "...}"
    has_before, has_after = len(before) > 1, len(after) > 1
    body = before + ("," if has_before and has_after else "") + after
    try:
        digest = HASH_PREFIX + hashlib.sha256(body.encode("utf-8")).hexdigest()
    except UnicodeEncodeError as exc:
        raise _not_unicode(exc) from exc
    line = (
        before
        + ("," if has_before else "")
        + f'"hash":"{digest}"'
        + ("," if has_after else "")
        + after
    )
    return digest, line


def _not_unicode(exc: UnicodeEncodeError) -> RecordFormatError:
    return RecordFormatError(
        f"a string in the record is not valid Unicode ({exc.reason}); "
        "decode inputs as UTF-8 before logging them"
    )


# Exact types that need no further look; anything else (subclasses, other mappings, floats)
# goes through the general rules in `_valid_other`.
_PLAIN: Final = frozenset({str, int, bool, type(None)})


def check_values(value: object, where: str = "record") -> None:
    """Raise `RecordFormatError` unless `value` only holds types every verifier can reproduce.

    Runs on every record, so the walk builds no path strings (they cost more than the check
    itself); only when something is wrong is the value walked again to name where.
    """
    if not _valid(value):
        _explain(value, where)
        raise AssertionError("unreachable: _explain raises for an invalid value")


def _valid(value: object) -> bool:
    # Most values are plain leaves: they are tested where they are met, without a call each
    # (a call per value was most of the check's cost, and it runs on every record).
    kind = type(value)
    if kind is dict:
        for key, item in value.items():  # type: ignore[attr-defined]
            if type(key) is not str and not isinstance(key, str):
                return False
            if type(item) not in _PLAIN and not _valid(item):
                return False
        return True
    if kind is list or kind is tuple:
        for item in value:  # type: ignore[attr-defined]  # noqa: SIM110 (see below)
            if type(item) not in _PLAIN and not _valid(item):
                return False
        return True
    if kind in _PLAIN:
        return True
    if isinstance(value, dict):  # a subclass: a fast check, unlike the Mapping ABC
        for key, item in value.items():
            if not isinstance(key, str) or not _valid(item):
                return False
        return True
    if isinstance(value, list | tuple):
        for item in value:  # noqa: SIM110 (a plain loop: all() over a generator costs more)
            if not _valid(item):
                return False
        return True
    return _valid_other(value)


def _valid_other(value: object) -> bool:
    if isinstance(value, float):
        return False
    if isinstance(value, str | bool | int):
        return True
    if isinstance(value, Mapping):
        return all(isinstance(key, str) and _valid(item) for key, item in value.items())
    if isinstance(value, list | tuple):
        return all(_valid(item) for item in value)
    return False


def _explain(value: object, where: str) -> None:
    """Raise `RecordFormatError` naming the first bad value in `value` by its path."""
    if value is None or isinstance(value, str | bool | int):
        return
    if isinstance(value, float):
        raise RecordFormatError(
            f"{where} is a float ({value!r}); floats are not allowed in the decision log because "
            "their text form differs between JSON libraries and the hash must be reproducible; "
            "record an integer (e.g. microseconds) or a string instead"
        )
    if isinstance(value, Mapping):
        for key, item in value.items():
            if not isinstance(key, str):
                raise RecordFormatError(f"{where} has a non-string key {key!r}")
            _explain(item, f"{where}.{key}")
        return
    if isinstance(value, list | tuple):
        for index, item in enumerate(value):
            _explain(item, f"{where}[{index}]")
        return
    raise RecordFormatError(
        f"{where} is a {type(value).__name__}; the decision log holds only strings, integers, "
        "booleans, null, lists and mappings"
    )
