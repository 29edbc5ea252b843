"""The demo, end to end, exactly as `make demo` runs it (`python -m scripts.demo`).

It starts a real API server, sidecar, webhook (and operator when installed), so it is a
cluster test. The demo scores its own expected outcomes and exits non-zero when one did not
happen; these tests hold it to that, and check that it leaves no process behind, both when it
finishes and when it is interrupted half-way.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DEMO_TIMEOUT_S = 240


def _demo(workdir: Path) -> subprocess.Popen[str]:
    env = dict(os.environ, NO_COLOR="1")
    return subprocess.Popen(
        [sys.executable, "-m", "scripts.demo", "--workdir", str(workdir)],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _processes_mentioning(text: str) -> list[str]:
    """Command lines of live processes that name `text` (every component gets the workdir)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if text in cmdline:
            found.append(f"{entry.name}: {cmdline.strip()}")
    return found


@pytest.mark.cluster
def test_demo_shows_every_outcome_and_cleans_up(
    kube_binaries: dict[str, Path], tmp_path: Path
) -> None:
    workdir = tmp_path / "demo"
    proc = _demo(workdir)
    try:
        out, _ = proc.communicate(timeout=DEMO_TIMEOUT_S)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, out
    for expected in (
        'denied the request: exportgate denied Pod "nimbus-ml/train-h100"',
        "pod/infer-t4 created",
        "[ok] T4 Pod carries exportgate.dev/decision-id",
        'exportgate denied NodePool "nimbus-gpu"',
        'exportgate denied ModelEndpoint "nimbus-ml/assistant"',
        "[ok] Tenant vega status shows Expired",
        "[ok] running Pod of vega annotated exportgate.dev/violation",
        "[ok] acme's run crossed demo-report-1e20",
        "ComputeThreshold   job/pretrain",
        "[ok] exportgate report compute lists acme's run",
        "[ok] decision log verifies (exit 0)",
        "none left running",
    ):
        assert expected in out, f"{expected!r} missing from the demo output:\n{out}"
    assert "[UNEXPECTED]" not in out
    assert "[skipped]" not in out  # the operator is part of the product: its steps must run
    assert _processes_mentioning(str(workdir)) == []


@pytest.mark.cluster
def test_interrupted_demo_tears_everything_down(
    kube_binaries: dict[str, Path], tmp_path: Path
) -> None:
    workdir = tmp_path / "demo"
    proc = _demo(workdir)
    assert proc.stdout is not None
    seen: list[str] = []
    try:
        # Interrupt once every component is up and the webhook enforces.
        deadline = time.monotonic() + DEMO_TIMEOUT_S
        for line in proc.stdout:
            seen.append(line)
            if "webhook enforcing" in line or time.monotonic() > deadline:
                break
        assert _processes_mentioning(str(workdir)), "nothing was running before the interrupt"
        proc.send_signal(signal.SIGINT)
        rest, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    out = "".join(seen) + rest
    assert proc.returncode == 130, out
    assert "interrupted" in out
    assert "none left running" in out
    assert _processes_mentioning(str(workdir)) == []
