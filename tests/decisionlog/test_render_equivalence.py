"""The record path's fast forms give the bytes and verdicts of the slow forms they replaced.

* the writer's lines are the standard library's canonical JSON of the record (what any
  verifier recomputes), and the very bytes the structlog ``BoundLogger`` chain rendered before
  the chain was run directly, for records with unicode, integers past 64 bits (orjson's
  fallback to the standard library), nested extras and a nested ``hash`` key;
* the value check accepts and refuses exactly what its recursive form did.
"""

from __future__ import annotations

import json
import tempfile
from collections import OrderedDict
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any

import pytest
import structlog
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from exportgate.core.types import Action
from exportgate.decisionlog import DecisionLog, RecordFormatError
from exportgate.decisionlog.canonical import _valid as fast_valid
from exportgate.decisionlog.canonical import canonical_json, check_values, record_hash
from exportgate.decisionlog.render import ChainLinker, check_event
from tests.decisionlog.builders import make_decision
from tests.decisionlog.conftest import SteppingClock

CHAIN_FIELDS = ("v", "chain", "seq", "prev", "hash", "type")

# Text with every kind of character a record meets: ASCII, Latin, CJK, emoji, the JSON
# escapes, and the separators JavaScript treats as line ends; no lone surrogates (the log
# refuses those, tested below).
TEXT = st.text(
    alphabet=st.characters(blacklist_categories=["Cs"]) | st.sampled_from('"\\/\n\t\u2028\u2029'),
    max_size=12,
)
INTS = st.integers() | st.sampled_from([2**63 - 1, -(2**63), 2**64, -(2**64) - 1, 10**30])
LEAVES = st.none() | st.booleans() | INTS | TEXT
JSONISH = st.recursive(
    LEAVES,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(TEXT | st.sampled_from(["hash", "id", "seq"]), inner, max_size=4)
    ),
    max_leaves=20,
)


class _Lines:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def msg(self, line: str) -> None:
        self.lines.append(line)


def _structlog_line(record: dict[str, Any]) -> str:
    """The line the writer's chain rendered through ``structlog.BoundLogger`` before."""
    linker = ChainLinker()
    linker.start(record["chain"], record["seq"], record["prev"])
    sink = _Lines()
    logger = structlog.BoundLogger(
        sink, [check_event, structlog.processors.EventRenamer("type"), linker], {}
    )
    fields = {k: v for k, v in record.items() if k not in CHAIN_FIELDS}
    logger.msg(record["type"], **fields)
    return sink.lines[0]


@settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(extra=st.dictionaries(TEXT, JSONISH, max_size=5), user=st.none() | TEXT)
def test_written_lines_are_the_slow_paths_bytes(extra: dict[str, Any], user: str | None) -> None:
    extra.pop("policyVersion", None)  # lifted to the top level, where it must be a string
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "d.jsonl"
        with DecisionLog(path, fsync=False, clock=SteppingClock(), component="c/ü") as log:
            returned = log.record(make_decision(name="naïve-名前"), user=user, extra=extra)
            log.record_raw({"type": "note", "extra": extra, "text": user})
        lines = path.read_bytes().splitlines()
    for line in lines:
        record = json.loads(line)
        assert record_hash(record) == record["hash"]  # what the verifier computes
        assert canonical_json(record).encode("utf-8") == line  # the standard library's bytes
        assert _structlog_line(record).encode("utf-8") == line  # the former chain's bytes
    assert canonical_json(returned).encode("utf-8") == lines[0]


def test_lone_surrogates_are_refused_as_before(tmp_path: Path) -> None:
    with DecisionLog(tmp_path / "d.jsonl", fsync=False) as log:
        with pytest.raises(RecordFormatError, match="not valid Unicode"):
            log.record(make_decision(), extra={"bad": "x\udcff"})
        with pytest.raises(RecordFormatError, match="not valid Unicode"):
            log.record_raw({"type": "note", "bad": ["\ud800"]})
        log.record(make_decision())  # and the chain goes on without a gap
    assert [r["seq"] for r in _records(tmp_path / "d.jsonl")] == [1]


def _records(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_bytes().splitlines()]


# --- the value check ---------------------------------------------------------------------


def _reference_valid(value: object) -> bool:
    """The recursive check as it was before leaves were tested inline: the oracle."""
    if type(value) in {str, int, bool, type(None)}:
        return True
    if isinstance(value, dict):
        return all(isinstance(k, str) and _reference_valid(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return all(_reference_valid(item) for item in value)
    if isinstance(value, float):
        return False
    if isinstance(value, str | bool | int):
        return True
    if isinstance(value, Mapping):
        return all(isinstance(k, str) and _reference_valid(v) for k, v in value.items())
    return False


class _Str(str):
    pass


class _Dict(dict):  # type: ignore[type-arg]
    pass


class _List(list):  # type: ignore[type-arg]
    pass


ODD_LEAVES = (
    LEAVES
    | st.floats(allow_nan=True)
    | st.just(Action.DENY)
    | st.builds(_Str, TEXT)
    | st.just(b"x")
    | st.just(object())
    | st.just(frozenset())
)
ODD = st.recursive(
    ODD_LEAVES,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.lists(inner, max_size=3).map(tuple)
        | st.lists(inner, max_size=3).map(_List)
        | st.dictionaries(TEXT | st.integers(0, 3) | st.builds(_Str, TEXT), inner, max_size=3)
        | st.dictionaries(TEXT, inner, max_size=3).map(_Dict)
        | st.dictionaries(TEXT, inner, max_size=3).map(OrderedDict)
        | st.dictionaries(TEXT, inner, max_size=3).map(MappingProxyType)
    ),
    max_leaves=15,
)


@settings(max_examples=1000, deadline=None)
@given(value=ODD)
def test_the_value_check_gives_the_recursive_checks_verdicts(value: object) -> None:
    expected = _reference_valid(value)
    assert fast_valid(value) is expected
    if expected:
        check_values(value)
    else:
        with pytest.raises(RecordFormatError):
            check_values(value)
