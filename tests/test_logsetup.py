"""The one operational logging setup the sidecar, webhook and operator share."""

from __future__ import annotations

import json
import logging
import subprocess
import sys

import pytest

from exportgate.logsetup import configure_logging

SCRIPT = """
import logging, sys
from exportgate.logsetup import configure_logging, get_logger
configure_logging("info", json=sys.argv[1] == "json")
get_logger("exportgate.test").info("hello", tenant="acme")
logging.getLogger("kopf").info("chatty")
logging.getLogger("kopf").warning("library warning")
"""


def _run(fmt: str) -> list[str]:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, fmt], capture_output=True, text=True, check=True
    )
    return done.stderr.splitlines()


def test_structlog_and_library_records_share_one_json_stream() -> None:
    events = [json.loads(line) for line in _run("json")]
    assert [e["event"] for e in events] == ["hello", "library warning"]  # kopf INFO is quiet
    assert events[0]["tenant"] == "acme" and events[0]["level"] == "info"
    assert events[1]["logger"] == "kopf" and events[1]["level"] == "warning"
    assert all("timestamp" in e for e in events)


def test_console_format_is_the_one_switch() -> None:
    lines = _run("console")
    assert len(lines) == 2 and "hello" in lines[0] and not lines[0].startswith("{")


def test_an_unknown_level_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown log level"):
        configure_logging("loud")
    assert logging.getLogger("kopf")  # nothing configured half-way
