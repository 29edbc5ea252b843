"""A real small or read-only file system for tests of disk failures: a tmpfs mounted for the test.

Mounting needs root (CI runs as root); elsewhere the test is skipped, saying why. A real mount
is used because chmod does not stop root, and a full or read-only disk is what production meets.
"""

from __future__ import annotations

import os
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


def fill(disk: Path) -> Path:
    """Fill the file system at `disk` with one file (returned; delete it to free the space)."""
    filler = disk / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        while True:
            os.write(fd, b"\0" * 4096)
    except OSError:
        pass  # ENOSPC: the disk is full
    finally:
        os.close(fd)
    return filler


class ReadOnlyOver:
    """An empty read-only file system mounted over a log's directory.

    What the writer then sees is what a volume remounted read-only looks like to it: its path
    no longer leads to its file, and nothing can be created there (EROFS). (A real remount of
    a file system with a file open for writing is refused by the kernel, so a test cannot
    remount the log's own file system.) Unmounting brings the original file back.
    """

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def __enter__(self) -> None:
        mount_tmpfs(self.directory, "size=64k,ro")

    def __exit__(self, *exc: object) -> None:
        subprocess.run(["umount", str(self.directory)], check=True, timeout=30)
