"""The wire is tested against a real sidecar on a real Unix socket: the sidecar's fixtures."""

from tests.sidecar.conftest import client, files, short_dir, sidecar

__all__ = ["client", "files", "short_dir", "sidecar"]
