"""Namespace handler: a namespace that joins, leaves or changes tenant re-audits both tenants.

Its workloads were admitted under the old owner (or none); from now on they are the new
owner's, and must be judged as such without waiting for anyone to touch them.
"""

from __future__ import annotations

from typing import Any

import kopf

from exportgate.core.tenancy import TENANT_LABEL
from exportgate_operator.app import App


def register(registry: kopf.OperatorRegistry, app: App) -> None:
    owners: dict[str, str | None] = {}

    @kopf.on.event("", "v1", "namespaces", registry=registry)
    async def namespace_event(
        event: kopf.RawEvent, name: str, labels: kopf.Labels, **_: Any
    ) -> None:
        kind = event.get("type")
        if app.config.namespaces and name not in app.config.namespaces:
            return
        now = None if kind == "DELETED" else (labels.get(TENANT_LABEL) or None)
        if kind is None or name not in owners:  # the initial listing: just learn the owner
            owners[name] = now
            return
        before = owners.get(name)
        owners[name] = now
        if kind == "DELETED" or before == now:
            return
        affected = sorted(t for t in (before, now) if t)
        await app.reaudit(affected, reason=f"Namespace {name} moved from {before} to {now}")
