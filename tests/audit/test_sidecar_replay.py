"""Through the real sidecar (gRPC over a Unix socket, files as sources): every decision it logs
names its inputs and snapshots, and replays identically, even after its policy changed."""

from __future__ import annotations

import asyncio

import pytest
from exportgate_sidecar import SidecarServer

from exportgate.cli.main import main
from exportgate.core.types import Action
from exportgate.wire.client import PolicyClient
from tests.sidecar.builders import NOW, SidecarFiles, gpu_item, model_item, plain_item, policy_doc
from tests.sidecar.conftest import client, files, short_dir, sidecar

__all__ = ["client", "files", "short_dir", "sidecar"]  # the sidecar tests' fixtures


async def test_the_sidecars_decisions_replay_from_their_snapshots(
    files: SidecarFiles,
    sidecar: SidecarServer,
    client: PolicyClient,
    capsys: pytest.CaptureFixture[str],
) -> None:
    items = [gpu_item("acme"), gpu_item("berlin"), gpu_item("pending"), plain_item("acme"),
             model_item("pending", "claude-sonnet-4")]  # fmt: skip
    await client.evaluate(items, at=NOW)
    # The provider's policy changes from warn to deny; later decisions use the new version.
    files.write_policies(policy_doc("2.0.0", action="deny"))
    for _ in range(200):
        (answer,) = await client.evaluate([gpu_item("berlin", name="after")], at=NOW)
        if answer.decision.action is Action.DENY:
            break
        await asyncio.sleep(0.05)
    records = files.decision_records()
    versions = {r["policyVersion"] for r in records}
    assert len(versions) == 2
    for record in records:
        assert record["inputs"] is not None and record["snapshot"]["policy"], record
        code = main(["audit", "explain", record["id"], str(files.decision_log)])
        out = capsys.readouterr().out
        assert code == 0, out
        assert "IDENTICAL" in out
    first_berlin = next(r for r in records if r["tenant"] == "berlin")
    assert first_berlin["action"] == "warn"
