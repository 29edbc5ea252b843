"""Where the kinds the operator reads or writes by name live in the API."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from exportgate.core.tenancy import API_GROUP, API_VERSION

GROUP, VERSION = API_GROUP, API_VERSION.removeprefix(f"{API_GROUP}/")


@dataclass(frozen=True, slots=True)
class Resource:
    """Where a kind lives in the API: group ('' for core), version, plural, scope."""

    group: str
    version: str
    plural: str
    kind: str
    namespaced: bool = True

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    def path(self, namespace: str | None = None, name: str | None = None, sub: str = "") -> str:
        base = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        if self.namespaced and namespace:
            base += f"/namespaces/{quote(namespace)}"
        base += f"/{self.plural}"
        if name:
            base += f"/{quote(name)}"
        if sub:
            base += f"/{sub}"
        return base


# The kinds the operator reads or writes.
TENANTS = Resource(GROUP, VERSION, "tenants", "Tenant", namespaced=False)
POLICIES = Resource(GROUP, VERSION, "exportpolicies", "ExportPolicy", False)
ENDPOINTS = Resource(GROUP, VERSION, "modelendpoints", "ModelEndpoint")
NAMESPACES = Resource("", "v1", "namespaces", "Namespace", namespaced=False)
NODES = Resource("", "v1", "nodes", "Node", namespaced=False)
PODS = Resource("", "v1", "pods", "Pod")
EVENTS = Resource("", "v1", "events", "Event")
DEPLOYMENTS = Resource("apps", "v1", "deployments", "Deployment")
STATEFULSETS = Resource("apps", "v1", "statefulsets", "StatefulSet")
DAEMONSETS = Resource("apps", "v1", "daemonsets", "DaemonSet")
JOBS = Resource("batch", "v1", "jobs", "Job")
CRONJOBS = Resource("batch", "v1", "cronjobs", "CronJob")
NODEPOOLS = Resource("karpenter.sh", "v1", "nodepools", "NodePool", namespaced=False)
CLUSTER_PEERINGS = Resource("kopf.dev", "v1", "clusterkopfpeerings", "ClusterKopfPeering", False)
PEERINGS = Resource("kopf.dev", "v1", "kopfpeerings", "KopfPeering")
POLICY_REPORTS = Resource("wgpolicyk8s.io", "v1alpha2", "policyreports", "PolicyReport")
CLUSTER_POLICY_REPORTS = Resource(
    "wgpolicyk8s.io", "v1alpha2", "clusterpolicyreports", "ClusterPolicyReport", False
)

DEVICE_CLASSES = Resource("resource.k8s.io", "v1", "deviceclasses", "DeviceClass", False)

# The kinds the operator itself reads or writes by name. The kinds it re-audits are not listed
# here: they come from the kind table (exportgate.core.kinds), found by discovery
# (guarded.GuardedResources).
KNOWN: tuple[Resource, ...] = (
    PODS, DEPLOYMENTS, STATEFULSETS, DAEMONSETS, JOBS, CRONJOBS, ENDPOINTS, NODEPOOLS,
    TENANTS, POLICIES, NODES,
)


def resource_for(api_version: str, kind: str) -> Resource | None:
    for resource in KNOWN:
        if resource.api_version == api_version and resource.kind == kind:
            return resource
    return None


def ref(obj: Mapping[str, Any]) -> str:
    """`Kind/namespace/name` of an object, for logs."""
    meta = obj.get("metadata") or {}
    where = f"{meta.get('namespace')}/" if meta.get("namespace") else ""
    return f"{obj.get('kind')}/{where}{meta.get('name')}"
