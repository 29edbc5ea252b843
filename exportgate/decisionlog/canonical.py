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

from exportgate.decisionlog.errors import RecordFormatError

FORMAT_VERSION: Final = 1
HASH_PREFIX: Final = "sha256:"
GENESIS: Final = HASH_PREFIX + "0" * 64
"""The `prev` of the first record of a chain: no record can hash to it."""

# One definition shared by the structlog renderer (which writes lines) and the hasher (which
# both the writer and the verifier use), so the two can never drift apart.
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

    Accepts and ignores extra keyword arguments so that it can serve as the serializer of a
    structlog ``JSONRenderer`` without letting the renderer change the encoding.
    """
    return json.dumps(record, default=_refuse_unknown, **CANONICAL_DUMPS_KW)


def canonical_bytes(record: Mapping[str, Any]) -> bytes:
    try:
        return canonical_json(record).encode("utf-8")
    except UnicodeEncodeError as exc:  # a lone surrogate from a badly decoded input
        raise RecordFormatError(
            f"a string in the record is not valid Unicode ({exc.reason}); "
            "decode inputs as UTF-8 before logging them"
        ) from exc


def record_hash(record: Mapping[str, Any]) -> str:
    """The hash of a record: over its canonical JSON without the ``hash`` key."""
    body = {key: value for key, value in record.items() if key != "hash"}
    return HASH_PREFIX + hashlib.sha256(canonical_bytes(body)).hexdigest()


def bytes_digest(data: bytes) -> str:
    """Digest of raw bytes, used to name damaged (torn) lines in recovery records."""
    return HASH_PREFIX + hashlib.sha256(data).hexdigest()


def check_values(value: object, where: str = "record") -> None:
    """Raise `RecordFormatError` unless `value` only holds types every verifier can reproduce."""
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
            check_values(item, f"{where}.{key}")
        return
    if isinstance(value, list | tuple):
        for index, item in enumerate(value):
            check_values(item, f"{where}[{index}]")
        return
    raise RecordFormatError(
        f"{where} is a {type(value).__name__}; the decision log holds only strings, integers, "
        "booleans, null, lists and mappings"
    )
