"""Fixtures for the fault tests: the real sidecar and webhook as subprocesses (bench.harness),
and a summary of the figures each scenario measured.

Set EXPORTGATE_FAULT_SUMMARY=DIR to have every scenario write DIR/<scenario>.json (cases tried,
requests sent, failures); `python -m bench` does, and puts the figures in bench/RESULTS.md.
Case counts are small by default so CI stays fast; see docs/benchmarks.md for the long runs.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from bench.harness import Stack
from bench.load import drive
from tests.faults.shapes import SHAPES, embedded

SUMMARY_ENV = "EXPORTGATE_FAULT_SUMMARY"


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    return int(value) if value else default


Record = Callable[..., None]


def guarded_load(stack: Stack, seconds: float, out: Path, *, concurrency: int) -> threading.Thread:
    """Send guarded reviews (every one distinct, so none is answered from a cache) to the
    webhook for `seconds` from a background thread, writing each response to `out`."""
    thread = threading.Thread(
        target=lambda: drive(
            stack.url + "/validate",
            stack.tls.ca_path,
            concurrency=concurrency,
            duration=seconds,
            warmup=0,
            distinct=10**9,
            guarded_only=True,
            responses=out,
            timeout=5.0,
        ),
        daemon=True,
    )
    thread.start()
    return thread


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """Keep the call phase's report on the item, so `fault_summary` can say how the test ended."""
    report = yield
    if report.when == "call":
        item.stash[_CALL_OUTCOME] = report.outcome
    return report


_CALL_OUTCOME = pytest.StashKey[str]()


@pytest.fixture
def fault_summary(request: pytest.FixtureRequest) -> Iterator[Record]:
    """`record(cases=..., requests=..., failures=..., detail=...)` for this scenario; written
    when the test ends, with its real outcome unless the test named one."""
    recorded: dict[str, Any] = {}
    yield recorded.update
    directory = os.environ.get(SUMMARY_ENV)
    if not directory or not recorded:
        return
    path = Path(directory)
    path.mkdir(parents=True, exist_ok=True)
    name = request.node.name
    recorded.setdefault("outcome", request.node.stash.get(_CALL_OUTCOME, "error"))
    # A parameter id may hold "/" or control characters (a raw HTTP request line): the file
    # name is a digest-suffixed safe form, the scenario inside keeps the real name.
    safe = re.sub(r"[^A-Za-z0-9_.\[\]-]+", "_", name)[:120]
    digest = hashlib.sha256(name.encode()).hexdigest()[:8]
    (path / f"{safe}-{digest}.json").write_text(json.dumps({"scenario": name, **recorded}))


@pytest.fixture
def make_stack(tmp_path: Path) -> Iterator[Callable[..., Stack]]:
    """Start a Stack in tmp_path, in `shape` (tests/faults/shapes.py: a sidecar and a webhook,
    or one webhook with the service embedded); every one started is stopped afterwards."""
    stacks: list[Stack] = []

    def make(
        name: str = "stack", *, start: bool = True, shape: str = "sidecar", **kwargs: Any
    ) -> Stack:
        stack = Stack(tmp_path / name, embedded=embedded(shape), **kwargs)
        stacks.append(stack)
        if start:
            stack.start()
        return stack

    yield make
    for stack in stacks:
        stack.stop()


@pytest.fixture(params=SHAPES)
def shape(request: pytest.FixtureRequest) -> str:
    """Each shape the policy service runs in, for a test whose promise holds in both."""
    return str(request.param)


def log_records(log: Path) -> list[dict[str, Any]]:
    """Every complete record in a log, in order (a torn line is skipped)."""
    records: list[dict[str, Any]] = []
    for line in log.read_bytes().splitlines():
        try:
            records.append(json.loads(line))
        except ValueError:
            continue
    return records


def decision_records(log: Path) -> dict[str, dict[str, Any]]:
    """id -> record for every complete decision record in a log (a torn last line is skipped)."""
    return {str(r["id"]): r for r in log_records(log) if r.get("type") == "decision"}
