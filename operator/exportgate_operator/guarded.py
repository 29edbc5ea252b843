"""The kinds the operator re-audits: the kind table (exportgate.core.kinds), as served here.

THE list of re-audited kinds is that table; this module only finds where each is served.

Re-audit covers every kind admission guards: the table is derived from the adapter files, and
each kind is looked up in the API server's discovery (its preferred version, real plural and
scope). A kind whose CRD is not installed is skipped and asked about again on the next audit.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from exportgate.core.extract import AdapterRegistry
from exportgate.core.extract.dra_refs import DraObjects
from exportgate.core.kinds import GuardedKind, guarded_kinds
from exportgate.logsetup import get_logger
from exportgate_operator.kinds import DEVICE_CLASSES, Resource, resource_for
from exportgate_operator.kube import Kube, KubeError, discover

log = get_logger(__name__)


class GuardedResources:
    """Discovery of the kind table's kinds, remembered once found."""

    def __init__(self, kube: Kube, registry: AdapterRegistry) -> None:
        self.kube = kube
        self.registry = registry
        self._found: dict[tuple[str, str], Resource] = {}

    def served(self) -> list[Resource]:
        """Every guarded workload kind the API serves now (platform kinds left out).

        Discovery costs one request for the list of groups and one per served group version,
        whatever the size of the table (most clusters install few of its CRDs). Kinds found
        missing are looked for again on every audit, so a CRD installed a moment ago is audited
        at once (that costs one request).
        """
        found: list[Resource] = []
        wanted = [
            entry
            for entry in guarded_kinds(self.registry)
            if not entry.platform and (entry.group, entry.kind) not in self._found
        ]
        if wanted:
            try:
                self._discover(wanted)
            except KubeError as exc:
                log.warning("discovery failed", error=str(exc))
        for entry in guarded_kinds(self.registry):
            resource = self._found.get((entry.group, entry.kind))
            if resource is not None:
                found.append(resource)
        return found

    def _discover(self, wanted: list[GuardedKind]) -> None:
        groups = {
            str(group.get("name")): group
            for group in self.kube.request("GET", "/apis").get("groups") or ()
        }
        listings: dict[str, dict[str, Any]] = {}
        for entry in wanted:
            version = self._version(entry, groups)
            resource = None
            if version is not None:
                base = f"/apis/{entry.group}/{version}" if entry.group else f"/api/{version}"
                if base not in listings:
                    listings[base] = self.kube.request("GET", base)
                for item in listings[base].get("resources") or ():
                    if item.get("kind") == entry.kind and "/" not in str(item.get("name", "")):
                        resource = Resource(
                            entry.group, version, str(item["name"]), entry.kind,
                            bool(item.get("namespaced")),
                        )  # fmt: skip
                        break
            if resource is not None:
                self._found[(entry.group, entry.kind)] = resource

    @staticmethod
    def _version(entry: GuardedKind, groups: dict[str, Any]) -> str | None:
        if not entry.group:
            return "v1"
        group = groups.get(entry.group)
        if group is None:
            return None
        served = [str(v.get("version")) for v in group.get("versions") or ()]
        if entry.versions:
            return next((v for v in entry.versions if v in served), None)
        return str((group.get("preferredVersion") or {}).get("version") or "") or None

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
