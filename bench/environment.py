"""What every result is recorded with: machine, versions, commit, date, and how busy the box was."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from bench.harness import REPO


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _mem_total_gib() -> float:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                return round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    return 0.0


def _git(*args: str) -> str:
    try:
        return subprocess.run(
            ["git", *args], cwd=REPO, capture_output=True, text=True, check=True, timeout=10
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "not installed"


def _filesystem(path: Path) -> str:
    try:
        out = (
            subprocess.run(
                ["df", "-T", str(path)], capture_output=True, text=True, check=True, timeout=10
            )
            .stdout.splitlines()[-1]
            .split()
        )
        return out[1]
    except (OSError, subprocess.SubprocessError, IndexError):
        return "unknown"


def describe(workdir: Path) -> dict[str, Any]:
    dirty = _git("status", "--porcelain", "--untracked-files=no")
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "commit": _git("rev-parse", "--short=12", "HEAD")
        + (" (+uncommitted changes)" if dirty else ""),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs ({_cpu_model()}), "
        f"{_mem_total_gib()} GiB RAM",
        "kernel": platform.release(),
        "python": sys.version.split()[0],
        "grpcio": _version("grpcio"),
        "protobuf": _version("protobuf"),
        "aiohttp": _version("aiohttp"),
        "httptools": _version("httptools"),  # the webhook's HTTP/1.1 parser
        "h2": _version("h2"),
        "load_average_at_start": " ".join(f"{x:.2f}" for x in os.getloadavg()),
        "decision_log_filesystem": _filesystem(workdir),
    }
