"""Tenancy: which tenant an object belongs to. The one home of the label, the group and the rule.

* `API_GROUP` is exportgate's own API group (Tenant, ExportPolicy, ModelEndpoint).
* `TENANT_LABEL` binds a namespace to a tenant (on the Namespace), or names the tenant of a
  cluster-scoped object (on the object itself).
* The binding rule (`owning_tenant`): a namespaced object belongs to its *namespace's* tenant;
  its own label is ignored, because a tenant may write any label on their own objects. Only a
  cluster-scoped object (a NodePool, a ClusterServingRuntime) speaks for itself.
* `PLATFORM_KINDS` are the exportgate kinds that decide jurisdictions; tenants never edit them.

The webhook, ``exportgate check`` and the operator all decide tenancy with this module.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

API_GROUP = "exportgate.dev"
API_VERSION = f"{API_GROUP}/v1alpha1"
TENANT_LABEL = f"{API_GROUP}/tenant"
PLATFORM_KINDS = frozenset({"Tenant", "ExportPolicy"})
"""Not the whole group: ModelEndpoint is a tenant's own workload, evaluated like any other."""


def tenant_label(obj: Mapping[str, Any] | None) -> str | None:
    """The object's own tenant label, if it has a non-empty one."""
    if not isinstance(obj, Mapping):
        return None
    metadata = obj.get("metadata")
    labels = metadata.get("labels") if isinstance(metadata, Mapping) else None
    if not isinstance(labels, Mapping):
        return None
    value = labels.get(TENANT_LABEL)
    if value is None or value == "":
        return None
    return value if isinstance(value, str) else str(value)


def is_namespace(group: str, kind: str) -> bool:
    return group == "" and kind == "Namespace"


def owning_tenant(
    *, cluster_scoped: bool, own_label: str | None, namespace_tenant: str | None
) -> str | None:
    """The tenant an object belongs to: its namespace's, or its own label's if cluster-scoped."""
    if cluster_scoped:
        return own_label or None
    return namespace_tenant or None
