"""`DecisionRecorder.close` is bounded: a decision log whose fsync does not return (a hung disk)
does not keep the operator from exiting.

The hung disk is made for real, as tests/faults/test_stalled_log.py makes it: a child process
records a decision (which starts the log's fsync thread), then the test freezes that thread with
ptrace (tests/faults/freeze.py) while the child's event loop runs on, and the child closes its
recorder. No part of the log is faked.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from exportgate_operator.__main__ import main
from exportgate_operator.decisions import DecisionRecorder
from exportgate_operator.runner import LogCloseStalled

from tests.faults.freeze import await_exit_reaping, frozen_threads, thread_ids

CLOSE_TIMEOUT_S = 1.0
KEYS = ("after=", "closed=", "stalled=")  # the child's result lines (its log shares stdout)

CHILD = """
import asyncio, sys, time
from exportgate_operator.decisions import DecisionRecorder
from tests.decisionlog.builders import make_decision

path, timeout, mode = sys.argv[1], float(sys.argv[2]), sys.argv[3]

async def main() -> None:
    recorder = DecisionRecorder(path, close_timeout=timeout)
    await recorder.record([make_decision()])  # starts the log's fsync thread
    print("recorded", flush=True)
    sys.stdin.readline()  # the test freezes that thread meanwhile (no other thread starts)
    # Written, but waiting for an fsync round the frozen thread never runs.
    pending = asyncio.ensure_future(recorder.record([make_decision(name="after")]))
    await asyncio.sleep(0.2)
    assert not pending.done()
    started = time.monotonic()
    closed = await recorder.aclose() if mode == "aclose" else recorder.close()
    print(f"after={time.monotonic() - started:.2f}", flush=True)
    print(f"closed={closed}", flush=True)
    print(f"stalled={recorder.stalled}", flush=True)
    pending.cancel()

asyncio.run(main())
"""


@pytest.mark.parametrize("mode", ["close", "aclose"])
def test_close_gives_up_when_the_fsync_thread_is_frozen(tmp_path: Path, mode: str) -> None:
    log_path = tmp_path / "operator.jsonl"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(log_path), str(CLOSE_TIMEOUT_S), mode],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert child.stdin is not None and child.stdout is not None and child.stderr is not None
    try:
        idle = thread_ids(child.pid)
        assert child.stdout.readline().strip() == "recorded", child.stderr.read()
        fsync_threads = thread_ids(child.pid) - idle
        assert fsync_threads, "no fsync thread started for the first record"
        with frozen_threads(fsync_threads):
            child.stdin.write("go\n")
            child.stdin.flush()
            await_exit_reaping(
                child,
                fsync_threads,
                CLOSE_TIMEOUT_S + 20,
                "close() did not return: it waits for the frozen fsync unbounded",
            )
        out, err = child.communicate(timeout=10)
    finally:
        if child.poll() is None:
            child.kill()
    lines = dict(line.split("=", 1) for line in out.splitlines() if line.startswith(KEYS))
    assert lines["closed"] == "False", out + err
    assert CLOSE_TIMEOUT_S <= float(lines["after"]) < CLOSE_TIMEOUT_S + 2, out
    assert str(log_path) in lines["stalled"] and "may not be durable" in lines["stalled"]
    assert "decision log close stalled" in out + err, out + err
    # The first record was durable before the disk hung; it is in the file.
    assert log_path.read_text().count('"operation"') >= 1


def test_close_without_a_log_or_in_time_reports_closed(tmp_path: Path) -> None:
    assert DecisionRecorder(None).close() is True
    recorder = DecisionRecorder(str(tmp_path / "ok.jsonl"), close_timeout=CLOSE_TIMEOUT_S)
    assert recorder.close() is True and recorder.stalled is None
    assert recorder.close() is True  # a second close is a no-op


def test_the_program_exits_with_status_1_when_the_close_stalled(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """As the policy service does (exit_stalled): not a normal exit, which would join a
    thread stuck on the disk."""

    def stalled(config: object) -> None:
        raise LogCloseStalled("decision log /x: not closed within 1s")

    exits: list[int] = []

    def fake_exit(code: int) -> None:
        exits.append(code)
        raise SystemExit(code)

    monkeypatch.setattr("exportgate_operator.__main__.run", stalled)
    monkeypatch.setattr("exportgate_operator.__main__.os._exit", fake_exit)
    with pytest.raises(SystemExit):
        main(["--standalone"])
    assert exits == [1]
