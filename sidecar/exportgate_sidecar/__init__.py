"""exportgate's policy sidecar: the gRPC service that decides, logs, then answers.

It holds the current tenants and policies (from files or the Kubernetes API) as one immutable
snapshot, decides batches of items with the core engine, writes every decision to the
hash-chained decision log, and only then answers. See docs/sidecar.md.

Public API: `SidecarConfig` (+ `SourceConfig`, `ListenConfig`, `CacheConfig`), `SidecarServer`,
and `serve_in_background`. Callers of the service use `exportgate.wire` (its one client and
conversions), never this package.
"""

from exportgate.service.config import (
    CacheConfig,
    ConfigError,
    ListenConfig,
    SidecarConfig,
    SourceConfig,
)
from exportgate_sidecar.server import SidecarServer, serve_in_background

__all__ = [
    "CacheConfig",
    "ConfigError",
    "ListenConfig",
    "SidecarConfig",
    "SidecarServer",
    "SourceConfig",
    "serve_in_background",
]
