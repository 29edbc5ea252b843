"""The decision log's fsync stalls inside a webhook hosting the policy service (embedded).

The sidecar shape's stall is a frozen sidecar process (test_sidecar_unavailable.py); embedded,
freezing the process would freeze the webhook too, so the stall is where a slow or hung disk
puts it: the log's fsync thread, frozen for real with ptrace (tests/faults/freeze.py) while the
event loop runs on. The records of the stalled decisions reach the file; their fsync never
returns while the stall lasts.

The promise: a review whose decision is not durable within the review budget is denied (fail
closed, saying the policy service did not answer) inside the budget; reviews that need no
decision are answered at once meanwhile; no allow is sent for a decision that was not durable;
while the fsync does not return, /readyz fails (the pod leaves rotation) and recovers once it
does; the stalled decisions are then marked ``not-delivered`` in the log, decisions are made
again, and the chain verifies.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable

import pytest

from bench.harness import SidecarOptions, Stack, WebhookOptions
from exportgate.service.health import DEFAULT_STALL_AFTER_S
from tests.commands import audit_verify
from tests.faults.client import GUARDED, UNGUARDED, Answer, review_bodies, send
from tests.faults.conftest import Record, decision_records, log_records
from tests.faults.freeze import frozen_threads, reap_exited, thread_ids
from tests.faults.shapes import SHAPES, embedded

BUDGET_S = 0.5
#: What an answer may take beyond the budget: the webhook's safety margin (0.25 s), TLS and a
#: busy shared CI machine (as in test_sidecar_unavailable.py).
SLACK_S = 0.75
COUNT = 16
STALL_AFTER_S = DEFAULT_STALL_AFTER_S


def test_stalled_fsync_fails_only_that_review_closed(
    make_stack: Callable[..., Stack], fault_summary: Record
) -> None:
    stack = make_stack(shape="embedded", webhook=WebhookOptions(budget_s=BUDGET_S))
    assert stack.webhook is not None
    pid = stack.webhook.pid
    idle = thread_ids(pid)
    # The log starts its fsync thread with the first decision: the thread that appears then.
    first = send(stack, review_bodies(GUARDED[:1], 1))[0]
    assert first.allowed and first.decision_id, first
    fsync_threads = thread_ids(pid) - idle
    assert fsync_threads, "no thread started for the first decision's fsync"

    with frozen_threads(fsync_threads):
        guarded, unguarded = _both_at_once(stack)
        # A fsync that does not return takes the pod out of rotation (it fails no write).
        out_of_rotation = _readyz_becomes(stack, False, within=STALL_AFTER_S + 6)
    back_in_rotation = _readyz_becomes(stack, True, within=10)
    after = send(stack, review_bodies(GUARDED[:1], 1, start=10_000))[0]
    stack.stop()

    records = log_records(stack.decision_log)
    decided = decision_records(stack.decision_log)
    marked = {i for r in records if r.get("type") == "not-delivered" for i in r["decisionIds"]}
    stalled = {r["id"] for r in decided.values() if r.get("requestUid") in {a.uid for a in guarded}}
    verified = audit_verify(stack.decision_log)
    fault_summary(
        cases=1,
        requests=len(guarded) + len(unguarded),
        failures=sum(a.allowed for a in guarded),
        detail=f"{len(fsync_threads)} thread(s) frozen: {len(guarded)} guarded reviews denied in "
        f"at most {max(a.seconds for a in guarded) * 1000:.0f} ms "
        f"(budget {BUDGET_S * 1000:.0f} ms); "
        f"unguarded in at most {max(a.seconds for a in unguarded) * 1000:.0f} ms; "
        f"{len(stalled & marked)} stalled decisions marked not delivered",
    )
    assert out_of_rotation, "/readyz stayed 200 while the log's fsync was stalled"
    assert back_in_rotation, "/readyz did not recover once the fsync returned"
    for a in guarded:
        assert a.error is None and a.status == 200, (a.error, a.status)
        assert not a.allowed and a.decision_id is None, a.response
        assert "policy service unavailable" in a.message, a.message
        assert "did not answer within" in a.message or "time budget" in a.message, a.message
        assert a.seconds <= BUDGET_S + SLACK_S, f"answered after {a.seconds:.2f}s"
    for a in unguarded:
        assert a.error is None and a.allowed, (a.error, a.response)
        assert a.seconds <= SLACK_S, f"an unguarded review waited {a.seconds:.2f}s"
    # The stalled decisions reached the file but were never answered: the log says so.
    assert stalled, "no record of the stalled decisions reached the file: nothing was stalled"
    assert stalled <= marked, sorted(stalled - marked)[:3]
    assert after.allowed and after.decision_id in decided, after
    assert verified.returncode == 0, verified.stdout + verified.stderr


def _readyz_becomes(stack: Stack, ready: bool, *, within: float) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if stack.readyz() is ready:
            return True
        time.sleep(0.2)
    return False


def _both_at_once(stack: Stack) -> tuple[list[Answer], list[Answer]]:
    """Guarded reviews (stalled on the log) and unguarded ones (no decision) side by side."""
    unguarded: list[Answer] = []

    def plain() -> None:
        time.sleep(0.1)  # while the guarded ones wait on the stalled log
        unguarded.extend(send(stack, review_bodies(UNGUARDED, COUNT), concurrency=4))

    thread = threading.Thread(target=plain)
    thread.start()
    guarded = send(stack, review_bodies(GUARDED, COUNT, start=1_000), concurrency=COUNT)
    thread.join(30)
    return guarded, unguarded


#: What the test gives the webhook to close its log once the fsync hangs (the default is 10 s).
CLOSE_TIMEOUT_S = 2.0


@pytest.mark.parametrize("shape", SHAPES)
def test_sigterm_while_the_fsync_hangs_exits_within_the_close_timeout(
    make_stack: Callable[..., Stack], fault_summary: Record, shape: str
) -> None:
    """A pod on a hung disk is told to stop (a rollout, an eviction): the program holding the
    log (the webhook embedded, the sidecar otherwise) does not hang in Terminating until the
    kubelet kills it, but exits once `--log-close-timeout` has passed, with status 1 and a log
    line saying why."""
    close = ("--log-close-timeout", str(CLOSE_TIMEOUT_S))
    stack = make_stack(
        shape=shape,
        webhook=WebhookOptions(budget_s=BUDGET_S, extra=close if embedded(shape) else ()),
        sidecar=SidecarOptions(extra=() if embedded(shape) else close),
    )
    holder = stack.webhook if embedded(shape) else stack.sidecar
    assert holder is not None
    idle = thread_ids(holder.pid)
    assert send(stack, review_bodies(GUARDED[:1], 1))[0].allowed
    fsync_threads = thread_ids(holder.pid) - idle
    assert fsync_threads, "no thread started for the first decision's fsync"

    with frozen_threads(fsync_threads):
        # A decision whose record is written but whose fsync never returns: refused in budget.
        stalled = send(stack, review_bodies(GUARDED[:1], 1, start=3_000))[0]
        termed = time.monotonic()
        holder.signal(signal.SIGTERM)
        exit_code = None
        while exit_code is None and time.monotonic() - termed < CLOSE_TIMEOUT_S + 20:
            reap_exited(fsync_threads)  # the frozen thread's exit is the tracer's to collect
            exit_code = holder.popen.poll()
            time.sleep(0.1)
        exited_after = time.monotonic() - termed
    log = holder.log_path.read_text(errors="replace")
    fault_summary(
        cases=1,
        requests=2,
        failures=int(stalled.allowed),
        detail=f"{shape}: SIGTERM with the log's fsync thread frozen: exit {exit_code} "
        f"{exited_after:.1f} s after the signal (close timeout {CLOSE_TIMEOUT_S:g} s)",
    )
    assert not stalled.allowed and "unavailable" in stalled.message, stalled
    assert exit_code == 1, log[-3000:]
    # The drain (5 s at most, nothing in flight here) plus the close timeout, with slack.
    assert exited_after <= CLOSE_TIMEOUT_S + 5 + SLACK_S + 3, exited_after
    assert "shutdown stalled" in log and str(stack.decision_log) in log, log[-3000:]
