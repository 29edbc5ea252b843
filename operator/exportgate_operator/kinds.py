"""The kinds the operator re-audits: the kind table (exportgate.core.kinds), as served here.

Re-audit covers every kind admission guards: the table is derived from the adapter files, and
each kind is looked up in the API server's discovery (its preferred version, real plural and
scope). A kind whose CRD is not installed is skipped and asked about again on the next audit.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from exportgate.core.extract import AdapterRegistry
from exportgate.core.extract.dra_refs import DraObjects
from exportgate.core.kinds import guarded_kinds
from exportgate_operator.kube import (
    DEVICE_CLASSES,
    Kube,
    KubeError,
    Resource,
    discover,
    resource_for,
)
from exportgate_operator.logconfig import get_logger

log = get_logger(__name__)


class GuardedResources:
    """Discovery of the kind table's kinds, remembered once found."""

    def __init__(self, kube: Kube, registry: AdapterRegistry) -> None:
        self.kube = kube
        self.registry = registry
        self._found: dict[tuple[str, str], Resource] = {}

    def served(self) -> list[Resource]:
        """Every guarded workload kind the API serves now (platform kinds left out)."""
        found: list[Resource] = []
        for entry in guarded_kinds(self.registry):
            if entry.platform:
                continue
            resource = self._found.get((entry.group, entry.kind))
            if resource is None:
                try:
                    resource = discover(self.kube, entry.group, entry.kind, entry.versions)
                except KubeError as exc:
                    log.warning("discovery failed", kind=entry.kind, error=str(exc))
                    continue
                if resource is None:
                    continue
                self._found[(entry.group, entry.kind)] = resource
            found.append(resource)
        return found

    def resource_for(self, api_version: str, kind: str) -> Resource | None:
        for resource in self._found.values():
            if resource.api_version == api_version and resource.kind == kind:
                return resource
        return resource_for(api_version, kind)

    def dra_objects(self, objects: Iterable[dict[str, Any]]) -> DraObjects:
        """Claims and claim templates among `objects`, plus the cluster's DeviceClasses."""
        classes: list[dict[str, Any]] = []
        try:
            served = discover(self.kube, DEVICE_CLASSES.group, DEVICE_CLASSES.kind)
            if served is not None:
                classes = list(self.kube.each(served))
        except KubeError as exc:
            log.warning("cannot list DeviceClasses", error=str(exc))
        return DraObjects.from_objects([*objects, *classes])
