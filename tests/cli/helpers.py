"""Running `exportgate check` as its users do (the installed command, from the repository root)
and reading its JSON contract; shared by the CLI tests."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from tests.commands import EXPORTGATE

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
TENANTS = EXAMPLES / "tenants.yaml"
WORKLOADS = EXAMPLES / "workloads.yaml"
AT = "2026-07-01T00:00:00Z"  # the examples' verifications are current (orbit's has expired)

# A Tenant record with its country and verification state to fill in (str.format).
TENANT = """\
apiVersion: exportgate.dev/v1alpha1
kind: Tenant
metadata: {{name: t1}}
spec:
  legalName: T1 Ltd.
  incorporation: {country}
  headquarters: {country}
  verification: {{state: {state}, verifiedAt: "2026-01-01T00:00:00Z"}}
"""


def check(*args: str | Path, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(EXPORTGATE), "check", *map(str, args)],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=ROOT,
    )


def results(process: subprocess.CompletedProcess[str]) -> list[dict[str, Any]]:
    document = json.loads(process.stdout)
    assert list(document) == ["results"]
    found: list[dict[str, Any]] = document["results"]
    return found


def by_object(process: subprocess.CompletedProcess[str]) -> dict[str, dict[str, Any]]:
    return {r["object"]: r for r in results(process)}
