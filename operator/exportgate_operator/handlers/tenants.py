"""Tenant handlers: status on every spec change, re-audit of its workloads, and the expiry
timer that flips the status (and re-audits) when verification or a licence starts or ends."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import datetime, timedelta
from typing import Any

import kopf

from exportgate.core.tenants import effective_verification
from exportgate.logsetup import get_logger
from exportgate_operator.app import App, utcnow
from exportgate_operator.kinds import TENANTS

log = get_logger(__name__)
GROUP, VERSION, PLURAL = TENANTS.group, TENANTS.version, TENANTS.plural
# Wake a little after the instant, so "now >= expiresAt" holds when we look.
SLACK = timedelta(milliseconds=50)
TICK = 1.0  # how often a sleeping timer checks whether it was stopped or woken


def _without_finalizers(registry: kopf.OperatorRegistry) -> None:
    """Run the expiry daemons without a finalizer on Tenants.

    kopf puts a finalizer on every object a daemon runs for, so it can stop the daemon before
    the object goes. We do not need that (the daemon only reads our own state and stops on the
    DELETED event anyway), and the finalizer would cost twice: the operator would need write
    access to Tenants themselves (it has only their status), and nobody could delete a Tenant
    while the operator is down. kopf has no public switch for this, hence the registry edit;
    tests/operator/test_rbac.py fails loudly if a kopf upgrade brings the finalizer back.
    """
    spawning = registry._spawning
    spawning._handlers = [
        dataclasses.replace(handler, requires_finalizer=False)
        for handler in spawning._handlers
    ]


async def _sleep_until(
    wake_at: datetime, waker: asyncio.Event, stopped: kopf.DaemonStopped
) -> bool:
    """Sleep until `wake_at`; True when cut short by `waker` or `stopped` instead.

    Sleeps in short ticks so a stop request is noticed within one tick.
    """
    while not stopped:
        remaining = (wake_at - utcnow()).total_seconds()
        if remaining <= 0:
            return False
        try:
            await asyncio.wait_for(waker.wait(), timeout=min(TICK, remaining))
            return True
        except TimeoutError:
            continue
    return True


def register(registry: kopf.OperatorRegistry, app: App) -> None:
    @kopf.on.resume(GROUP, VERSION, PLURAL, registry=registry)
    async def resumed(body: kopf.Body, name: str, **_: Any) -> None:
        app.world.set_tenant(body)
        app.reaudit_soon(name, reason="operator started")

    @kopf.on.create(GROUP, VERSION, PLURAL, registry=registry)
    @kopf.on.update(GROUP, VERSION, PLURAL, field="spec", registry=registry)
    async def changed(body: kopf.Body, name: str, reason: str, **_: Any) -> None:
        record = app.world.set_tenant(body)
        if record.error is not None:
            log.warning("tenant spec rejected by the core", tenant=name,
                        error=record.error.describe())
        await app.reaudit([name], reason=f"Tenant {name} {reason}d")

    # A watch event, not on.delete: a delete handler would need a finalizer, and a finalizer
    # would stop anyone deleting a Tenant while the operator is down.
    @kopf.on.event(GROUP, VERSION, PLURAL, registry=registry)
    async def deleted(event: kopf.RawEvent, name: str, **_: Any) -> None:
        if event.get("type") != "DELETED":
            return
        app.world.drop_tenant(name)
        # Its workloads now belong to no tenant: re-audit them as such.
        await app.auditor.audit([name], reason=f"Tenant {name} deleted")

    # Stop requests are noticed within a TICK; cancel only if that somehow does not happen.
    @kopf.daemon(
        GROUP,
        VERSION,
        PLURAL,
        cancellation_backoff=3 * TICK,
        cancellation_timeout=5.0,
        registry=registry,
    )
    async def expiry_timer(name: str, stopped: kopf.DaemonStopped, **_: Any) -> None:
        """Sleep until the tenant's next transition, then publish and re-audit.

        Spec changes wake the timer (World.wake) so it re-plans at once; it never needs anyone
        to touch the tenant or its workloads for an expiry to take effect. With
        --audit-interval it also re-audits the tenant periodically, which catches workloads
        admitted while the webhook was unreachable (if it fails open).
        """
        waker = app.world.waker(name)
        while not stopped:
            waker.clear()
            now = utcnow()
            planned = app.world.next_transition(name, now) if app.world.tenant(name) else None
            candidates = [now + timedelta(seconds=app.config.resync_seconds)]
            if planned:
                candidates.append(planned + SLACK)
            periodic = app.next_periodic_audit(name)
            if periodic:
                candidates.append(periodic)
            wake_at = min(candidates)
            if await _sleep_until(wake_at, waker, stopped):
                continue  # woken or stopped: re-plan (or leave)
            now = utcnow()
            if planned is not None and now >= planned:
                tenant = app.world.tenant(name)
                state = effective_verification(tenant, now).value if tenant else "Unbound"
                log.info("tenant transition", tenant=name, verification=state)
                await asyncio.to_thread(
                    app.tenant_event,
                    name,
                    "Normal" if state == "Verified" else "Warning",
                    f"Verification{state}",
                    f"verification is now {state} (transition at {planned.isoformat()}); "
                    "re-auditing the tenant's workloads",
                )
                reason = f"Tenant {name} verification now {state} at {planned.isoformat()}"
                await app.reaudit([name], reason=reason)
            elif periodic is not None and now >= periodic:
                await app.reaudit([name], reason=f"periodic re-audit of Tenant {name}")

    _without_finalizers(registry)
