"""kill -9 of the sidecar and of the webhook under load, with the service in a sidecar or
embedded in the webhook (tests/faults/shapes.py).

The promise: no allow is ever sent without a durable decision record. The load generator keeps
every response; after the kills (and restarts) every allowed response's decision id must name
a decision record in the log, and the chain must verify. A SIGKILL can tear the record being
written; that record was never answered, the restarted sidecar writes a recovery record for
it, and `exportgate audit verify --allow-recovered` accepts exactly that. A torn last line with
no restart after it is detected and reported (the last test).
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.harness import Stack, wait_until
from tests.commands import audit_verify
from tests.faults.conftest import Record, decision_records, env_int, guarded_load


def _responses(path: Path) -> list[dict[str, Any]]:
    text = path.read_text() if path.exists() else ""
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def _check_every_allow_logged(stack: Stack) -> tuple[int, int, list[dict[str, Any]]]:
    responses = _responses(stack.workdir / "responses.jsonl")
    records = decision_records(stack.decision_log)
    allowed = [r for r in responses if r["allowed"]]
    unlogged = [r for r in allowed if not r["decision_id"] or r["decision_id"] not in records]
    return len(responses), len(allowed), unlogged


def _kill_under_load(
    stack: Stack, victim: str, rounds: int, load_s: float
) -> tuple[int, int, list[dict[str, Any]]]:
    out = stack.workdir / "responses.jsonl"
    load = guarded_load(stack, load_s, out, concurrency=16)
    interval = load_s / (rounds + 1)
    for _ in range(rounds):
        time.sleep(interval * 0.6)
        proc = stack.sidecar if victim == "sidecar" else stack.webhook
        assert proc is not None and proc.alive()
        proc.signal(signal.SIGKILL)
        proc.popen.wait(10)
        time.sleep(0.1)
        if victim == "sidecar":
            stack.start_sidecar()
        else:
            stack.start_webhook(wait_ready=False)
    load.join(load_s + 120)
    stack.stop()  # graceful: the log is closed cleanly after the last kill
    return _check_every_allow_logged(stack)


def _verify(stack: Stack) -> str:
    done = audit_verify(stack.decision_log, allow_recovered=True)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def _kill_rounds(
    stack: Stack, process: str, fault_summary: Record, *, allow_recovered: bool
) -> subprocess.CompletedProcess[str]:
    """kill -9 `process` a few times under load; every allow must have a logged decision.
    Returns `exportgate audit verify` over the log."""
    rounds = env_int("EXPORTGATE_KILL_ROUNDS", 3)
    sent, allowed, unlogged = _kill_under_load(stack, process, rounds, load_s=2.0 * rounds)
    verified = audit_verify(stack.decision_log, allow_recovered=allow_recovered)
    fault_summary(
        outcome="passed" if not unlogged and verified.returncode == 0 else "failed",
        cases=rounds,
        requests=sent,
        failures=len(unlogged),
        detail=f"{rounds} x kill -9 of the {process}; {allowed} allows, all with a logged "
        f"decision; audit verify exit {verified.returncode}",
    )
    assert sent > 0 and allowed > 0
    assert not unlogged, f"{len(unlogged)} allows without a decision record: {unlogged[:3]}"
    return verified


def test_kill_sidecar_under_load(make_stack: Callable[..., Stack], fault_summary: Record) -> None:
    stack = make_stack()
    _kill_rounds(stack, "sidecar", fault_summary, allow_recovered=True)
    _verify(stack)


def test_kill_webhook_under_load(
    make_stack: Callable[..., Stack], fault_summary: Record, shape: str
) -> None:
    """With the service embedded, the webhook is the process that writes the log: killing it is
    killing the sidecar, and the same promise holds (a torn record is accounted for by the
    restarted process's recovery record)."""
    stack = make_stack(shape=shape)
    embedded = stack.embedded
    verified = _kill_rounds(stack, "webhook", fault_summary, allow_recovered=embedded)
    # With a sidecar, it was never killed, so the chain is intact without any recovery.
    assert verified.returncode == 0, verified.stdout + verified.stderr


def test_torn_last_line_is_reported(
    make_stack: Callable[..., Stack], fault_summary: Record
) -> None:
    """Cut the log in the middle of its last record, as a crash mid-write would."""
    stack = make_stack()
    load = guarded_load(stack, 1.0, stack.workdir / "responses.jsonl", concurrency=16)
    load.join(60)
    stack.stop()
    data = stack.decision_log.read_bytes()
    last_start = data.rstrip(b"\n").rfind(b"\n") + 1
    torn = stack.workdir / "torn.log"
    shutil.copyfile(stack.decision_log, torn)
    with torn.open("r+b") as f:
        f.truncate(last_start + (len(data) - last_start) // 2)
    intact = audit_verify(stack.decision_log)
    damaged = audit_verify(torn)
    fault_summary(
        outcome="passed" if damaged.returncode == 1 and "torn" in damaged.stdout else "failed",
        cases=1,
        requests=0,
        failures=int(damaged.returncode != 1),
        detail=f"audit verify: {damaged.stdout.strip().splitlines()[-1] if damaged.stdout else ''}",
    )
    assert intact.returncode == 0, intact.stdout
    assert damaged.returncode == 1, damaged.stdout + damaged.stderr
    assert "torn" in damaged.stdout, damaged.stdout
    line_no = data[:last_start].count(b"\n") + 1
    assert f"{torn}:{line_no}:" in damaged.stdout, damaged.stdout


def test_restart_after_torn_line_recovers(make_stack: Callable[..., Stack], shape: str) -> None:
    """A policy service (sidecar, or embedded webhook) started on a torn log records a recovery
    and the chain verifies again."""
    stack = make_stack(shape=shape)
    load = guarded_load(stack, 1.0, stack.workdir / "responses.jsonl", concurrency=16)
    load.join(60)
    stack.stop()
    data = stack.decision_log.read_bytes()
    last_start = data.rstrip(b"\n").rfind(b"\n") + 1
    with stack.decision_log.open("r+b") as f:
        f.truncate(last_start + (len(data) - last_start) // 2)
    stack.start()
    wait_until(stack.readyz, 30, "webhook ready after restart")
    stack.stop()
    strict = audit_verify(stack.decision_log)
    lenient = audit_verify(stack.decision_log, allow_recovered=True)
    assert strict.returncode == 1, strict.stdout
    assert lenient.returncode == 0, lenient.stdout + lenient.stderr
    assert "recovered" in lenient.stdout, lenient.stdout
