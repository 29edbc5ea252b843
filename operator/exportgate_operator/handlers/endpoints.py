"""ModelEndpoint handlers: decide the request when it is made or changed, and say so in status.

Re-decisions after tenant or policy changes come from the re-audit, which writes the same
status; this handler covers the endpoint's own changes.
"""

from __future__ import annotations

import asyncio
from typing import Any

import kopf

from exportgate.core.errors import InputError
from exportgate.core.tenancy import TENANT_LABEL
from exportgate_operator.app import App, utcnow
from exportgate_operator.kinds import ENDPOINTS, NAMESPACES
from exportgate_operator.status import endpoint_status
from exportgate_operator.world import plain

GROUP, VERSION, PLURAL = ENDPOINTS.group, ENDPOINTS.version, ENDPOINTS.plural


def _namespace_tenant(app: App, namespace: str) -> str | None:
    ns = app.kube.get(NAMESPACES, namespace) or {}
    value = ((ns.get("metadata") or {}).get("labels") or {}).get(TENANT_LABEL)
    return str(value) if value else None


def register(registry: kopf.OperatorRegistry, app: App) -> None:
    @kopf.on.resume(GROUP, VERSION, PLURAL, registry=registry)
    @kopf.on.create(GROUP, VERSION, PLURAL, registry=registry)
    @kopf.on.update(GROUP, VERSION, PLURAL, field="spec", registry=registry)
    async def decide(
        body: kopf.Body, namespace: str | None, status: kopf.Status, patch: kopf.Patch, **_: Any
    ) -> None:
        tenant_name = (
            await asyncio.to_thread(_namespace_tenant, app, namespace) if namespace else None
        )
        obj = plain(body)
        try:
            workload = app.auditor.registry.extract(obj)
        except InputError as exc:
            raise kopf.PermanentError(exc.describe()) from exc
        engine = app.world.engine
        now = utcnow()
        tenant = app.world.tenant(tenant_name) if tenant_name else None
        decision = engine.evaluate(workload, tenant, now, tenant_name=tenant_name)
        (decision_id,) = await app.recorder.record(
            [decision],
            operation="AUDIT",
            extra={"policyVersion": engine.version},
            inputs=[(workload, tenant)],
        )
        patch.status.update(
            endpoint_status(
                decision,
                decision_id,
                now,
                generation=(obj.get("metadata") or {}).get("generation"),
                existing=plain(status),
            )
        )
