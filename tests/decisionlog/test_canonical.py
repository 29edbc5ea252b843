from __future__ import annotations

import hashlib
import json
import re

import pytest

from exportgate.decisionlog.canonical import (
    GENESIS,
    canonical_bytes,
    canonical_json,
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
