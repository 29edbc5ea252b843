"""`PolicyHost.start` failing partway leaves nothing running or open, and says why it failed.

One test per point where start can fail: the decision log cannot be opened (a directory, or a
file another writer holds), the kube source's credentials cannot be built (the log is open by
then), and the front door (the sidecar's socket) cannot open (health reporting has started).
The last test makes the cleanup itself stall on a hung disk, for real: a child process's log
fsync thread is frozen with ptrace (tests/faults/freeze.py), as in tests/faults.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest

from exportgate.decisionlog import DecisionLog, DecisionLogError
from exportgate.service.config import ConfigError, SourceConfig
from exportgate.service.host import PolicyHost
from tests.faults.freeze import await_exit_reaping, frozen_threads, thread_ids
from tests.sidecar.builders import SidecarFiles


class FrontDoorFails(PolicyHost):
    """A host whose front door cannot open (a program's listener: a socket in use)."""

    async def _open_front_door(self) -> None:
        raise OSError("front door: address already in use")


def _others() -> set[asyncio.Task[object]]:
    return {t for t in asyncio.all_tasks() if t is not asyncio.current_task()}


def _log_released(path: Path) -> bool:
    """Another writer can take the log: the failed host's descriptor and lock are gone."""
    try:
        DecisionLog(path, fsync=False).close()
    except DecisionLogError:
        return False
    return True


async def _assert_nothing_left(host: PolicyHost, before: set[asyncio.Task[object]]) -> None:
    await asyncio.sleep(0)
    assert host.journal is None
    assert not host._tasks
    assert _others() <= before, _others() - before


async def test_a_log_that_cannot_be_opened(files: SidecarFiles, tmp_path: Path) -> None:
    (tmp_path / "dir.jsonl").mkdir()
    before = _others()
    host = PolicyHost(files.config(decision_log=tmp_path / "dir.jsonl"))
    with pytest.raises(DecisionLogError, match="cannot open decision log"):
        await host.start()
    await _assert_nothing_left(host, before)


async def test_a_log_another_writer_holds(files: SidecarFiles) -> None:
    files.decision_log.parent.mkdir(parents=True, exist_ok=True)
    other = DecisionLog(files.decision_log, fsync=False)
    try:
        before = _others()
        host = PolicyHost(files.config())
        with pytest.raises(DecisionLogError, match="another writer"):
            await host.start()
        await _assert_nothing_left(host, before)
    finally:
        other.close()


async def test_kube_credentials_that_cannot_be_built(files: SidecarFiles, tmp_path: Path) -> None:
    """The log is open by then: it is closed again."""
    source = SourceConfig(kind="kube", kubeconfig=tmp_path / "missing-kubeconfig")
    before = _others()
    host = PolicyHost(files.config(source=source))
    with pytest.raises(ConfigError, match="no such kubeconfig"):
        await host.start()
    await _assert_nothing_left(host, before)
    assert _log_released(files.decision_log)


async def test_a_front_door_that_cannot_open(files: SidecarFiles) -> None:
    """Health reporting runs by then: it is stopped, the log closed, no source started."""
    before = _others()
    host = FrontDoorFails(files.config())
    with pytest.raises(OSError, match="address already in use"):
        await host.start()
    await _assert_nothing_left(host, before)
    assert host.health is not None and host.health._task is not None
    assert host.health._task.done()
    assert _log_released(files.decision_log)


CLOSE_TIMEOUT_S = 1.0

CHILD = """
import asyncio, dataclasses, os, sys
from exportgate.service.host import PolicyHost, ShutdownStalled
from exportgate.service.journal import LogEntry
from tests.decisionlog.builders import make_decision
from tests.sidecar.builders import write_sidecar_files
from pathlib import Path

class Host(PolicyHost):
    async def _open_front_door(self):
        await self.journal.write([LogEntry(make_decision())])  # starts the fsync thread
        print("recorded", flush=True)
        sys.stdin.readline()  # the test freezes that thread meanwhile
        raise OSError("front door: address already in use")

async def main():
    files = write_sidecar_files(Path(sys.argv[1]), socket=Path(sys.argv[1]) / "p.sock")
    host = Host(dataclasses.replace(files.config(), log_close_timeout=float(sys.argv[2])))
    try:
        await host.start()
    except ShutdownStalled as exc:
        print(f"stalled={exc}", flush=True)
        print(f"cause={type(exc.__cause__).__name__}", flush=True)
        os._exit(0)  # as exit_stalled does: a normal exit would join the thread on the disk

asyncio.run(main())
"""


def test_a_cleanup_that_stalls_on_a_hung_disk_names_the_start_failure(tmp_path: Path) -> None:
    """The front door fails, and closing the log then hangs: start raises `ShutdownStalled`
    (which the programs answer with `exit_stalled`) naming why start failed, not only that the
    log did not close."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(tmp_path), str(CLOSE_TIMEOUT_S)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert child.stdin is not None and child.stdout is not None
    try:
        idle = thread_ids(child.pid)
        for line in child.stdout:  # its log lines share stdout
            if line.strip() == "recorded":
                break
        else:
            pytest.fail("the child ended before recording")
        fsync_threads = thread_ids(child.pid) - idle
        assert fsync_threads, "no fsync thread started for the first record"
        with frozen_threads(fsync_threads):
            child.stdin.write("go\n")
            child.stdin.flush()
            await_exit_reaping(
                child,
                fsync_threads,
                CLOSE_TIMEOUT_S + 20,
                "start did not return: its cleanup waits for the hung log unbounded",
            )
        out, err = child.communicate(timeout=10)
    finally:
        if child.poll() is None:
            child.kill()
    lines = dict(
        line.split("=", 1) for line in out.splitlines() if line.startswith(("stalled=", "cause="))
    )
    assert "stalled" in lines, out + err
    assert "start failed (OSError: front door: address already in use)" in lines["stalled"]
    assert "not closed within 1s" in lines["stalled"]
    assert lines["cause"] == "OSError"
