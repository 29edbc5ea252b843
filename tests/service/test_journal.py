"""Every decision is in the decision log before it is answered; no log, no decision.

The failures are real: the log lives on a small tmpfs mounted for the test, which is filled up
(disk full) or remounted read-only. (Making a directory unwritable with chmod would not stop
root, which CI runs as; a read-only mount stops everyone.) Needs root to mount; skipped
otherwise. `exportgate audit verify` must accept the log the sidecar wrote.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from exportgate_sidecar import serve_in_background

from exportgate.wire.client import PolicyClient, PolicyUnavailable
from tests.commands import audit_verify
from tests.sidecar.builders import NOW, SidecarFiles, ask_one, gpu_item, plain_item
from tests.tmpfs import ReadOnlyOver, fill, tmpfs


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    with tmpfs(tmp_path / "disk", "size=512k,mode=0755") as disk:
        yield disk


async def test_the_log_the_sidecar_writes_verifies(
    client: PolicyClient, files: SidecarFiles
) -> None:
    answered = []
    for batch in range(5):
        response = await client.evaluate_wire(
            [gpu_item(t, name=f"w{batch}") for t in ("acme", "berlin", "pending", "nobody")],
            at=NOW,
        )
        answered += [d.decision_id for d in response.decisions]
    await asyncio.gather(
        *(client.evaluate_wire([plain_item("acme", name=f"c{i}")]) for i in range(20))
    )
    logged = {r["id"] for r in files.decision_records()}
    assert set(answered) <= logged
    # The log also says which policy version came into force when.
    snapshots = [r for r in files.log_records() if r["type"] == "policy-snapshot"]
    assert snapshots and snapshots[0]["policyVersion"] == response.policy_version

    done = audit_verify(files.decision_log)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("fault", ["disk full", "read-only"])
async def test_an_unwritable_log_means_unavailable_never_an_unlogged_decision(
    files: SidecarFiles, small_disk: Path, fault: str
) -> None:
    log_dir = small_disk / "log"
    config = files.config(decision_log=log_dir / "decisions.jsonl")
    async with (
        serve_in_background(config) as server,
        PolicyClient(server.unix_target, timeout=5) as client,
    ):
        before = await ask_one(client, gpu_item("acme", request_uid="before"), at=NOW)
        read_only = ReadOnlyOver(log_dir)
        if fault == "disk full":
            filler = fill(small_disk)
        else:
            read_only.__enter__()

        for uid in ("during-1", "during-2"):
            # Big enough not to fit in the slack of the log file's last page.
            batch = [gpu_item("acme", name=f"w{i}", request_uid=uid) for i in range(50)]
            with pytest.raises(PolicyUnavailable) as raised:
                await client.evaluate_wire(batch, at=NOW)
            assert raised.value.code is grpc.StatusCode.UNAVAILABLE
            assert raised.value.detail.startswith("decision log unwritable: ")
            reason = "disk is full" if fault == "disk full" else "read-only"
            assert reason in raised.value.detail
            assert "no decision was made for this request" in raised.value.detail
            assert raised.value.retryable
        # Out of rotation while it cannot log: probes and the webhook's readiness see it.
        assert await client.health() == "NOT_SERVING"
        assert server.metrics.log_failures._value.get() >= 2

        if fault == "disk full":
            filler.unlink()
        else:
            read_only.__exit__()
        await client.wait_serving(timeout=15)  # the health probe found the log writable again
        after = await ask_one(client, gpu_item("acme", request_uid="after"), at=NOW)

    everything = config_records(config.decision_log)
    records = [r for r in everything if r.get("type") == "decision"]
    by_uid = {r["requestUid"]: r for r in records}
    assert by_uid["before"]["id"] == before.decision_id
    assert by_uid["after"]["id"] == after.decision_id
    # A batch that failed half-way may have left its first records on disk (they were never
    # answered); the log then says so right after them with the writer's recovery record.
    # Either way the second failed call, refused outright, left nothing.
    assert "during-2" not in by_uid
    failed = [r["seq"] for r in records if r["requestUid"] == "during-1"]
    if failed:
        recovery = [r["seq"] for r in everything if r.get("type") == "recovery"]
        assert recovery and recovery[0] == max(failed) + 1, everything
    # A failed append may leave a torn line; the writer's recovery record accounts for it.
    done = audit_verify(config.decision_log, allow_recovered=True)
    assert done.returncode == 0, done.stdout + done.stderr


def config_records(path: Path) -> list[dict[str, Any]]:

    out = []
    for line in path.read_text().splitlines():
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            continue  # a torn line from the failed append
    return out


def test_an_unopenable_log_stops_startup_with_the_reason(
    files: SidecarFiles, tmp_path: Path
) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    done = subprocess.run(
        [
            sys.executable, "-m", "exportgate_sidecar",
            "--tenants", str(files.tenants), "--policies", str(files.policies),
            "--decision-log", str(blocker / "decisions.jsonl"),
            "--listen", f"unix://{files.socket}",
        ],
        capture_output=True, text=True, timeout=60, check=False,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(["sidecar", "."])},
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert str(blocker) in done.stderr


async def test_decisions_logged_after_the_caller_gave_up_are_marked_not_delivered(
    files: SidecarFiles,
) -> None:
    """The caller's deadline passes while its decisions are being made durable.

    A disk slow enough to fsync past a deadline cannot be had on demand, so the test stands in
    for it by holding the decision log's fsync lock (a private attribute of the writer) from
    another thread: the records are appended, and their fsync waits until the lock is released.
    """
    async with (
        serve_in_background(files.config()) as server,
        PolicyClient(server.unix_target, timeout=5) as client,
    ):
        assert server.journal is not None
        sync_lock = server.journal._log._sync_lock
        await asyncio.to_thread(sync_lock.acquire)
        try:
            with pytest.raises(PolicyUnavailable) as raised:
                await client.evaluate_wire([gpu_item("acme", request_uid="gave-up")], timeout=0.5)
            assert raised.value.code is grpc.StatusCode.DEADLINE_EXCEEDED
        finally:
            sync_lock.release()
        after = await ask_one(client, gpu_item("acme", request_uid="after"), at=NOW)

    records = files.log_records()
    decided = {r["requestUid"]: r["id"] for r in records if r["type"] == "decision"}
    assert "gave-up" in decided, "the record was appended before the caller gave up"
    marks = [r for r in records if r["type"] == "not-delivered"]
    assert [m["decisionIds"] for m in marks] == [[decided["gave-up"]]]
    assert "the caller received no decision" in marks[0]["reason"]
    assert decided["after"] == after.decision_id
    done = audit_verify(files.decision_log)
    assert done.returncode == 0, done.stdout + done.stderr
