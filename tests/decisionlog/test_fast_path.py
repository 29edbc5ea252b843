"""The verifier's fast path (hash the stored bytes, parse with orjson) gives the verdicts of
the slow path (re-encode with the standard library) on lines crafted to tell them apart."""

from __future__ import annotations

import json
from pathlib import Path

from exportgate.decisionlog import DecisionLog
from exportgate.decisionlog.lines import Line, judge
from tests.decisionlog.builders import make_decision


def _line(tmp_path: Path) -> bytes:
    with DecisionLog(tmp_path / "d.jsonl", fsync=False) as log:
        log.record(make_decision())
    return (tmp_path / "d.jsonl").read_bytes().rstrip(b"\n")


def _judge(content: bytes) -> str | None:
    return judge(Line(1, 0, content, True))[1]


def test_a_written_line_is_valid(tmp_path: Path) -> None:
    assert _judge(_line(tmp_path)) is None


def test_the_hash_member_moved_is_not_canonical(tmp_path: Path) -> None:
    content = _line(tmp_path)
    record = json.loads(content)
    member = f'"hash":"{record["hash"]}",'.encode()
    moved = content.replace(member, b"")[:-1] + b"," + member[:-1] + b"}"
    assert json.loads(moved) == record
    assert _judge(moved) == "not in canonical form (the line was re-encoded or has duplicate keys)"


def test_a_duplicate_key_is_not_canonical_and_an_edit_is_a_mismatch(tmp_path: Path) -> None:
    content = _line(tmp_path)
    duplicated = content[:-1] + b',"action":"deny"}'
    assert _judge(duplicated) is not None
    edited = content.replace(b'"action":"deny"', b'"action":"allow"')
    assert _judge(edited) == "hash mismatch (record edited)"
    spaced = content.replace(b'","', b'", "', 1)
    assert _judge(spaced) == "not in canonical form (the line was re-encoded or has duplicate keys)"


def test_a_nested_hash_key_before_the_member_is_still_found(tmp_path: Path) -> None:
    # "extra" sorts before "hash": its own "hash" key is the first `"hash":"` in the line.
    with DecisionLog(tmp_path / "d.jsonl", fsync=False) as log:
        log.record(make_decision(), extra={"hash": "sha256:" + "1" * 64})
    content = (tmp_path / "d.jsonl").read_bytes().rstrip(b"\n")
    nested = content.index(b'"hash":"sha256:111')
    assert content.index(b'"hash":"sha256:', nested + 1) > nested
    assert _judge(content) is None
    assert _judge(content.replace(b"1" * 64, b"2" * 64)) == "hash mismatch (record edited)"
