"""The ClusterRoles exportgate ships (operator/rbac/*.yaml)."""

from __future__ import annotations

from crd_common import GROUP, PART_OF, Schema

from exportgate.core.kinds import guarded_kinds

# --- RBAC ---------------------------------------------------------------------------------

READ = ["get", "list", "watch"]


def rule(groups: list[str], resources: list[str], verbs: list[str]) -> Schema:
    return {"apiGroups": groups, "resources": resources, "verbs": verbs}


def cluster_role(name: str, description: str, rules: list[Schema], **labels: str) -> Schema:
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": {
            "name": name,
            "labels": {**PART_OF, **labels},
            "annotations": {"exportgate.dev/description": description},
        },
        "rules": rules,
    }


def reaudit_rules() -> list[Schema]:
    """get/list/watch/patch on every guarded workload kind, by group, from the one kind table
    (exportgate's own group has its own rules below)."""
    groups: dict[str, set[str]] = {}
    for entry in guarded_kinds():
        if entry.group != GROUP:
            groups.setdefault(entry.group, set()).add(entry.plural)
    return [rule([g], sorted(plurals), [*READ, "patch"]) for g, plurals in sorted(groups.items())]


def rbac() -> dict[str, Schema]:
    # Why each operator permission exists is in docs/operator.md; nothing here deletes a
    # workload, and only the operator writes status.
    operator = cluster_role(
        "exportgate-operator",
        "The exportgate operator: writes statuses, annotates violators, reports, labels nodes, "
        "keeps each tenant's reader role.",
        [
            # Read-only on specs: kopf's bookkeeping lives in status (see kopf_bookkeeping).
            rule([GROUP], ["tenants", "exportpolicies", "modelendpoints"], READ),
            rule(
                [GROUP],
                ["tenants/status", "exportpolicies/status", "modelendpoints/status"],
                ["get", "patch", "update"],
            ),
            # Re-audit: read every kind of the kind table (exportgate.core.kinds), add/remove
            # the violation annotation; DeviceClasses to judge DRA claims.
            *reaudit_rules(),
            rule(["resource.k8s.io"], ["deviceclasses"], READ),
            rule([""], ["namespaces"], READ),
            rule([""], ["nodes"], [*READ, "patch"]),
            rule(["", "events.k8s.io"], ["events"], ["create", "patch"]),
            rule(
                ["wgpolicyk8s.io"],
                ["policyreports", "clusterpolicyreports"],
                [*READ, "create", "update", "patch", "delete"],
            ),
            # Per-tenant reader roles (exportgate_operator.tenant_roles). The API server lets
            # the operator grant only what it holds itself: get/watch on tenants.
            rule(
                ["rbac.authorization.k8s.io"],
                ["clusterroles", "clusterrolebindings"],
                [*READ, "create", "update", "patch", "delete"],
            ),
            # kopf: discover resources, and elect one active replica.
            rule(["apiextensions.k8s.io"], ["customresourcedefinitions"], READ),
            rule(["kopf.dev"], ["clusterkopfpeerings", "kopfpeerings"], [*READ, "patch"]),
            # Compute accounting: its run records, and one accounting replica at a time
            # (exportgate_operator.accounting.lease). The owners of Pods it climbs through are
            # readable by the re-audit rules above.
            rule([GROUP], ["computeruns"], [*READ, "create"]),
            rule([GROUP], ["computeruns/status"], ["get", "patch", "update"]),
            rule(["coordination.k8s.io"], ["leases"], ["get", "create", "update"]),
        ],
    )
    reader = cluster_role(
        "exportgate-policy-reader",
        "The sidecar and webhook: read tenants, policies and the namespace -> tenant labels, "
        "and the DRA objects a claim or pod refers to.",
        [
            rule([GROUP], ["tenants", "exportpolicies"], READ),
            rule([""], ["namespaces"], READ),
            rule(
                ["resource.k8s.io"],
                ["deviceclasses", "resourceclaims", "resourceclaimtemplates"],
                READ,
            ),
        ],
    )
    kyc = cluster_role(
        "exportgate-kyc-editor",
        "The provider's KYC team: records verification outcomes in Tenant spec.",
        [
            rule([GROUP], ["tenants"], [*READ, "create", "update", "patch"]),
            rule([GROUP], ["tenants/status"], ["get"]),
        ],
    )
    viewer = cluster_role(
        "exportgate-tenant-viewer",
        "The broad alternative to the operator's per-tenant exportgate-tenant-reader:<tenant> "
        "roles: read ANY Tenant (and its status) by name. No list, so the names must be known.",
        [rule([GROUP], ["tenants", "tenants/status"], ["get"])],
    )
    endpoint_edit = cluster_role(
        "exportgate-modelendpoint-editor",
        "Aggregated into the built-in admin/edit roles: tenants manage their ModelEndpoints.",
        [rule([GROUP], ["modelendpoints"], [*READ, "create", "update", "patch", "delete"])],
        **{
            "rbac.authorization.k8s.io/aggregate-to-admin": "true",
            "rbac.authorization.k8s.io/aggregate-to-edit": "true",
        },
    )
    endpoint_view = cluster_role(
        "exportgate-modelendpoint-viewer",
        "Aggregated into the built-in view role.",
        [rule([GROUP], ["modelendpoints", "modelendpoints/status"], READ)],
        **{"rbac.authorization.k8s.io/aggregate-to-view": "true"},
    )
    runs_view = cluster_role(
        "exportgate-computerun-viewer",
        "Aggregated into the built-in view role: read the compute run records of a namespace.",
        [rule([GROUP], ["computeruns", "computeruns/status"], READ)],
        **{"rbac.authorization.k8s.io/aggregate-to-view": "true"},
    )
    return {
        "operator-clusterrole.yaml": operator,
        "policy-reader-clusterrole.yaml": reader,
        "kyc-editor-clusterrole.yaml": kyc,
        "tenant-viewer-clusterrole.yaml": viewer,
        "modelendpoint-editor-clusterrole.yaml": endpoint_edit,
        "modelendpoint-viewer-clusterrole.yaml": endpoint_view,
        "computerun-viewer-clusterrole.yaml": runs_view,
    }


