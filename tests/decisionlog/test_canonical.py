from __future__ import annotations

import hashlib
import json
import re
from collections import OrderedDict
from types import MappingProxyType

import pytest

from exportgate.core.types import Action
from exportgate.decisionlog.canonical import (
    GENESIS,
    canonical_bytes,
    canonical_json,
    canonical_line,
    check_values,
    record_hash,
)
from exportgate.decisionlog.errors import RecordFormatError


def test_canonical_json_sorts_keys_without_whitespace_and_keeps_unicode() -> None:
    assert canonical_json({"b": 1, "a": {"z": None, "y": [True, "ü"]}}) == (
        '{"a":{"y":[true,"ü"],"z":null},"b":1}'
    )
    assert canonical_bytes({"k": "ü"}) == '{"k":"ü"}'.encode()


def test_hash_covers_everything_but_the_hash_key() -> None:
    record = {"seq": 1, "prev": GENESIS, "type": "decision"}
    expected = "sha256:" + hashlib.sha256(canonical_bytes(record)).hexdigest()
    assert record_hash(record) == expected
    assert record_hash({**record, "hash": "sha256:whatever"}) == expected
    assert record_hash({**record, "seq": 2}) != expected


def test_hash_is_reproducible_by_a_plain_json_library() -> None:
    # What an auditor's own verifier in any language does: drop "hash", dump canonically.
    record = {"msg": "Zoë ✓", "n": 3, "list": [1, {"b": 2, "a": 1}]}
    text = json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert record_hash(record) == "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def test_genesis_is_a_recognisable_all_zero_sha256() -> None:
    assert GENESIS == "sha256:" + "0" * 64


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ({"latency": 1.5}, "record.latency is a float"),
        ({"a": [1, {"b": b"x"}]}, "record.a[1].b is a bytes"),
        ({"a": {1: "x"}}, "non-string key"),
        ({"a": object()}, "is a object"),
    ],
)
def test_values_a_verifier_cannot_reproduce_are_refused(value: object, fragment: str) -> None:
    with pytest.raises(RecordFormatError, match=re.escape(fragment)):
        check_values(value)


def test_lone_surrogates_are_refused_with_a_hint() -> None:
    with pytest.raises(RecordFormatError, match="not valid Unicode"):
        canonical_bytes({"name": "bad\udcff"})


@pytest.mark.parametrize(
    "record",
    [
        {},
        {"seq": 1},  # only keys after "hash"
        {"chain": "c", "event": "e"},  # only keys before "hash"
        {"a": 1, "has": 2, "hasи": 3, "hash0": 4, "hasha": 5, "Z": 6, "ü": 7, "": 8},
        {"type": "decision", "msg": "Zoë ✓", "nested": {"hash": "inner", "list": [1, None]}},
        # The line is rendered by orjson, the hash checked here by the stdlib: every character
        # class, integers at and past 64 bits (the stdlib renders those past), tuples, subclasses.
        {"s": "".join(map(chr, range(0x250))) + "\u2028\u2029\ufeff😀\U0010ffff", "t": True},
        {"big": [2**63 - 1, -(2**63), 2**64 - 1, 2**64, -(2**63) - 1], "z": False},
        {"m": {"b": (1, "x")}, "o": OrderedDict(b=1, a=2), "e": Action.DENY},
    ],
)
def test_one_pass_line_is_the_same_bytes_as_hashing_then_dumping(record: dict[str, object]) -> None:
    digest, line = canonical_line(record)
    assert digest == record_hash(record)
    assert line == canonical_json({**record, "hash": digest})


def test_one_pass_line_refuses_a_record_that_has_a_hash_already() -> None:
    with pytest.raises(RecordFormatError, match="already has a hash"):
        canonical_line({"hash": "sha256:forged"})


def test_one_pass_line_refuses_lone_surrogates_with_a_hint() -> None:
    with pytest.raises(RecordFormatError, match="not valid Unicode"):
        canonical_line({"name": "bad\udcff"})


def test_value_check_accepts_subclasses_and_other_mappings_as_before() -> None:
    check_values({"a": OrderedDict(b=(1, "x")), "p": MappingProxyType({"k": [True, None]})})
    check_values({"action": Action.DENY})  # a str subclass
    with pytest.raises(RecordFormatError, match=re.escape("record.p.k[1] is a float")):
        check_values({"p": MappingProxyType({"k": [1, 2.0]})})
    with pytest.raises(RecordFormatError, match=re.escape("record.t[0] is a set")):
        check_values({"t": (set(),)})
