"""scripts/audit_demo.py: logs from two real sidecars; every decision in them replays
identically, and the one taken under the old house rule would differ under today's rule."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from scripts import audit_demo


def test_the_demo_logs_replay_identically(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(
        sys, "argv", ["audit_demo", "--workdir", str(tmp_path / "out"), "--rounds", "6"]
    )
    monkeypatch.setenv("EXPORTGATE_CLUSTER_NAME", "restored-after-the-test")
    monkeypatch.delenv("EXPORTGATE_CLUSTER_NAME")  # the script sets it per replica
    assert audit_demo.main() == 0
    out = capsys.readouterr().out
    assert "replayed 72 decisions from their snapshots: 72 identical" in out
    assert "IDENTICAL" in out and "it would come out differently" in out
    assert (tmp_path / "out" / "report.html").stat().st_size > 1_000_000
    assert "EXPORTGATE_CLUSTER_NAME" not in os.environ  # the script put it back as it was
