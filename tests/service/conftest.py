"""The service's tests drive it through the sidecar's gRPC front door, over a real socket: the
same fixtures as tests/sidecar (a sidecar on the example files, a client of it)."""

from tests.sidecar.conftest import client, files, short_dir, sidecar

__all__ = ["client", "files", "short_dir", "sidecar"]
