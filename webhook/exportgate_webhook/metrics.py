"""Prometheus metrics with stable names, in a registry of their own.

A registry per `WebhookMetrics` (rather than the global default) lets tests run several webhooks
in one process and keeps the exposition limited to what the webhook itself means.

Names and labels (stable; dashboards and alerts depend on them):

* ``exportgate_webhook_requests_total{endpoint,kind,operation,decision}``
* ``exportgate_webhook_request_duration_seconds{endpoint,kind,operation,decision}`` (histogram)
* ``exportgate_webhook_sidecar_errors_total{reason}`` — unavailable | timeout | error | malformed
* ``exportgate_webhook_sidecar_duration_seconds`` (histogram of Evaluate calls)
* ``exportgate_webhook_namespace_cache_lookups_total{result}`` — hit | miss | error
* ``exportgate_webhook_namespace_cache_hit_ratio`` — hits / lookups since start
* ``exportgate_webhook_namespaces_cached``
* ``exportgate_webhook_malformed_requests_total{endpoint}``
* ``exportgate_webhook_certificate_reloads_total{result}`` — success | failure
* ``exportgate_webhook_certificate_expiry_timestamp_seconds``
* ``exportgate_webhook_connections_total{protocol}`` — h2 | http/1.1, after the TLS handshake

With mutual TLS on (``--client-ca``; registered only then, so a webhook without it exposes
exactly what it always did):

* ``exportgate_webhook_client_certificates_refused_total{reason}`` — missing | untrusted |
  expired | name
* ``exportgate_webhook_client_ca_reloads_total{result}`` — success | failure

`decision` is one of allow, dryrun, warn, deny (the sidecar's answer), unguarded (nothing to
ask), exempt, skipped (DELETE, CONNECT, objects being deleted), tenancy (label guard refusal),
forged (a stamp, or on pods/status or a Binding an annotation exportgate reads), unreadable,
unavailable (failed closed), error (a bug; also refused).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

# Reviews are milliseconds when cached and bounded by the budget (2 s by default) otherwise.
_LATENCY_BUCKETS = (
    0.0005, 0.001, 0.0025, 0.005, 0.0075, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0,
)  # fmt: skip

CONTENT_TYPE = CONTENT_TYPE_LATEST


@dataclass(frozen=True, slots=True)
class ClientAuthMetrics:
    """The mutual-TLS counters (`WebhookMetrics.client_auth`)."""

    refused: Counter
    ca_reloads: Counter


class WebhookMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry(auto_describe=True)
        self._children: dict[tuple[str, str, str, str], tuple[Any, Any]] = {}
        self._client_auth: ClientAuthMetrics | None = None
        labels = ("endpoint", "kind", "operation", "decision")
        self.requests = Counter(
            "exportgate_webhook_requests",
            "Admission reviews answered, by endpoint, object kind, operation and decision.",
            labels,
            registry=self.registry,
        )
        self.latency = Histogram(
            "exportgate_webhook_request_duration_seconds",
            "Time from a review's body being read to its answer, in seconds.",
            labels,
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.sidecar_errors = Counter(
            "exportgate_webhook_sidecar_errors",
            "Policy sidecar calls that gave no usable answer (the review failed closed).",
            ("reason",),
            registry=self.registry,
        )
        self.sidecar_latency = Histogram(
            "exportgate_webhook_sidecar_duration_seconds",
            "Duration of Evaluate calls to the policy sidecar, in seconds.",
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.sidecar_batch = Histogram(
            "exportgate_webhook_sidecar_batch_items",
            "Reviews asked in one Evaluate call to the policy sidecar (--sidecar-batch).",
            buckets=(1, 2, 4, 8, 16, 32, 64),
            registry=self.registry,
        )
        self.namespace_lookups = Counter(
            "exportgate_webhook_namespace_cache_lookups",
            "Namespace -> tenant lookups: hit (watch cache), miss (read from the API server), "
            "error (could not be read; the review was refused).",
            ("result",),
            registry=self.registry,
        )
        self._hits = 0
        self._lookups = 0
        self.namespace_hit_ratio = Gauge(
            "exportgate_webhook_namespace_cache_hit_ratio",
            "Share of namespace lookups answered from the watch cache since start.",
            registry=self.registry,
        )
        self.namespace_hit_ratio.set_function(self._hit_ratio)
        self.namespaces_cached = Gauge(
            "exportgate_webhook_namespaces_cached",
            "Namespaces held in the watch cache.",
            registry=self.registry,
        )
        self.namespace_watch_restarts = Counter(
            "exportgate_webhook_namespace_watch_restarts",
            "Times the namespace watch failed and was restarted.",
            registry=self.registry,
        )
        self.malformed = Counter(
            "exportgate_webhook_malformed_requests",
            "Requests refused with HTTP 400 (not a usable AdmissionReview, or too large).",
            ("endpoint",),
            registry=self.registry,
        )
        self.cert_reloads = Counter(
            "exportgate_webhook_certificate_reloads",
            "Serving certificate reloads after the files changed.",
            ("result",),
            registry=self.registry,
        )
        self.connections_refused = Counter(
            "exportgate_webhook_connections_refused",
            "Connections closed by the listener's limits (connection-cap, handshake, "
            "header-timeout) and bodies refused by the in-flight body budget (body-budget).",
            ("reason",),
            registry=self.registry,
        )
        self.connections = Counter(
            "exportgate_webhook_connections",
            "Connections accepted on the admission port, by the protocol agreed over ALPN "
            "(h2 or http/1.1).",
            ("protocol",),
            registry=self.registry,
        )
        self.cert_expiry = Gauge(
            "exportgate_webhook_certificate_expiry_timestamp_seconds",
            "notAfter of the serving certificate in use, as a Unix timestamp.",
            registry=self.registry,
        )

    def observe(
        self, endpoint: str, kind: str, operation: str, decision: str, seconds: float
    ) -> None:
        key = (endpoint, kind, operation, decision)
        children = self._children.get(key)
        if children is None:
            # labels() takes a lock and builds its key on every call; once per label set is
            # enough (the set is as bounded as the exposition: a few kinds x outcomes).
            children = self._children[key] = (
                self.requests.labels(*key),
                self.latency.labels(*key),
            )
        children[0].inc()
        children[1].observe(seconds)

    def client_auth(self) -> ClientAuthMetrics:
        """The mutual-TLS counters, registered on first use (only a webhook with --client-ca
        asks for them)."""
        if self._client_auth is None:
            self._client_auth = ClientAuthMetrics(
                refused=Counter(
                    "exportgate_webhook_client_certificates_refused",
                    "Connections to the admission port refused for their client certificate "
                    "(mutual TLS, --client-ca): missing, untrusted (another CA), expired, or "
                    "name (no allowed identity). Nothing they sent was reviewed or logged.",
                    ("reason",),
                    registry=self.registry,
                ),
                ca_reloads=Counter(
                    "exportgate_webhook_client_ca_reloads",
                    "Client CA bundle reloads after the file changed (--client-ca).",
                    ("result",),
                    registry=self.registry,
                ),
            )
        return self._client_auth

    def connection_opened(self, protocol: str) -> None:
        self.connections.labels(protocol).inc()

    def namespace_lookup(self, result: str) -> None:
        self.namespace_lookups.labels(result).inc()
        self._lookups += 1
        if result == "hit":
            self._hits += 1

    def _hit_ratio(self) -> float:
        return self._hits / self._lookups if self._lookups else 1.0

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
