"""Per-tenant read access: a ClusterRole and ClusterRoleBinding that let one tenant's group
`get`/`watch` its own Tenant and no other.

RBAC cannot say "the Tenant named like your group", so the operator writes one role per Tenant
with `resourceNames: [<tenant>]`. Both objects are owned by the Tenant (ownerReferences), so the
API server's garbage collector removes them with it even while the operator is down; the
operator also deletes them itself when it sees the Tenant go, for clusters without one.

The API server's escalation check lets the operator grant only what it holds itself: it holds
get/list/watch on tenants, so the roles can grant get/watch (list cannot be narrowed by
resourceNames at all, which is why a tenant can `kubectl get tenant <name>` but not list).
"""

from __future__ import annotations

import json
from typing import Any

from exportgate.core.tenancy import TENANT_LABEL
from exportgate_operator.kinds import TENANTS, Resource
from exportgate_operator.kube import Kube, KubeError

ROLE_PREFIX = "exportgate-tenant-reader:"
FIELD_MANAGER = "exportgate-operator"
APPLY_PATCH = "application/apply-patch+yaml"
RBAC_GROUP = "rbac.authorization.k8s.io"
CLUSTER_ROLES = Resource(RBAC_GROUP, "v1", "clusterroles", "ClusterRole", namespaced=False)
CLUSTER_ROLE_BINDINGS = Resource(
    RBAC_GROUP, "v1", "clusterrolebindings", "ClusterRoleBinding", namespaced=False
)
MANAGED_BY = {"app.kubernetes.io/managed-by": "exportgate-operator"}
TENANT_ANNOTATION = TENANT_LABEL  # the same key, naming the Tenant a role is for

Obj = dict[str, Any]


def role_name(tenant: str) -> str:
    return f"{ROLE_PREFIX}{tenant}"


def _metadata(tenant: str, uid: str) -> Obj:
    return {
        "name": role_name(tenant),
        "labels": {**MANAGED_BY, "app.kubernetes.io/part-of": "exportgate"},
        # An annotation, not a label: a Tenant name may be longer than a label value (63).
        "annotations": {TENANT_ANNOTATION: tenant},
        # No blockOwnerDeletion: setting it needs update on tenants/finalizers, which the
        # operator deliberately does not hold; GC deletes the dependents either way.
        "ownerReferences": [
            {
                "apiVersion": TENANTS.api_version,
                "kind": TENANTS.kind,
                "name": tenant,
                "uid": uid,
                "controller": True,
            }
        ],
    }


def reader_role(tenant: str, uid: str) -> Obj:
    return {
        "apiVersion": CLUSTER_ROLES.api_version,
        "kind": CLUSTER_ROLES.kind,
        "metadata": _metadata(tenant, uid),
        "rules": [
            {
                "apiGroups": [TENANTS.group],
                "resources": [TENANTS.plural],
                "resourceNames": [tenant],
                "verbs": ["get", "watch"],
            }
        ],
    }


def reader_binding(tenant: str, uid: str, group: str) -> Obj:
    return {
        "apiVersion": CLUSTER_ROLE_BINDINGS.api_version,
        "kind": CLUSTER_ROLE_BINDINGS.kind,
        "metadata": _metadata(tenant, uid),
        "roleRef": {"apiGroup": RBAC_GROUP, "kind": "ClusterRole", "name": role_name(tenant)},
        "subjects": [{"apiGroup": RBAC_GROUP, "kind": "Group", "name": group}],
    }


class TenantRoles:
    """Writes and removes the reader role and binding of each Tenant (blocking calls)."""

    def __init__(self, kube: Kube, group_format: str) -> None:
        self.kube = kube
        self.group_format = group_format

    def group(self, tenant: str) -> str:
        return self.group_format.format(name=tenant)

    def ensure(self, tenant: str, uid: str) -> None:
        """Create or correct both objects. Server-side apply makes this idempotent, and a
        hand-edited rule or subject is put back on the next resume or spec change."""
        self._apply(CLUSTER_ROLES, reader_role(tenant, uid))
        self._apply(CLUSTER_ROLE_BINDINGS, reader_binding(tenant, uid, self.group(tenant)))

    def remove(self, tenant: str) -> None:
        """Delete both objects (the binding first, so the group never holds a dangling ref)."""
        for resource in (CLUSTER_ROLE_BINDINGS, CLUSTER_ROLES):
            try:
                self.kube.request("DELETE", resource.path(None, role_name(tenant)))
            except KubeError as exc:
                if not exc.not_found:
                    raise

    def _apply(self, resource: Resource, obj: Obj) -> None:
        self.kube.request(
            "PATCH",
            resource.path(None, obj["metadata"]["name"]),
            # Serialized here: JSON is valid YAML, and a string body is sent as-is by every
            # version of the client, whatever it thinks of the apply-patch content type.
            body=json.dumps(obj),
            query={"fieldManager": FIELD_MANAGER, "force": "true"},
            content_type=APPLY_PATCH,
        )
