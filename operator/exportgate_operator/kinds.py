"""The kinds the operator re-audits: the kind table (exportgate.core.kinds), as served here.

Re-audit covers every kind admission guards: the table is derived from the adapter files, and
each kind is looked up in the API server's discovery (its preferred version, real plural and
scope). A kind whose CRD is not installed is skipped and asked about again on the next audit.
"""

from __future__ import annotations

import time
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

    def __init__(
        self, kube: Kube, registry: AdapterRegistry, *, recheck_s: float = 10.0
    ) -> None:
        self.kube = kube
        self.registry = registry
        self.recheck_s = recheck_s
        self._found: dict[tuple[str, str], Resource] = {}
        self._missing: dict[tuple[str, str], float] = {}  # kind -> when it was last looked for

    def served(self) -> list[Resource]:
        """Every guarded workload kind the API serves now (platform kinds left out). A kind
        found missing is looked for again after `recheck_s`, not on every audit: most clusters
        install few of the table's CRDs."""
        found: list[Resource] = []
        now = time.monotonic()
        for entry in guarded_kinds(self.registry):
            if entry.platform:
                continue
            key = (entry.group, entry.kind)
            resource = self._found.get(key)
            if resource is None:
                if now - self._missing.get(key, -self.recheck_s) < self.recheck_s:
                    continue
                try:
                    resource = discover(self.kube, entry.group, entry.kind, entry.versions)
                except KubeError as exc:
                    log.warning("discovery failed", kind=entry.kind, error=str(exc))
                    continue
                if resource is None:
                    self._missing[key] = now
                    continue
                self._found[key] = resource
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
