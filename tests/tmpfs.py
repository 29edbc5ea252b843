"""A real small or read-only file system for tests of disk failures: a tmpfs mounted for the test.

Mounting needs root (CI runs as root); elsewhere the test is skipped, saying why. A real mount
is used because chmod does not stop root, and a full or read-only disk is what production meets.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest


def mount_tmpfs(target: Path, options: str) -> None:
    """Mount a tmpfs with `options` (mount -o) on the existing directory `target`."""
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(target)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {done.stderr.strip()}")


@contextmanager
def tmpfs(target: Path, options: str) -> Iterator[Path]:
    """`target` (created if missing) with a tmpfs mounted on it, unmounted lazily afterwards."""
    target.mkdir(exist_ok=True)
    mount_tmpfs(target, options)
    try:
        yield target
    finally:
        subprocess.run(["umount", "-l", str(target)], check=False)
