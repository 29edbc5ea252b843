"""A real headless browser for the audit report tests: Debian's Chromium.

`chromium()` finds it, installing it with apt-get when it is missing and we may (root, or
password-less sudo), so a clean CI machine gets it from `make test` (via `make browser`) or from
the first test that needs it. Run ``python -m tests.audit.browser install`` to install it alone.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

NAMES = ("chromium", "chromium-browser")
TIMEOUT = 120


class BrowserUnavailable(RuntimeError):
    pass


def find() -> str | None:
    return next((found for name in NAMES if (found := shutil.which(name))), None)


def install() -> str:
    found = find()
    if found:
        return found
    prefix: list[str] = []
    if os.geteuid() != 0:
        if not shutil.which("sudo"):
            raise BrowserUnavailable("chromium is missing; install it: apt-get install chromium")
        prefix = ["sudo", "-n"]
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (["apt-get", "update"], ["apt-get", "install", "-y", "chromium"]):
        done = subprocess.run(prefix + command, env=env, capture_output=True, text=True)
        if done.returncode != 0:
            raise BrowserUnavailable(
                f"cannot install chromium ({' '.join(command)}): {done.stderr[-500:]}"
            )
    found = find()
    if not found:
        raise BrowserUnavailable("apt-get installed chromium, but it is not on PATH")
    return found


def dump_dom(page: Path, *, budget_ms: int = 10000) -> str:
    """The DOM of `page` after its scripts ran (Plotly draws synchronously on load)."""
    command = [
        install(),
        "--headless",
        "--no-sandbox",  # tests may run as root in a container
        "--disable-gpu",
        "--no-first-run",
        f"--virtual-time-budget={budget_ms}",
        "--dump-dom",
        page.resolve().as_uri(),
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT)
    if done.returncode != 0:
        raise BrowserUnavailable(f"chromium failed ({done.returncode}): {done.stderr[-800:]}")
    return done.stdout


def screenshot(page: Path, out: Path, *, width: int = 1400, height: int = 2600) -> None:
    command = [
        install(),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--hide-scrollbars",
        f"--window-size={width},{height}",
        "--virtual-time-budget=10000",
        f"--screenshot={out.resolve()}",
        page.resolve().as_uri(),
    ]
    subprocess.run(command, capture_output=True, check=True, timeout=TIMEOUT)


if __name__ == "__main__":
    if sys.argv[1:] == ["install"]:
        print(install())
    else:
        sys.exit("usage: python -m tests.audit.browser install")
