"""Settings of the policy service (the sidecar, or embedded in the webhook), grouped by concern.

Each group is a small frozen dataclass; each field says why it exists, so that a platform
engineer reading `exportgate-sidecar --help` or a Helm value can tell when to change it.
`SidecarConfig.validate()` turns a wrong combination into one clear error before anything
starts listening.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from exportgate.core.types import Action

SourceKind = Literal["files", "kube"]

#: Where the webhook in the same pod finds the sidecar by default.
DEFAULT_UNIX_SOCKET = "/run/exportgate/policy.sock"


class ConfigError(ValueError):
    """A setting, or a combination of settings, that cannot work; the message says how to fix it."""


@dataclass(frozen=True, slots=True)
class SourceConfig:
    """Where tenants and policies come from."""

    kind: SourceKind = "files"
    """``files`` for standalone use and demos; ``kube`` to watch the Tenant and ExportPolicy
    custom resources, which is how the chart runs it."""

    tenant_paths: tuple[Path, ...] = ()
    """Files or directories of Tenant documents (``files`` source). Directories are scanned for
    ``*.yaml``, ``*.yml`` and ``*.json`` so a mounted ConfigMap works as is."""

    policy_paths: tuple[Path, ...] = ()
    """Files or directories of ExportPolicy documents (``files`` source)."""

    poll_interval: float = 1.0
    """Seconds between checks of the files for changes. Polling file metadata is cheap and, unlike
    inotify, sees the symlink swap Kubernetes does when it updates a mounted ConfigMap."""

    kubeconfig: Path | None = None
    """Kubeconfig for the ``kube`` source; unset means the pod's in-cluster service account, then
    ``$KUBECONFIG``/``~/.kube/config``."""

    watch_timeout: int = 300
    """Seconds the API server keeps one watch open before the sidecar re-opens it (from the last
    resourceVersion it saw). Short enough to notice a dead connection, long enough to be cheap."""

    retry_backoff: float = 1.0
    """First delay after an API error; it doubles up to `retry_backoff_max` so a flapping API
    server is not hammered."""

    retry_backoff_max: float = 30.0
    """Longest delay between attempts to reach the API server."""


@dataclass(frozen=True, slots=True)
class ListenConfig:
    """Where the sidecar listens."""

    unix_socket: Path | None = Path(DEFAULT_UNIX_SOCKET)
    """The socket the webhook in the same pod uses: no TCP stack, no TLS, and only processes that
    share the volume can reach it."""


@dataclass(frozen=True, slots=True)
class CacheConfig:
    """The decision cache in front of the engine."""

    max_entries: int = 10_000
    """Upper bound on cached decisions; least recently used go first. Bounded so that a flood of
    distinct workloads cannot grow the sidecar's memory."""

    ttl: float = 60.0
    """Seconds a cached decision may be reused at most. Tenant expiry and licence dates cut an
    entry's life shorter; this bounds anything else that depends on the clock."""

    @property
    def enabled(self) -> bool:
        return self.max_entries > 0 and self.ttl > 0


@dataclass(frozen=True, slots=True)
class SidecarConfig:
    """Everything the policy service needs to run: as `exportgate-sidecar`, or embedded in the
    webhook (which ignores `listen`, `metrics_*`: it serves its own ports)."""

    decision_log: Path
    """The hash-chained decision log. Every decision is written (and fsynced) here before it is
    answered; when it cannot be written the sidecar answers with an error, never a decision."""

    source: SourceConfig = field(default_factory=SourceConfig)
    listen: ListenConfig = field(default_factory=ListenConfig)
    cache: CacheConfig = field(default_factory=CacheConfig)

    packs: tuple[str, ...] | None = None
    """Built-in policy packs to enable; ``None`` means the engine's defaults."""

    default_action: Action | None = None
    """Override the action of every rule that does not set one (``dryrun`` to roll out safely);
    ``None`` keeps each pack's own actions."""

    metrics_port: int | None = None
    """Serve Prometheus metrics over HTTP on this port; ``None`` disables it, 0 picks a free one."""

    metrics_address: str = "0.0.0.0"
    """Interface for the metrics endpoint."""

    min_time_remaining: float = 0.002
    """Seconds of the caller's deadline that must be left to start evaluating. Below this nobody
    would read the answer, so the sidecar says DEADLINE_EXCEEDED instead of doing the work."""

    max_batch_items: int = 1_000
    """Largest batch accepted in one Evaluate call; bigger batches are refused so that one caller
    cannot hold the event loop for long."""

    shutdown_grace: float = 5.0
    """Seconds in-flight calls get to finish on shutdown before they are cancelled."""

    log_close_timeout: float = 10.0
    """Seconds closing the decision log may take on shutdown. Closing waits for the writes still
    in the air and the last fsync; on a disk that has stopped answering that wait has no end,
    and the pod would hang in Terminating until the kubelet kills it. Past this the program
    exits at once with status 1, saying why (`exportgate.service.host.exit_stalled`)."""

    group_commit_max: int = 1_024
    """Most decision records written with one fsync. Concurrent calls are grouped up to this."""

    reuse_window: float = 10.0
    """Seconds a delivered decision can be answered again for the same item when a caller names
    it (`reuse_decision_id`: the webhook's validating phase naming the mutating phase's
    decision), instead of deciding and logging the same admission twice. The two phases are
    milliseconds apart; this only bounds how long the id stays usable. 0 disables reuse."""

    reuse_max_entries: int = 10_000
    """Most decisions kept for reuse; oldest go first, so a flood cannot grow memory."""

    def validate(self) -> None:
        src = self.source
        if src.kind == "files" and not (src.tenant_paths or src.policy_paths):
            # Policies alone are legitimate (every tenant is then unbound and decided as such),
            # but neither is almost certainly a mistake in the command line.
            raise ConfigError(
                "the files source needs --tenants and/or --policies "
                "(or use --source kube to read them from the cluster)"
            )
        if src.kind == "kube" and (src.tenant_paths or src.policy_paths):
            raise ConfigError("--tenants/--policies are for --source files; drop them for kube")
        if src.poll_interval <= 0:
            raise ConfigError(f"poll interval must be positive, got {src.poll_interval}")
        if self.min_time_remaining < 0:
            raise ConfigError("min time remaining cannot be negative")
        if self.max_batch_items < 1:
            raise ConfigError("max batch items must be at least 1")
        if self.reuse_window < 0:
            raise ConfigError("the reuse window cannot be negative (0 disables reuse)")
        if self.log_close_timeout <= 0:
            raise ConfigError(
                f"the log close timeout must be positive, got {self.log_close_timeout}"
            )
