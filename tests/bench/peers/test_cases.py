"""The equivalence set's expectations are exportgate's own decisions (no cluster needed): the
CLI decides each case as the webhook would, with the example tenants."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import yaml

from bench.harness import EXAMPLE_TENANTS
from bench.peers.cases import ADMIT, CASES, DENY, NAMESPACE_TENANTS, TENANT_LABEL


def test_every_case_is_decided_by_exportgate_as_cases_py_expects(tmp_path: Path) -> None:
    namespaces = [
        {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": ns, "labels": {TENANT_LABEL: t}},
        }
        for ns, t in NAMESPACE_TENANTS.items()
    ]
    manifest = tmp_path / "cases.yaml"
    manifest.write_text(yaml.safe_dump_all([*namespaces, *(c.pod() for c in CASES)]))
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "exportgate.cli.main",
            "check",
            "--tenant",
            str(EXAMPLE_TENANTS),
            str(manifest),
            "-o",
            "json",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode in (0, 3), done.stderr
    decisions = json.loads(done.stdout)["results"][len(namespaces) :]
    got = {
        c.name: (DENY if d["decision"] == "deny" else ADMIT)
        for c, d in zip(CASES, decisions, strict=True)
    }
    assert got == {c.name: c.expected for c in CASES}


def test_the_set_covers_both_verdicts_in_the_restricted_namespace_only_admits_elsewhere() -> None:
    restricted = {c.expected for c in CASES if c.namespace.endswith("nimbus")}
    allowed = {c.expected for c in CASES if c.namespace.endswith("acme")}
    assert restricted == {ADMIT, DENY}
    assert allowed == {ADMIT}
