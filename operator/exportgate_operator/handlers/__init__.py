"""kopf handler registrations, one module per resource; `register_all` wires them up."""

from __future__ import annotations

import kopf

from exportgate_operator.accounting import handlers as accounting
from exportgate_operator.app import App
from exportgate_operator.handlers import (
    endpoints,
    lifecycle,
    namespaces,
    nodes,
    policies,
    tenant_roles,
    tenants,
)


def register_all(registry: kopf.OperatorRegistry, app: App) -> None:
    lifecycle.register(registry, app)
    tenants.register(registry, app)
    policies.register(registry, app)
    endpoints.register(registry, app)
    namespaces.register(registry, app)
    if app.config.tenant_reader_roles:
        tenant_roles.register(registry, app)
    if app.config.label_nodes:
        nodes.register(registry, app)
    # Compute accounting (issue 14): its own package, one touch point here.
    if app.config.compute_interval > 0:
        accounting.register(registry, app)
