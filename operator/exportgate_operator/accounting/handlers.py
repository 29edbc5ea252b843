"""kopf wiring of compute accounting: the checkpoint loop, Pod deletions, the metrics endpoint.

The loop is a background task started with the operator, not a per-object handler: a pass is
one sweep over every accelerator Pod. One replica at a time holds the accounting Lease (see
lease.py); even two that both ran it could not double count (record writes carry their
resourceVersion; see records.py).
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import kopf
from prometheus_client import CollectorRegistry, start_http_server

from exportgate.logsetup import get_logger
from exportgate_operator.accounting.accountant import Accountant
from exportgate_operator.accounting.lease import Lease
from exportgate_operator.accounting.metrics import AccountingMetrics
from exportgate_operator.accounting.service import ComputeAccounting
from exportgate_operator.app import App

log = get_logger(__name__)


def build(app: App, registry: CollectorRegistry | None = None) -> ComputeAccounting:
    accountant = Accountant(app.kube, app.world, namespaces=app.config.namespaces)
    accounting = ComputeAccounting(
        accountant,
        app.recorder,
        app.events.post,
        app.tenant_event,
        interval=app.config.compute_interval,
        # Standby replicas skip passes while a live one holds the lease.
        lease=None if app.config.standalone else Lease(app.kube, 3 * app.config.compute_interval),
    )
    accounting.metrics = AccountingMetrics(
        registry or CollectorRegistry(auto_describe=True),
        accounting.records,
        lambda: accounting.policy.utilisation,
    )
    return accounting


def register(registry: kopf.OperatorRegistry, app: App) -> ComputeAccounting:
    metrics_registry = CollectorRegistry(auto_describe=True)
    accounting = build(app, metrics_registry)
    tasks: list[asyncio.Task[None]] = []

    @kopf.on.event("", "v1", "pods", registry=registry)
    async def pod_event(event: kopf.RawEvent, body: kopf.Body, **_: Any) -> None:
        if event.get("type") == "DELETED":
            accounting.accountant.pod_deleted(dict(body))

    @kopf.on.startup(registry=registry)
    async def start_accounting(**_: Any) -> None:
        if app.config.metrics_port:
            start_http_server(app.config.metrics_port, registry=metrics_registry)
            log.info("metrics endpoint", port=app.config.metrics_port)
        tasks.append(asyncio.get_running_loop().create_task(accounting.loop()))

    @kopf.on.cleanup(registry=registry)
    async def stop_accounting(**_: Any) -> None:
        for task in tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    return accounting
