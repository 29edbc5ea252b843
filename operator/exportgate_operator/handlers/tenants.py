"""Tenant handlers: status on every spec change, re-audit of its workloads, and the tenant's
timer (`timers.py`), started with the tenant and stopped when it is deleted."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

import kopf

from exportgate.logsetup import get_logger
from exportgate_operator.app import App
from exportgate_operator.kinds import TENANTS

log = get_logger(__name__)
GROUP, VERSION, PLURAL = TENANTS.group, TENANTS.version, TENANTS.plural
# Newer generations followed after one handler run before kopf's own update handling takes over.
_CATCH_UP_ROUNDS = 3


def register(registry: kopf.OperatorRegistry, app: App) -> None:
    @kopf.on.resume(GROUP, VERSION, PLURAL, registry=registry)
    async def resumed(body: kopf.Body, name: str, **_: Any) -> None:
        app.world.set_tenant(body)
        app.timers.ensure(name)
        app.reaudit_soon(name, reason="operator started")

    @kopf.on.create(GROUP, VERSION, PLURAL, registry=registry)
    @kopf.on.update(GROUP, VERSION, PLURAL, field="spec", registry=registry)
    async def changed(body: kopf.Body, name: str, reason: str, **_: Any) -> None:
        await follow_spec(app, body, name, reason)

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


async def follow_spec(app: App, body: Mapping[str, Any], name: str, reason: str) -> None:
    """A Tenant's new spec: decide with it, show it in status at once, then re-audit.

    The status is written before the re-audit, not only after it: re-audits run one at a time
    (`ReAuditor`), so behind a long one (every tenant's workloads, after a policy change) a KYC
    decision such as a revocation would not show in status, nor its conditions, until the
    queue had drained. The re-audit then writes it again with the workload counts.

    A spec edit that lands while this runs (its re-audit can take seconds) was seen to be lost
    by kopf's change detection, leaving status and decisions on the superseded spec. So the
    Tenant is read again afterwards and any newer generation followed the same way, until none
    is newer (at most `_CATCH_UP_ROUNDS` times)."""
    handled = await _apply(app, body, name, reason)
    for _ in range(_CATCH_UP_ROUNDS):
        latest = await asyncio.to_thread(app.kube.get, TENANTS, name)
        generation = ((latest or {}).get("metadata") or {}).get("generation")
        if latest is None or generation is None or handled is None:
            return
        if int(generation) <= handled:
            return
        handled = await _apply(app, latest, name, "update")


async def _apply(app: App, body: Mapping[str, Any], name: str, reason: str) -> int | None:
    """Take `body` as the tenant's record (its timer running), write its status, re-audit;
    the generation taken."""
    record = app.world.set_tenant(body)
    if record.error is not None:
        log.warning("tenant spec rejected by the core", tenant=name,
                    error=record.error.describe())  # fmt: skip
    app.timers.ensure(name)  # started once; a running timer re-plans on the spec's wake-up
    await asyncio.to_thread(app.publish_tenant, name)
    await app.reaudit([name], reason=f"Tenant {name} {reason}d")
    return record.generation
