"""The installed `exportgate` command, run as a platform engineer or an auditor would run it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

EXPORTGATE = Path(sys.executable).with_name("exportgate")


def audit_verify(
    *paths: Path, allow_recovered: bool = False, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """`exportgate audit verify` over `paths` (with --allow-recovered if asked); never raises on
    its exit status, which is what the tests assert."""
    argv = [str(EXPORTGATE), "audit", "verify", *map(str, paths)]
    if allow_recovered:
        argv.append("--allow-recovered")
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
