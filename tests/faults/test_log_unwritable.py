"""The decision log's disk fills up or turns read-only under a running policy service, in
either shape (sidecar, or embedded in the webhook: tests/faults/shapes.py).

The promise: no decision without its record. While the log cannot be written, every guarded
review is denied with the tenant-readable "policy service unavailable" message (the request was
not evaluated), /readyz says not ready (the pod leaves the Service's endpoints), unguarded
reviews are unaffected; when the disk is writable again the service notices by itself (its
health probe writes a ``writer-check`` record), becomes ready, and decides again. Every allow
ever sent names a decision record in the log, and the chain verifies.

The faults are real: the log lives on a small tmpfs mounted for the test, which is filled up, or
has an empty read-only file system mounted over the log's directory (tests/tmpfs.py). Needs
root to mount; skipped otherwise.
"""

from __future__ import annotations

import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from bench.harness import Stack, wait_until
from tests.commands import audit_verify
from tests.faults.client import GUARDED, UNGUARDED, Answer, review_bodies, send
from tests.faults.conftest import Record, decision_records, log_records
from tests.tmpfs import ReadOnlyOver, fill, tmpfs

DENIAL = "exportgate policy service unavailable: "
#: What the log's writer says (in the denial's detail) for each fault: its own words, or the
#: operating system's (a tenant snapshot stored next to the log fails with the OS's).
CAUSE = {"disk full": ("disk is full", "no space left"), "read-only": ("read-only",)}


def _readyz(stack: Stack) -> tuple[int, str]:
    url = f"http://127.0.0.1:{stack.probe_port}/readyz"
    try:
        with urllib.request.urlopen(url, timeout=2.0) as response:
            return int(response.status), response.read().decode()
    except urllib.error.HTTPError as exc:
        return int(exc.code), exc.read().decode()


def _ready(stack: Stack) -> bool:
    return _readyz(stack)[0] == 200


@pytest.mark.parametrize(
    ("shape", "fault"),
    [("embedded", "disk full"), ("embedded", "read-only"), ("sidecar", "disk full")],
)
def test_unwritable_log_fails_closed_and_recovers(
    make_stack: Callable[..., Stack],
    fault_summary: Record,
    tmp_path: Path,
    shape: str,
    fault: str,
) -> None:
    stack = make_stack(shape=shape, start=False)
    with tmpfs(tmp_path / "disk", "size=512k,mode=0755") as disk:
        stack.decision_log = disk / "log" / "decisions.log"
        stack.start()
        try:
            before = send(stack, review_bodies(GUARDED[:1], 1))[0]
            assert before.allowed and before.decision_id, before
            during, unguarded, not_ready = _while_unwritable(stack, disk, fault)
            wait_until(lambda: _ready(stack), 20, "/readyz after the log is writable again")
            after = send(stack, review_bodies(GUARDED[:1], 1, start=10_000))[0]
        finally:
            stack.stop()
        records = log_records(stack.decision_log)
        decided = decision_records(stack.decision_log)
        verified = audit_verify(stack.decision_log, allow_recovered=True)

    refused = [a for a in during if a.decision_id is None]
    unlogged = [a for a in [before, *during, after] if a.allowed and a.decision_id not in decided]
    fault_summary(
        cases=1,
        requests=len(during) + len(unguarded) + 2,
        failures=len(unlogged),
        detail=f"{fault}, {shape}: {len(refused)} of {len(during)} guarded reviews refused "
        f"while the log was unwritable; audit verify exit {verified.returncode}",
    )
    assert not unlogged, f"allowed without a decision record: {unlogged[:3]}"
    # The first reviews may still fit in the slack of the log file's last page; past that every
    # guarded review is refused, saying why, and none is allowed.
    assert refused, "the fault never reached the log: the test proves nothing"
    for a in refused:
        _assert_unavailable_denial(a, fault)
    assert all(a.allowed and a.error is None for a in unguarded), unguarded[:3]
    # Embedded the service says why itself; a sidecar's health says NOT_SERVING.
    assert "decision log is not writable" in not_ready, not_ready
    assert after.allowed and after.decision_id in decided, after
    # The service noticed by itself that it can write again, and said so in the log, before
    # it decided again.
    checks = [r["seq"] for r in records if r.get("type") == "writer-check"]
    assert checks, [r.get("type") for r in records]
    assert max(checks) < decided[after.decision_id]["seq"]
    assert verified.returncode == 0, verified.stdout + verified.stderr


def _while_unwritable(
    stack: Stack, disk: Path, fault: str
) -> tuple[list[Answer], list[Answer], str]:
    """Make the log unwritable, send reviews, wait for not-ready, then undo the fault."""
    read_only = ReadOnlyOver(stack.decision_log.parent)
    filler = None
    if fault == "disk full":
        filler = fill(disk)
    else:
        read_only.__enter__()
    try:
        # Each decision record is a few KiB: 40 reviews are more than a page of slack holds.
        during = send(stack, review_bodies(GUARDED, 40, start=1_000), concurrency=8)
        unguarded = send(stack, review_bodies(UNGUARDED, 8))
        wait_until(lambda: not _ready(stack), 10, "/readyz to say not ready", stack.webhook)
        detail = _readyz(stack)[1]
    finally:
        if filler is not None:
            filler.unlink()
        else:
            read_only.__exit__()
    return during, unguarded, detail


def _assert_unavailable_denial(answer: Answer, fault: str) -> None:
    response: dict[str, Any] = answer.response or {}
    assert answer.error is None and answer.status == 200, (answer.error, answer.status)
    assert response.get("allowed") is False, response
    assert answer.message.startswith(DENIAL), answer.message
    assert "decision log unwritable" in answer.message, answer.message
    assert any(cause in answer.message.lower() for cause in CAUSE[fault]), answer.message
    assert "the request was not evaluated" in answer.message, answer.message
    assert (response.get("status") or {}).get("code") == 503, response
