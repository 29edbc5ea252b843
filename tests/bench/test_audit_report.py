"""The audit-report bench writes only its own section of RESULTS.md and names the figures of
the run it replaces."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench import audit_report

SECTION = """<!-- audit-report:start -->
## Audit report over 1,000,000 decision records (issue 15)

| measure | value | target | verdict |
|---|---|---|---|
| wall time, verify + report | 75.6 s | < 60 s | MISSED |
| peak resident memory | 361 MiB | < 500 MiB | met |
| CPU time (user + sys, all processes) | 67.9 s | | |
| load average when it started | 1.9 | | |

**The machine.** a notes paragraph pasted here by a bad merge
<!-- audit-report:end -->
"""


@pytest.fixture
def results(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "RESULTS.md"
    path.write_text("# Results\n\n" + SECTION + "\n<!-- b5-accounting:begin -->\nb5\n"
                    "<!-- b5-accounting:end -->\n")  # fmt: skip
    monkeypatch.setattr(audit_report, "RESULTS", path)
    return path


def test_previous_figures_are_read_from_the_section(results: Path) -> None:
    assert audit_report.previous_figures() == {
        "wall": "75.6", "cpu": "67.9", "peak": "361", "load": "1.9", "records": "1,000,000",
    }  # fmt: skip


def test_writing_replaces_only_the_section(results: Path) -> None:
    audit_report.write_section("## Audit report\nnew figures\n")
    text = results.read_text()
    assert text.count("<!-- audit-report:start -->") == 1
    assert "new figures" in text and "bad merge" not in text and "75.6" not in text
    assert text.startswith("# Results\n\n<!-- audit-report:start -->")
    assert text.endswith("<!-- b5-accounting:begin -->\nb5\n<!-- b5-accounting:end -->\n")
