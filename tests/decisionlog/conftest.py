from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest


class SteppingClock:
    """A clock that advances one second per reading, so record times are predictable."""

    def __init__(self, start: datetime = datetime(2025, 3, 1, tzinfo=UTC)) -> None:
        self.now = start

    def __call__(self) -> datetime:
        current = self.now
        self.now += timedelta(seconds=1)
        return current


@pytest.fixture
def clock() -> SteppingClock:
    return SteppingClock()


@pytest.fixture
def log_path(tmp_path: Path) -> Path:
    return tmp_path / "decisions-sidecar-0.jsonl"


def read_records(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


@pytest.fixture
def records_of() -> Callable[[Path], list[dict[str, Any]]]:
    return read_records
