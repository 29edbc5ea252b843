"""`exportgate-sidecar` as a process: its help, its startup errors, its JSON logs, its metrics
endpoint, and a clean stop on SIGTERM that lets in-flight calls finish.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import pytest
from exportgate_sidecar.__main__ import build_parser

from exportgate.wire.client import PolicyClient
from tests.commands import audit_verify
from tests.sidecar.builders import SidecarFiles, gpu_item, plain_item

SIDECAR = str(Path(sys.executable).with_name("exportgate-sidecar"))


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([SIDECAR, *args], capture_output=True, text=True, timeout=60, check=False)


def test_help_documents_every_flag() -> None:
    done = run_cli("--help")
    assert done.returncode == 0
    text = re.sub(r"\s+", " ", done.stdout)
    for action in build_parser()._actions:
        for flag in action.option_strings:
            assert flag in done.stdout, f"{flag} missing from --help"
        assert action.help, f"{action.option_strings} has no help text"
    assert "SIGTERM" in text and "docs/sidecar.md" in text


def test_a_missing_tenant_file_is_named_with_what_to_do(files: SidecarFiles) -> None:
    done = run_cli(
        "--tenants", str(files.tenants / "nope.yaml"), "--policies", str(files.policies),
        "--decision-log", str(files.decision_log), "--listen", f"unix://{files.socket}",
    )  # fmt: skip
    assert done.returncode == 2
    assert f"{files.tenants / 'nope.yaml'}: no such file or directory" in done.stderr
    assert "fix the path or create the file" in done.stderr
    assert not files.socket.exists()


def test_a_broken_policy_file_is_named_with_its_line_and_what_to_do(files: SidecarFiles) -> None:
    bad = files.policies / "policies.yaml"
    bad.write_text(
        "apiVersion: exportgate.dev/v1alpha1\nkind: ExportPolicy\nmetadata: {name: p}\n"
        "spec:\n  version: '1'\n  rules: []\n"
    )
    done = run_cli(
        "--tenants", str(files.tenants), "--policies", str(files.policies),
        "--decision-log", str(files.decision_log), "--listen", f"unix://{files.socket}",
    )  # fmt: skip
    assert done.returncode == 2
    assert f"{bad}:" in done.stderr
    assert "not a valid ExportPolicy file: fix it" in done.stderr


def test_a_listen_address_that_is_not_a_unix_socket_is_refused(files: SidecarFiles) -> None:
    done = run_cli(
        "--tenants", str(files.tenants), "--decision-log", str(files.decision_log),
        "--listen", "127.0.0.1:9000",
    )  # fmt: skip
    assert done.returncode == 2
    assert "--listen must be unix://PATH" in done.stderr


def test_kube_source_with_a_missing_or_broken_kubeconfig_says_so(
    files: SidecarFiles, tmp_path: Path
) -> None:
    common = ("--source", "kube", "--decision-log", str(files.decision_log),
              "--listen", f"unix://{files.socket}")  # fmt: skip
    done = run_cli(*common, "--kubeconfig", str(tmp_path / "nope"))
    assert done.returncode == 2
    assert f"{tmp_path / 'nope'}: no such kubeconfig file; fix --kubeconfig" in done.stderr

    broken = tmp_path / "kubeconfig"
    broken.write_text("clusters: [\n")
    done = run_cli(*common, "--kubeconfig", str(broken))
    assert done.returncode == 2
    assert f"cannot configure the Kubernetes client from {broken}" in done.stderr
    assert "give --kubeconfig FILE" in done.stderr
    assert not files.socket.exists()


@pytest.mark.parametrize(
    ("socket", "expected"),
    [
        ("/tmp/" + "x" * 120 + "/s.sock", "longer than the 107 a Unix socket allows"),
        ("{tmp}/a-file/s.sock", "Not a directory; choose a writable directory for --listen"),
    ],
    ids=["path-too-long", "parent-is-a-file"],
)
def test_an_unusable_socket_path_is_refused_with_the_reason(
    files: SidecarFiles, tmp_path: Path, socket: str, expected: str
) -> None:
    (tmp_path / "a-file").write_text("")
    done = run_cli(
        "--tenants", str(files.tenants), "--decision-log", str(files.decision_log),
        "--listen", "unix://" + socket.format(tmp=tmp_path),
    )  # fmt: skip
    assert done.returncode == 2
    assert expected in done.stderr


# --- a running process ------------------------------------------------------------------------


class Running:
    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.proc = proc
        self.events: list[dict[str, Any]] = []

    def wait_for_event(self, name: str, timeout: float = 30.0) -> dict[str, Any]:
        assert self.proc.stderr is not None
        deadline = time.monotonic() + timeout
        for event in self.events:
            if event.get("event") == name:
                return event
        while time.monotonic() < deadline:
            line = _read_json_line(self.proc.stderr)
            if line is None:
                break
            self.events.append(line)
            if line.get("event") == name:
                return line
        raise AssertionError(f"no {name!r} log event; got {self.events}")

    def rest_of_log(self) -> list[dict[str, Any]]:
        assert self.proc.stderr is not None
        while (event := _read_json_line(self.proc.stderr)) is not None:
            self.events.append(event)
        return self.events


def _read_json_line(stream: IO[str]) -> dict[str, Any] | None:
    line = stream.readline()
    if not line:
        return None
    # Every line the sidecar logs is one JSON object (structlog's JSON renderer).
    event: dict[str, Any] = json.loads(line)
    return event


@pytest.fixture
def running(files: SidecarFiles) -> Iterator[Running]:
    proc = subprocess.Popen(
        [
            SIDECAR,
            "--tenants", str(files.tenants), "--policies", str(files.policies),
            "--decision-log", str(files.decision_log), "--listen", f"unix://{files.socket}",
            "--metrics-port", "0", "--metrics-address", "127.0.0.1",
            "--cache-size", "0", "--shutdown-grace", "20",
        ],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )  # fmt: skip
    try:
        yield Running(proc)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=30)


def scrape(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        text: str = response.read().decode()
    return text


def metric(text: str, name: str) -> float:
    match = re.search(rf"^{re.escape(name)} (\S+)$", text, re.MULTILINE)
    assert match, f"{name} not in metrics"
    return float(match.group(1))


async def test_the_process_logs_json_serves_metrics_and_stops_cleanly_on_sigterm(
    running: Running, files: SidecarFiles
) -> None:
    listening = running.wait_for_event("listening")
    assert listening["level"] == "info" and listening["timestamp"].endswith("Z")
    port = int(listening["metrics_port"])
    async with PolicyClient(f"unix://{files.socket}", timeout=60) as client:
        await client.wait_serving(timeout=30)
        await client.evaluate_wire([gpu_item("acme"), gpu_item("pending"), plain_item("acme")])

        text = await asyncio.to_thread(scrape, port)
        assert metric(text, 'exportgate_sidecar_decisions_total{action="allow"}') == 2
        assert metric(text, 'exportgate_sidecar_decisions_total{action="deny"}') == 1
        assert metric(text, "exportgate_sidecar_tenants") == 3
        assert metric(text, "exportgate_sidecar_evaluate_seconds_count") == 1
        for name in ("cache_hits_total", "cache_misses_total", "decision_log_failures_total"):
            assert f"exportgate_sidecar_{name} " in text

        # Several big batches at once; SIGTERM as soon as the first is answered, while the
        # others are in flight. They must all be answered, and logged.
        def batch(n: int) -> list[Any]:
            return [gpu_item("acme", name=f"b{n}-{i}") for i in range(1000)]

        calls = [asyncio.create_task(client.evaluate_wire(batch(n))) for n in range(6)]
        _, pending = await asyncio.wait(calls, return_when=asyncio.FIRST_COMPLETED)
        running.proc.send_signal(signal.SIGTERM)
        assert pending, "every call finished before SIGTERM; the test proves nothing"
        results = await asyncio.gather(*calls)
    assert [len(r.decisions) for r in results] == [1000] * 6

    assert await asyncio.to_thread(running.proc.wait, 30) == 0
    events = [e["event"] for e in running.rest_of_log()]
    assert "stopping" in events and events[-1] == "stopped"
    assert not files.socket.exists()
    logged = {r["id"] for r in files.decision_records()}
    assert {d.decision_id for r in results for d in r.decisions} <= logged
    verified = audit_verify(files.decision_log)
    assert verified.returncode == 0, verified.stdout + verified.stderr
