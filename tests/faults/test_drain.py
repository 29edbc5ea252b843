"""SIGTERM of the webhook with reviews in flight, with the service embedded (the test takes
either shape: tests/faults/shapes.py).

What Kubernetes does at every rollout and node drain. The promise: the reviews the webhook had
accepted are answered (and their decisions logged) before the process exits; the ones it no
longer accepts fail on the client's side, which the API server treats as a webhook failure
(fail closed). Afterwards no decision record is left without either the answer that delivered
it or a ``not-delivered`` record naming it, and the log closes cleanly: the chain verifies
without any recovery.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Callable

import pytest

from bench.harness import Stack
from tests.commands import audit_verify
from tests.faults.client import GUARDED, Answer, review_bodies, send
from tests.faults.conftest import Record, decision_records, log_records

#: Reviews answered before the signal; the other `CONCURRENCY - 1` are then in flight.
ANSWERED_BEFORE_TERM = 10
CONCURRENCY = 32


@pytest.mark.parametrize("shape", ["embedded"])  # SHAPES for both; the sidecar's is older
def test_sigterm_answers_the_reviews_in_flight(
    make_stack: Callable[..., Stack], fault_summary: Record, shape: str
) -> None:
    stack = make_stack(shape=shape)
    webhook = stack.webhook
    assert webhook is not None
    termed_at: list[float] = []
    finished_at: dict[str, float] = {}

    def on_answer(answer: Answer) -> None:
        finished_at[answer.uid] = time.monotonic()
        if not termed_at and len(finished_at) >= ANSWERED_BEFORE_TERM:
            termed_at.append(time.monotonic())
            webhook.signal(signal.SIGTERM)

    answers = send(
        stack, review_bodies(GUARDED, 200), concurrency=CONCURRENCY, timeout=10, on_answer=on_answer
    )
    exit_code = webhook.popen.wait(30)
    exited_after = time.monotonic() - termed_at[0] if termed_at else 0.0
    stack.stop()  # the sidecar, if any: its log closes cleanly too

    records = log_records(stack.decision_log)
    decided = decision_records(stack.decision_log)
    marked = {i for r in records if r.get("type") == "not-delivered" for i in r["decisionIds"]}
    delivered = {a.decision_id for a in answers if a.decision_id}
    by_uid = {r.get("requestUid"): r for r in decided.values()}
    ok = [a for a in answers if a.status == 200]
    after_term = [a for a in ok if termed_at and finished_at[a.uid] > termed_at[0]]
    refused = [a for a in answers if a.error is not None]
    orphans = sorted(set(decided) - delivered - marked)
    verified = audit_verify(stack.decision_log)
    fault_summary(
        cases=1,
        requests=len(answers),
        failures=len(orphans),
        detail=f"{shape}: SIGTERM after {ANSWERED_BEFORE_TERM} answers with {CONCURRENCY} in "
        f"flight; {len(after_term)} answered after it, {len(refused)} refused at the door; "
        f"exit {exit_code} {exited_after:.1f} s after the signal",
    )
    assert exit_code == 0, webhook.log_tail()
    assert termed_at, "the webhook was never signalled"
    # Those in flight at the signal were answered with a decision, not dropped or failed.
    assert len(after_term) >= CONCURRENCY // 4, (len(after_term), refused[:3])
    for a in ok:
        assert a.decision_id in decided, a
    # A review the webhook no longer accepted was never decided.
    for a in refused:
        assert a.status is None, a
        record = by_uid.get(a.uid)
        assert record is None or record["id"] in marked, (a, record)
    assert not orphans, f"decisions logged but neither answered nor marked: {orphans[:3]}"
    assert verified.returncode == 0, verified.stdout + verified.stderr
