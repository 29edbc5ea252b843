"""Keep each Tenant's reader ClusterRole and binding (see exportgate_operator.tenant_roles).

Separate handlers from the status ones in handlers/tenants.py, so a failed RBAC write is retried
by kopf on its own without re-running the tenant's re-audit.
"""

from __future__ import annotations

import asyncio
from typing import Any

import kopf

from exportgate.logsetup import get_logger
from exportgate_operator.app import App
from exportgate_operator.kinds import TENANTS
from exportgate_operator.tenant_roles import TenantRoles

log = get_logger(__name__)
GROUP, VERSION, PLURAL = TENANTS.group, TENANTS.version, TENANTS.plural


def register(registry: kopf.OperatorRegistry, app: App) -> None:
    roles = TenantRoles(app.kube, app.config.tenant_group_format)

    @kopf.on.resume(GROUP, VERSION, PLURAL, registry=registry)
    @kopf.on.create(GROUP, VERSION, PLURAL, registry=registry)
    async def reader_role(name: str, uid: str, **_: Any) -> None:
        await asyncio.to_thread(roles.ensure, name, uid)
        log.info("tenant reader role in place", tenant=name, group=roles.group(name))

    # On the watch event, like the tenant's own deletion handler: on.delete would need a
    # finalizer. The ownerReferences make the garbage collector do the same; this covers
    # clusters (and test API servers) that run none.
    @kopf.on.event(GROUP, VERSION, PLURAL, registry=registry)
    async def reader_role_gone(event: kopf.RawEvent, name: str, **_: Any) -> None:
        if event.get("type") != "DELETED":
            return
        try:
            await asyncio.to_thread(roles.remove, name)
        except Exception as exc:  # an event handler is not retried: GC still removes them
            log.warning("could not delete tenant reader role", tenant=name, error=str(exc))
