"""The policy sidecar stopped, hung or slow: guarded requests are denied inside the webhook's
budget with a message that says why; unguarded requests are unaffected.

Every fault is real: the sidecar process is terminated, frozen with SIGSTOP, or made slow by
freezing and thawing it on a duty cycle (it runs only a small share of the time).
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable

from bench.harness import Stack, WebhookOptions
from tests.faults.client import GUARDED, UNGUARDED, Answer, review_bodies, send
from tests.faults.conftest import Record, env_int

BUDGET_S = 0.5
#: What the answer may take beyond the budget: the webhook's own safety margin (0.25 s), TLS and
#: a busy shared CI machine.
SLACK_S = 0.75


def _send(stack: Stack, bodies: list[bytes], concurrency: int = 8) -> list[Answer]:
    return send(stack, bodies, concurrency=concurrency, timeout=BUDGET_S + 10)


#: The webhook's own safety net: when the gRPC deadline has not ended the call by the budget plus
#: its margin, the server answers with this (still a denial, still within the time limit).
SAFETY_NET = "did not finish within its time budget"


def _assert_denied_in_budget(answers: list[Answer], *needles: str) -> None:
    assert answers
    for a in answers:
        assert a.error is None, a.error
        assert a.status == 200, (a.status, a.response)
        assert not a.allowed, f"guarded request allowed while the sidecar is down: {a.response}"
        assert any(n in a.message for n in needles), a.message
        assert a.seconds <= BUDGET_S + SLACK_S, f"answered after {a.seconds:.2f}s"


def _assert_unguarded_fine(answers: list[Answer]) -> None:
    for a in answers:
        assert a.error is None and a.status == 200 and a.allowed, (a.error, a.response)
        assert a.seconds <= SLACK_S, f"unguarded request took {a.seconds:.2f}s"


def test_sidecar_stopped(make_stack: Callable[..., Stack], fault_summary: Record) -> None:
    stack = make_stack(webhook=WebhookOptions(budget_s=BUDGET_S))
    assert stack.sidecar is not None
    stack.sidecar.stop()
    count = env_int("EXPORTGATE_FAULT_REQUESTS", 40)
    guarded = _send(stack, review_bodies(GUARDED, count))
    unguarded = _send(stack, review_bodies(UNGUARDED, count))
    fault_summary(
        outcome="passed" if all(not a.allowed for a in guarded) else "failed",
        requests=2 * count,
        failures=sum(a.allowed for a in guarded) + sum(not a.allowed for a in unguarded),
        detail=f"guarded max {max(a.seconds for a in guarded) * 1000:.0f} ms, budget "
        f"{BUDGET_S * 1000:.0f} ms",
    )
    # A NodePool review fails earlier (on the tenancy label guard) only for tenants; the mix
    # sends it as a platform user, so every guarded object reaches the sidecar call.
    _assert_denied_in_budget(guarded, "policy sidecar")
    _assert_unguarded_fine(unguarded)


def test_sidecar_hung(make_stack: Callable[..., Stack], fault_summary: Record) -> None:
    stack = make_stack(webhook=WebhookOptions(budget_s=BUDGET_S))
    assert stack.sidecar is not None
    stack.sidecar.signal(signal.SIGSTOP)  # the socket accepts, nobody answers
    try:
        count = env_int("EXPORTGATE_FAULT_REQUESTS", 40)
        guarded = _send(stack, review_bodies(GUARDED, count), concurrency=16)
        unguarded = _send(stack, review_bodies(UNGUARDED, count))
    finally:
        stack.sidecar.signal(signal.SIGCONT)
    fault_summary(
        outcome="passed" if all(not a.allowed for a in guarded) else "failed",
        requests=2 * count,
        failures=sum(a.allowed for a in guarded) + sum(not a.allowed for a in unguarded),
        detail=f"guarded max {max(a.seconds for a in guarded) * 1000:.0f} ms, budget "
        f"{BUDGET_S * 1000:.0f} ms; {sum(SAFETY_NET in a.message for a in guarded)} of {count} "
        "denied by the server's safety net rather than the gRPC deadline",
    )
    _assert_denied_in_budget(guarded, "did not answer within", SAFETY_NET)
    _assert_unguarded_fine(unguarded)


class _DutyCycle:
    """Freeze the sidecar for `off_s`, let it run for `on_s`, until stopped."""

    def __init__(self, pid_signal: Callable[[signal.Signals], None], on_s: float, off_s: float):
        self._signal = pid_signal
        self._on_s = on_s
        self._off_s = off_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self._signal(signal.SIGSTOP)
            time.sleep(self._off_s)
            self._signal(signal.SIGCONT)
            time.sleep(self._on_s)

    def __enter__(self) -> _DutyCycle:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(5)
        self._signal(signal.SIGCONT)


def test_sidecar_slow(make_stack: Callable[..., Stack], fault_summary: Record) -> None:
    """A sidecar that runs 5% of the time: answers that arrive in time are real decisions, the
    rest are denials that say so; nothing is allowed without a logged decision."""
    stack = make_stack(webhook=WebhookOptions(budget_s=BUDGET_S))
    assert stack.sidecar is not None
    count = env_int("EXPORTGATE_FAULT_REQUESTS", 40)
    with _DutyCycle(stack.sidecar.signal, on_s=0.03, off_s=0.6):
        guarded = _send(stack, review_bodies(GUARDED, count), concurrency=8)
        unguarded = _send(stack, review_bodies(UNGUARDED, count))
    late = [a for a in guarded if not a.decision_id]
    bad = [a for a in guarded if a.allowed and not a.decision_id]
    fault_summary(
        outcome="passed" if not bad else "failed",
        requests=2 * count,
        failures=len(bad) + sum(not a.allowed for a in unguarded),
        detail=f"{len(late)} of {count} guarded reviews timed out and were denied",
    )
    assert not bad, bad[:3]
    for a in guarded:
        assert a.error is None and a.status == 200
        assert a.seconds <= BUDGET_S + SLACK_S, f"answered after {a.seconds:.2f}s"
        if not a.decision_id:
            assert not a.allowed and "policy sidecar" in a.message, a.message
    assert late, "the duty cycle never made the sidecar miss the budget: the test proves nothing"
    _assert_unguarded_fine(unguarded)
