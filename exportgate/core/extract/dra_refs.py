"""The DRA objects a claim or a pod refers to: DeviceClasses, ResourceClaimTemplates, claims.

A device request names a DeviceClass, and a pod names ResourceClaims or ResourceClaimTemplates;
what they can allocate is only known by reading those objects. `DraObjects` holds the ones at
hand: the webhook fills it from the API server, ``exportgate check`` from its input documents.
A reference that cannot be read is an unknown accelerator, never "nothing": exportgate does not
admit as harmless what it cannot read.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

DRA_GROUP = "resource.k8s.io"
DEVICE_CLASS = "DeviceClass"
CLAIM = "ResourceClaim"
CLAIM_TEMPLATE = "ResourceClaimTemplate"

_Key = tuple[str, str]  # (namespace, name)


def _empty() -> Mapping[Any, Mapping[str, Any]]:
    return MappingProxyType({})


@dataclass(frozen=True, slots=True)
class DraObjects:
    """DeviceClasses by name; claims and claim templates by (namespace, name)."""

    device_classes: Mapping[str, Mapping[str, Any]] = field(default_factory=_empty)
    claims: Mapping[_Key, Mapping[str, Any]] = field(default_factory=_empty)
    claim_templates: Mapping[_Key, Mapping[str, Any]] = field(default_factory=_empty)

    @classmethod
    def from_objects(cls, objects: Iterable[object]) -> DraObjects:
        """Pick the DRA objects out of any list of Kubernetes objects (others are ignored)."""
        classes: dict[str, Mapping[str, Any]] = {}
        claims: dict[_Key, Mapping[str, Any]] = {}
        templates: dict[_Key, Mapping[str, Any]] = {}
        for obj in objects:
            if not isinstance(obj, Mapping):
                continue
            api_version = obj.get("apiVersion")
            if not isinstance(api_version, str) or not api_version.startswith(DRA_GROUP + "/"):
                continue
            metadata = obj.get("metadata")
            if not isinstance(metadata, Mapping) or not isinstance(metadata.get("name"), str):
                continue
            name = metadata["name"]
            namespace = (
                metadata.get("namespace") if isinstance(metadata.get("namespace"), str) else ""
            )
            kind = obj.get("kind")
            if kind == DEVICE_CLASS:
                classes[name] = obj
            elif kind == CLAIM:
                claims[(namespace or "", name)] = obj
            elif kind == CLAIM_TEMPLATE:
                templates[(namespace or "", name)] = obj
        return cls(MappingProxyType(classes), MappingProxyType(claims), MappingProxyType(templates))

    def merged(self, other: DraObjects) -> DraObjects:
        return DraObjects(
            MappingProxyType({**self.device_classes, **other.device_classes}),
            MappingProxyType({**self.claims, **other.claims}),
            MappingProxyType({**self.claim_templates, **other.claim_templates}),
        )

    def claim(self, namespace: str | None, name: str) -> Mapping[str, Any] | None:
        return self.claims.get((namespace or "", name))

    def claim_template(self, namespace: str | None, name: str) -> Mapping[str, Any] | None:
        return self.claim_templates.get((namespace or "", name))


NO_DRA_OBJECTS = DraObjects()
