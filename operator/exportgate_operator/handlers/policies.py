"""ExportPolicy handlers: compile, report the outcome in status, and when what is served
changes, refresh every tenant's status and re-audit every tenant's workloads."""

from __future__ import annotations

import asyncio
from typing import Any

import kopf

from exportgate.logsetup import get_logger
from exportgate_operator.app import App
from exportgate_operator.kinds import POLICIES

log = get_logger(__name__)
GROUP, VERSION, PLURAL = POLICIES.group, POLICIES.version, POLICIES.plural


async def _served_set_changed(app: App, reason: str) -> None:
    for name in app.world.policy_names():
        await asyncio.to_thread(app.publish_policy, name)  # engineVersion moved
    for name in app.world.tenant_names():
        app.world.wake(name)  # rule dates are transitions: the timers re-plan
    await app.reaudit(None, reason=reason)


def register(registry: kopf.OperatorRegistry, app: App) -> None:
    @kopf.on.resume(GROUP, VERSION, PLURAL, registry=registry)
    async def resumed(body: kopf.Body, name: str, **_: Any) -> None:
        before = app.world.engine.version
        app.world.set_policy(body)
        await asyncio.to_thread(app.publish_policy, name)
        if app.world.engine.version != before:
            await _served_set_changed(app, f"ExportPolicy {name} resumed")

    @kopf.on.create(GROUP, VERSION, PLURAL, registry=registry)
    @kopf.on.update(GROUP, VERSION, PLURAL, field="spec", registry=registry)
    async def changed(body: kopf.Body, name: str, reason: str, **_: Any) -> None:
        before = app.world.engine.version
        record = app.world.set_policy(body)
        if record.error is not None and record.compiled is None:
            log.warning("policy does not compile", policy=name, error=record.error.describe())
        await asyncio.to_thread(app.publish_policy, name)
        if app.world.engine.version != before:
            await _served_set_changed(app, f"ExportPolicy {name} {reason}d")

    # A watch event, not on.delete: no finalizer that would block deletes while we are down.
    @kopf.on.event(GROUP, VERSION, PLURAL, registry=registry)
    async def deleted(event: kopf.RawEvent, name: str, **_: Any) -> None:
        if event.get("type") == "DELETED" and app.world.drop_policy(name):
            await _served_set_changed(app, f"ExportPolicy {name} deleted")
