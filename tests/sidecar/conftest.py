"""Fixtures for the policy sidecar tests: real files, real sockets, real TLS, real gRPC.

Every test that needs a running sidecar gets one in its own event loop, listening on a Unix
socket in a short temporary directory (socket paths are limited to ~107 bytes, which pytest's
tmp_path can exceed), reading tenants and policies from files the test can rewrite.
"""

from __future__ import annotations

import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from exportgate_sidecar import SidecarServer, serve_in_background

from exportgate.wire.client import PolicyClient
from tests.sidecar.builders import SidecarFiles, write_sidecar_files


@pytest.fixture
def short_dir() -> Iterator[Path]:
    """A directory with a short path, for Unix sockets."""
    with tempfile.TemporaryDirectory(prefix="egsc-", dir="/tmp") as d:
        yield Path(d)


@pytest.fixture
def files(tmp_path: Path, short_dir: Path) -> SidecarFiles:
    return write_sidecar_files(tmp_path, socket=short_dir / "policy.sock")


@pytest.fixture
async def sidecar(files: SidecarFiles) -> AsyncIterator[SidecarServer]:
    async with serve_in_background(files.config(), ready_timeout=20) as server:
        yield server


@pytest.fixture
async def client(sidecar: SidecarServer) -> AsyncIterator[PolicyClient]:
    async with PolicyClient(sidecar.unix_target, timeout=5.0) as c:
        yield c
