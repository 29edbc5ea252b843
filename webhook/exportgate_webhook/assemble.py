"""`build_server`: the webhook with everything it runs on wired together.

What the command line configures (`exportgate_webhook.__main__`) becomes here a running set of
parts: the kind adapters, the namespace directory (static or watched), the DRA lookup, the policy
service (the sidecar's client, or the service embedded in this process), the reviewer and the
server. Tests build their webhooks with it too, so they run exactly what the command runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from exportgate.core.extract import AdapterRegistry
from exportgate.heap import HeapSettler
from exportgate.service.config import SidecarConfig as ServiceConfig
from exportgate.service.host import PolicyHost
from exportgate.service.local import LocalPolicyClient
from exportgate.service.metrics import SidecarMetrics
from exportgate.wire import PolicyClient
from exportgate.wire.batch import BatchingClient
from exportgate_webhook.admission import AdmissionReviewer
from exportgate_webhook.config import WebhookConfig
from exportgate_webhook.dra import DraLookup
from exportgate_webhook.findings import remembering
from exportgate_webhook.metrics import WebhookMetrics
from exportgate_webhook.server import WebhookServer
from exportgate_webhook.tenancy import NamespaceDirectory, StaticNamespaces, WatchedNamespaces


def _api_client(kubeconfig: Path | None) -> Any:
    # Imported on first use: a webhook with static tenants never loads the Kubernetes client.
    from exportgate.kubeapi import new_api_client

    return new_api_client(kubeconfig)


def build_server(
    config: WebhookConfig,
    *,
    metrics: WebhookMetrics | None = None,
    namespaces: NamespaceDirectory | None = None,
    service: ServiceConfig | None = None,
    kube_api: Any = None,
    heap: HeapSettler | None = None,
) -> WebhookServer:
    """Everything wired together (`namespaces` overrides the configured source, for tests).

    With `service` the policy service runs in this process (``--sidecar embedded``) instead of
    being asked over the sidecar's socket; `kube_api` is its API client for a kube source and
    `heap` the program's heap settler, which it settles after each policy switch."""
    metrics = metrics or WebhookMetrics()
    registry = (
        AdapterRegistry.with_files(config.adapter_files)
        if config.adapter_files
        else AdapterRegistry.builtin()
    )
    if namespaces is None:
        ns = config.namespaces
        if ns.static_tenants is not None:
            namespaces = StaticNamespaces(ns.static_tenants)
        else:
            namespaces = WatchedNamespaces(
                lambda: _api_client(ns.kubeconfig),
                metrics=metrics,
                resync_s=ns.resync_s,
            )
    sidecar: PolicyClient | LocalPolicyClient
    if service is None:
        sidecar = PolicyClient(config.sidecar.target)
    else:
        # The service's metrics join the webhook's registry (and /metrics) under their own
        # exportgate_sidecar_* names, as dashboards know them from the sidecar.
        host = PolicyHost(
            service, kube_api=kube_api, metrics=SidecarMetrics(metrics.registry), heap=heap
        )
        sidecar = LocalPolicyClient(host)
    # DRA objects are read from the API server when the namespaces are (not in static mode).
    dra = (
        DraLookup(lambda: _api_client(config.namespaces.kubeconfig))
        if config.namespaces.static_tenants is None
        else None
    )
    extract = remembering(registry)  # Pods of one spec (replicas, retries) are read once
    reviewer = AdmissionReviewer(
        extract=extract,
        dra=dra,
        extract_with=extract,
        slow_to_extract=registry.reads_embedded_documents,
        vocabulary=registry.vocabulary,
        namespaces=namespaces,
        sidecar=BatchingClient(
            sidecar,
            max_items=config.sidecar.batch_max_items,
            on_call=metrics.sidecar_batch.observe,
        ),
        guard=config.guard,
        budget_s=config.sidecar.budget_s,
        namespace_fetch_timeout_s=config.namespaces.fetch_timeout_s,
        metrics=metrics,
    )
    return WebhookServer(
        config, reviewer=reviewer, sidecar=sidecar, namespaces=namespaces, metrics=metrics
    )
