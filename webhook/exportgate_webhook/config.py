"""Settings of the webhook, grouped by concern.

Every field says why it exists and what its default protects, because these are the knobs a
platform engineer turns in the Helm chart. The command line (`__main__`) fills them in; tests
build them directly.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

# The label that binds a namespace (or a cluster-scoped object) to a tenant: one home, the core.
from exportgate.core.tenancy import TENANT_LABEL as TENANT_LABEL
from exportgate.wire.batch import DEFAULT_MAX_ITEMS

#: Identities that may bind namespaces to tenants out of the box: cluster admins and the group
#: the chart's RBAC gives platform engineers. The operator's service account is added by the chart.
DEFAULT_PLATFORM_GROUPS = ("system:masters", "exportgate:platform")

#: Kubernetes itself lives here; evaluating it could lock the cluster out of its own repairs.
DEFAULT_EXEMPT_NAMESPACES = ("kube-system",)

DEFAULT_MAX_BODY_BYTES = 8 * 1024 * 1024
DEFAULT_BUDGET_S = 2.0
DEFAULT_PROBE_PORT = 8080


@dataclass(frozen=True, slots=True)
class ListenConfig:
    host: str = "0.0.0.0"
    """Address the HTTPS server binds. The API server reaches it through a Service."""

    port: int = 8443
    """Non-privileged port, so the container runs as non-root."""

    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    """Largest AdmissionReview accepted; larger bodies get a 400 without being read.

    etcd stores at most ~1.5 MiB per object, and a review carries the object and the old object
    as JSON (larger than etcd's protobuf), so 8 MiB admits every real review while keeping a
    hostile client from making the webhook buffer arbitrary amounts of memory.
    """

    probe_host: str | None = None
    """Optional plain-HTTP listener for /healthz, /readyz and /metrics (kubelet probes and
    Prometheus scrapes without TLS). The same endpoints are always served on the HTTPS port."""

    probe_port: int = DEFAULT_PROBE_PORT

    max_connections: int = 256
    """Open connections (TLS handshake included) beyond which new ones are reset at accept.
    Each costs up to `listener.TLS_CONNECTION_BYTES` (~320 KiB), so the default bounds them to
    ~80 MiB of the chart's 256 MiB limit; the API server needs a handful per replica."""

    handshake_timeout_s: float = 5.0
    """A connection that has not finished its TLS handshake by then is closed (half-open)."""

    header_timeout_s: float = 10.0
    """A connection that has not delivered a complete first request by then is closed."""

    idle_timeout_s: float = 30.0
    """A kept-alive connection with no request for this long is closed (the API server opens a
    new one when it needs it)."""

    http2: bool = False
    """Offer HTTP/2 over ALPN besides HTTP/1.1 (opt-in). kube-apiserver's webhook client then
    sends its concurrent calls multiplexed over one connection per API server instead of one
    connection per call in flight, which keeps the connection count (and the TLS memory under
    `max_connections`) small, and under many concurrent admissions costs the API server less.
    Off by default because it cost the webhook 0.2-0.5 ms more CPU per review on the bench
    machine (the h2 protocol is pure Python, llhttp's HTTP/1.1 parser is C), which raised the
    latency at one client (bench/NOTES.md, "HTTP/2")."""

    max_streams: int = 100
    """HTTP/2 requests worked on at once per connection (SETTINGS_MAX_CONCURRENT_STREAMS); a
    stream the client resets counts until its review finishes (see `http2.py`)."""

    inflight_body_bytes: int = 4 * DEFAULT_MAX_BODY_BYTES
    """Request bodies read at once, over all connections. A body that does not fit waits (within
    the review budget) and is then answered the fail-closed way."""


@dataclass(frozen=True, slots=True)
class ClientAuthConfig:
    """Opt-in mutual TLS at the admission port (`--client-ca`): only a caller presenting a
    certificate one of these CAs signed (the API server, given a client certificate by its
    AdmissionConfiguration) may submit reviews. Without it any TLS client that reaches the port
    can, and every review it posts is decided and logged; the chart's NetworkPolicy is then the
    only control (docs/webhook.md, "Client authentication")."""

    ca_file: Path
    """PEM bundle of the CAs that sign accepted client certificates. Reloaded like the serving
    pair: a changed bundle applies to new connections within `TLSConfig.reload_interval_s`, and
    a CA dropped from it is no longer trusted."""

    names: frozenset[str] = frozenset()
    """Identities accepted: a client certificate's subject CN or one of its DNS SANs must be one
    of them (exact match). Empty: any certificate the CAs signed."""


@dataclass(frozen=True, slots=True)
class TLSConfig:
    cert_file: Path
    """PEM serving certificate (chain). Mounted from a Secret that cert-manager may rotate."""

    key_file: Path
    """PEM private key matching `cert_file`."""

    reload_interval_s: float = 5.0
    """How often the files are checked for changes. A rotated certificate is served to new
    connections within this interval; in-flight requests and open connections are not dropped."""

    client_auth: ClientAuthConfig | None = None
    """Require and verify a client certificate (mutual TLS); None (the default) serves any TLS
    client, as the webhook always did."""


@dataclass(frozen=True, slots=True)
class SidecarConfig:
    target: str = "unix:///run/exportgate/policy.sock"
    """gRPC target of the policy sidecar (`unix:///path` or `host:port`). The sidecar runs in the
    same pod and listens on a Unix socket in a shared volume, so the channel needs no TLS: only
    processes that share the volume can reach it."""

    budget_s: float = DEFAULT_BUDGET_S
    """Time one review may take, sidecar call included. Keep it well under the
    ValidatingWebhookConfiguration `timeoutSeconds` (5-10 s) so that, when the sidecar is slow,
    the tenant reads exportgate's own "policy service unavailable" denial instead of the API
    server's generic "context deadline exceeded"."""

    ready_timeout_s: float = 0.5
    """How long /readyz waits for the sidecar's Status answer before reporting not ready."""

    batch_max_items: int = DEFAULT_MAX_ITEMS
    """Reviews asked in one sidecar call at most: the reviews waiting for the sidecar in the same
    event-loop turn share one call (`exportgate.wire.batch`); 1 asks each review alone."""


@dataclass(frozen=True, slots=True)
class NamespaceConfig:
    static_tenants: Mapping[str, str] | None = None
    """namespace -> tenant, for running without an API server (local runs, demos). When set, no
    Kubernetes connection is made and unlisted namespaces are unbound."""

    kubeconfig: Path | None = None
    """Kubeconfig for the namespace watch; unset means in-cluster config, then ~/.kube/config."""

    fetch_timeout_s: float = 0.5
    """A namespace missing from the watch cache (just created, watch lagging) is read directly
    with this timeout; a review never waits on the API server longer than this."""

    resync_s: float = 300.0
    """Watch requests are renewed after this long (the API server closes long watches anyway)."""


@dataclass(frozen=True, slots=True)
class GuardConfig:
    platform_users: frozenset[str] = frozenset()
    """Usernames allowed to set, change or remove `exportgate.dev/tenant` labels and to edit
    exportgate.dev resources (Tenant, ExportPolicy): the operator's service account, break-glass
    admins. Everyone else is a tenant, whatever their RBAC."""

    platform_groups: frozenset[str] = frozenset(DEFAULT_PLATFORM_GROUPS)
    """Groups with the same rights as `platform_users`."""

    kyc_users: frozenset[str] = frozenset()
    """Usernames allowed to create and update Tenants (the provider's KYC team records
    verification outcomes there) and nothing else the guard reserves: not namespace bindings,
    not ExportPolicies, not deleting a Tenant. Keeps KYC staff out of the platform's powers."""

    kyc_groups: frozenset[str] = frozenset()
    """Groups with the same rights as `kyc_users` (the chart binds them to the
    `exportgate-kyc-editor` role too)."""

    exempt_namespaces: frozenset[str] = frozenset(DEFAULT_EXEMPT_NAMESPACES)
    """Namespaces whose objects are admitted without evaluation (the control plane, exportgate's
    own namespace). Only platform engineers can create these names, so tenants cannot use them
    to escape. Tenancy labels are still guarded everywhere."""

    mutate: bool = False
    """Opt-in: stamp admitted guarded objects with their decision id, accelerator class and
    policy version (a second admission phase, measured in bench/NOTES.md). Off (the default),
    /mutate admits unchanged, an admitted object is traced to its decision by its uid (the
    decision record's `objectUid`) and the validating phase's audit annotations, and /validate
    refuses objects whose stamps a caller added or altered, so a stamp is never forged (see
    docs/webhook.md)."""


@dataclass(frozen=True, slots=True)
class WebhookConfig:
    tls: TLSConfig
    listen: ListenConfig = field(default_factory=ListenConfig)
    sidecar: SidecarConfig = field(default_factory=SidecarConfig)
    namespaces: NamespaceConfig = field(default_factory=NamespaceConfig)
    guard: GuardConfig = field(default_factory=GuardConfig)
    adapter_files: tuple[Path, ...] = ()
    """Extra kind adapters (YAML, the same format as exportgate/data/adapters), so platform
    engineers can guard their own custom resources without code."""
