"""Kubernetes objects the demo installs besides exportgate's own: CRDs, RBAC, webhook rules.

* exportgate's CRDs come from the operator (`operator/crds/*.yaml`). Until those exist, the
  demo installs schemaless stand-ins (same group, kinds, scope and status subresource) so the
  sidecar can watch Tenants and ModelEndpoints can be created; the demo says so when it does.
* Karpenter's NodePool CRD is a minimal schemaless copy: the demo needs the API server to accept
  `karpenter.sh/v1 NodePool` objects (so the webhook is asked about them), not Karpenter itself.
* RBAC gives each identity only what its part of the story needs, so what a tenant sees is
  what a tenant would see.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
OPERATOR_CRDS = REPO / "operator" / "crds"

TENANT_LABEL = "exportgate.dev/tenant"
PLATFORM_GROUP = "exportgate:platform"
OPERATOR_USER = "exportgate-operator"

Obj = dict[str, Any]


def operator_crd_files() -> list[Path]:
    """The operator's generated CRDs, if they have been generated."""
    if not OPERATOR_CRDS.is_dir():
        return []
    # optional/: CRDs a real cluster may already have (wg-policy PolicyReports); a fresh API
    # server has none, so the demo installs them too.
    return sorted(OPERATOR_CRDS.glob("*.yaml")) + sorted(OPERATOR_CRDS.glob("optional/*.yaml"))


def schemaless_crd(
    group: str, version: str, kind: str, plural: str, *, namespaced: bool, status: bool = True
) -> Obj:
    """A CRD that stores any object of the kind: enough for admission to see it."""
    served: Obj = {
        "name": version,
        "served": True,
        "storage": True,
        "schema": {
            "openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
        },
    }
    if status:
        served["subresources"] = {"status": {}}
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.{group}"},
        "spec": {
            "group": group,
            "scope": "Namespaced" if namespaced else "Cluster",
            "names": {
                "kind": kind,
                "plural": plural,
                "singular": kind.lower(),
                "listKind": f"{kind}List",
            },
            "versions": [served],
        },
    }


def stand_in_exportgate_crds() -> list[Obj]:
    return [
        schemaless_crd("exportgate.dev", "v1alpha1", "Tenant", "tenants", namespaced=False),
        schemaless_crd(
            "exportgate.dev", "v1alpha1", "ExportPolicy", "exportpolicies", namespaced=False
        ),
        schemaless_crd(
            "exportgate.dev", "v1alpha1", "ModelEndpoint", "modelendpoints", namespaced=True
        ),
    ]


def karpenter_nodepool_crd() -> Obj:
    return schemaless_crd("karpenter.sh", "v1", "NodePool", "nodepools", namespaced=False)


def _rule(groups: Sequence[str], resources: Sequence[str], verbs: Sequence[str]) -> Obj:
    return {"apiGroups": list(groups), "resources": list(resources), "verbs": list(verbs)}


READ_WRITE = ("get", "list", "watch", "create", "update", "patch", "delete")
READ = ("get", "list", "watch")


def tenant_rbac(tenant: str, namespace: str, group: str) -> list[Obj]:
    """A tenant's developers: workloads and model endpoints in their namespace, read their
    own Tenant. Nothing else: in particular they cannot edit the Tenant or any policy."""
    return [
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "Role",
            "metadata": {"name": "tenant-developer", "namespace": namespace},
            "rules": [
                _rule([""], ["pods", "configmaps"], READ_WRITE),
                _rule(["apps"], ["deployments", "replicasets", "statefulsets"], READ_WRITE),
                _rule(["batch"], ["jobs", "cronjobs"], READ_WRITE),
                _rule(["exportgate.dev"], ["modelendpoints"], READ_WRITE),
                _rule(["events.k8s.io", ""], ["events"], READ),
                _rule(["wgpolicyk8s.io"], ["policyreports"], READ),
            ],
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": {"name": "tenant-developer", "namespace": namespace},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "Role",
                "name": "tenant-developer",
            },
            "subjects": [{"kind": "Group", "name": group, "apiGroup": "rbac.authorization.k8s.io"}],
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRole",
            "metadata": {"name": f"tenant-{tenant}-reader"},
            "rules": [
                {
                    "apiGroups": ["exportgate.dev"],
                    "resources": ["tenants"],
                    "resourceNames": [tenant],
                    "verbs": ["get"],
                }
            ],
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": f"tenant-{tenant}-reader"},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": f"tenant-{tenant}-reader",
            },
            "subjects": [{"kind": "Group", "name": group, "apiGroup": "rbac.authorization.k8s.io"}],
        },
    ]


def platform_rbac() -> list[Obj]:
    """Platform engineers (not cluster admins) provision node pools for tenants."""
    return [
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRole",
            "metadata": {"name": "exportgate-demo-platform"},
            "rules": [_rule(["karpenter.sh"], ["nodepools"], READ_WRITE)],
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": "exportgate-demo-platform"},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": "exportgate-demo-platform",
            },
            "subjects": [
                {"kind": "Group", "name": PLATFORM_GROUP, "apiGroup": "rbac.authorization.k8s.io"}
            ],
        },
    ]


# What the webhook is asked about. Namespaces (and exportgate.dev resources) for the tenancy
# guard; the rest because they can ask for accelerators or models.
_WORKLOAD_RULES: list[tuple[str, list[str]]] = [
    ("", ["pods"]),
    ("apps", ["deployments", "replicasets", "statefulsets", "daemonsets"]),
    ("batch", ["jobs", "cronjobs"]),
    ("karpenter.sh", ["nodepools"]),
    ("exportgate.dev", ["modelendpoints"]),
]


def webhook_rules(validating: bool) -> list[Obj]:
    rules = [
        {
            "operations": ["CREATE", "UPDATE"],
            "apiGroups": [group],
            "apiVersions": ["*"],
            "resources": resources,
            "scope": "*",
        }
        for group, resources in _WORKLOAD_RULES
    ]
    if validating:
        rules.append(
            {
                "operations": ["CREATE", "UPDATE"],
                "apiGroups": [""],
                "apiVersions": ["v1"],
                "resources": ["namespaces"],
                "scope": "*",
            }
        )
        rules.append(
            {
                "operations": ["CREATE", "UPDATE", "DELETE"],
                "apiGroups": ["exportgate.dev"],
                "apiVersions": ["*"],
                "resources": ["tenants", "exportpolicies"],
                "scope": "*",
            }
        )
    return rules


def not_the_operator() -> list[Obj]:
    """The operator's own writes (violation annotations on workloads that are already running)
    are reports, not requests for compute: they must not be re-judged, or a violating workload
    could never be annotated."""
    return [
        {
            "name": "not-the-exportgate-operator",
            "expression": f"request.userInfo.username != '{OPERATOR_USER}'",
        }
    ]
