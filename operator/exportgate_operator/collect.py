"""Collect: the running workloads of some tenants, read from the API server (blocking calls).

A tenant's workloads are the objects of every guarded kind (the kind table, as served here:
`guarded.GuardedResources`) in its namespaces (labelled `exportgate.dev/tenant=<name>`) and
the cluster-scoped ones carrying that label itself (node pools). Finished Pods and objects
being deleted are history, not workloads.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from exportgate.core.extract.dra_refs import DraObjects
from exportgate.core.tenancy import TENANT_LABEL, tenant_label
from exportgate.logsetup import get_logger
from exportgate_operator.guarded import GuardedResources
from exportgate_operator.kinds import NAMESPACES, PODS, Resource
from exportgate_operator.kube import Kube, KubeError
from exportgate_operator.settings import OperatorConfig

FINISHED_PHASES = frozenset({"Succeeded", "Failed"})

log = get_logger(__name__)


@dataclass(slots=True)
class Collected:
    objects: list[tuple[dict[str, Any], str | None]] = field(default_factory=list)
    """(object, owning tenant) for every running workload found."""
    namespaces: dict[str, str] = field(default_factory=dict)
    """namespace -> tenant for every namespace looked at (each gets a report, even empty)."""
    dra: DraObjects | None = None
    """The claims, claim templates and DeviceClasses DRA references are judged with."""


def tenant_of(obj: Mapping[str, Any]) -> str | None:
    return tenant_label(obj)


def running(obj: Mapping[str, Any]) -> bool:
    """Finished Pods and objects being deleted are history, not running workloads."""
    if (obj.get("metadata") or {}).get("deletionTimestamp"):
        return False
    if obj.get("kind") == PODS.kind:
        return (obj.get("status") or {}).get("phase") not in FINISHED_PHASES
    return True


class Collector:
    def __init__(self, kube: Kube, config: OperatorConfig, kinds: GuardedResources) -> None:
        self.kube = kube
        self.config = config
        self.kinds = kinds
        self._served: dict[Resource, bool] = {}

    def served(self, resource: Resource) -> bool:
        """Whether the API serves `resource`, asked once per kind and remembered when true (a
        missing CRD, e.g. Karpenter's, is asked about again next time)."""
        if not self._served.get(resource):
            try:
                self._served[resource] = self.kube.has_resource(resource)
            except KubeError as exc:
                log.warning("discovery failed", resource=resource.plural, error=str(exc))
                return False
        return self._served[resource]

    def tenant_namespaces(self, names: set[str] | None) -> dict[str, str]:
        """namespace -> tenant for the tenant namespaces this operator handles."""
        found: dict[str, str] = {}
        for ns in self.kube.each(NAMESPACES, label_selector=TENANT_LABEL):
            name = str(ns["metadata"]["name"])
            tenant = tenant_of(ns)
            if tenant is None or (names is not None and tenant not in names):
                continue
            if self.config.namespaces and name not in self.config.namespaces:
                continue
            found[name] = tenant
        return found

    def collect(self, names: set[str] | None) -> Collected:
        """The running workloads of the tenants `names` (None: every tenant)."""
        found = Collected(namespaces=self.tenant_namespaces(names))
        kinds = self.kinds.served()
        for namespace, tenant in sorted(found.namespaces.items()):
            for resource in (r for r in kinds if r.namespaced):
                found.objects += [
                    (obj, tenant) for obj in self.kube.each(resource, namespace) if running(obj)
                ]
        for resource in (r for r in kinds if not r.namespaced):
            for obj in self.kube.each(resource, label_selector=TENANT_LABEL):
                owner = tenant_of(obj)
                if owner and (names is None or owner in names) and running(obj):
                    found.objects.append((obj, owner))
        found.dra = self.kinds.dra_objects(obj for obj, _ in found.objects)
        return found
