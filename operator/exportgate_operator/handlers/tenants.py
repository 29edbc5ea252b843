"""Tenant handlers: status on every spec change, re-audit of its workloads, and the tenant's
timer (`timers.py`), started with the tenant and stopped when it is deleted."""

from __future__ import annotations

from typing import Any

import kopf

from exportgate.logsetup import get_logger
from exportgate_operator.app import App
from exportgate_operator.kinds import TENANTS

log = get_logger(__name__)
GROUP, VERSION, PLURAL = TENANTS.group, TENANTS.version, TENANTS.plural


def register(registry: kopf.OperatorRegistry, app: App) -> None:
    @kopf.on.resume(GROUP, VERSION, PLURAL, registry=registry)
    async def resumed(body: kopf.Body, name: str, **_: Any) -> None:
        app.world.set_tenant(body)
        app.timers.ensure(name)
        app.reaudit_soon(name, reason="operator started")

    @kopf.on.create(GROUP, VERSION, PLURAL, registry=registry)
    @kopf.on.update(GROUP, VERSION, PLURAL, field="spec", registry=registry)
    async def changed(body: kopf.Body, name: str, reason: str, **_: Any) -> None:
        record = app.world.set_tenant(body)
        if record.error is not None:
            log.warning("tenant spec rejected by the core", tenant=name,
                        error=record.error.describe())
        app.timers.ensure(name)
        await app.reaudit([name], reason=f"Tenant {name} {reason}d")

    # A watch event, not on.delete: a delete handler would need a finalizer, and a finalizer
    # would stop anyone deleting a Tenant while the operator is down.
    @kopf.on.event(GROUP, VERSION, PLURAL, registry=registry)
    async def deleted(event: kopf.RawEvent, name: str, **_: Any) -> None:
        if event.get("type") != "DELETED":
            return
        app.world.drop_tenant(name)
        await app.timers.stop(name)
        # Its workloads now belong to no tenant: re-audit them as such.
        await app.auditor.audit([name], reason=f"Tenant {name} deleted")
