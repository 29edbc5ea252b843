"""The chart's generators: values docs/schema and the CRD/RBAC sync are up to date, and the
values-doc tool refuses undocumented values."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.charts.chart import ROOT

VALUES_DOCS = ROOT / "charts" / "tools" / "values_docs.py"
SYNC_CRDS = ROOT / "charts" / "sync_crds.py"


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args], capture_output=True, text=True, timeout=60, check=False
    )


@pytest.mark.parametrize("tool", [VALUES_DOCS, SYNC_CRDS])
def test_generated_files_are_current(tool: Path) -> None:
    proc = _run(str(tool), "--check")
    assert proc.returncode == 0, proc.stderr


def _chart(tmp_path: Path, values: str) -> Path:
    (tmp_path / "Chart.yaml").write_text("apiVersion: v2\nname: demo\nversion: 0.1.0\n")
    (tmp_path / "values.yaml").write_text(values)
    (tmp_path / "README.md").write_text(
        "# demo\n<!-- values-table:start -->\n<!-- values-table:end -->\n"
    )
    return tmp_path


def test_undocumented_value_is_an_error_naming_key_and_line(tmp_path: Path) -> None:
    chart = _chart(tmp_path, "# Documented.\nfirst: 1\nsecond: 2\n")
    proc = _run(str(VALUES_DOCS), str(chart))
    assert proc.returncode == 2
    assert "line 3" in proc.stderr and "`second`" in proc.stderr


def test_writes_then_checks_clean(tmp_path: Path) -> None:
    chart = _chart(
        tmp_path,
        "# Replicas.\n# @schema {\"minimum\": 2}\nreplicas: 2\n"
        "# Opaque.\n# @schema {\"additionalProperties\": true}\nresources: {a: 1}\n",
    )
    assert _run(str(VALUES_DOCS), str(chart)).returncode == 0
    assert _run(str(VALUES_DOCS), str(chart), "--check").returncode == 0
    readme = (chart / "README.md").read_text()
    assert "| `replicas` | integer | `2` | Replicas. |" in readme
    (chart / "values.yaml").write_text((chart / "values.yaml").read_text() + "# New.\nnew: x\n")
    assert _run(str(VALUES_DOCS), str(chart), "--check").returncode == 1
