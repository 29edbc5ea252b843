"""What counts as an accelerator: resource names, product-hint labels and DRA device classes.

All of it comes from the adapter data files (``vocabulary:`` sections), so a platform engineer can
teach exportgate a new extended resource or node label without code. Built-in and user sections
are merged: the union of names, minus anything listed as ignored.

Besides what exportgate *knows*, the vocabulary names what merely *looks* like an accelerator
(``suspectResources``, ``suspectLabelKeys``) and the ways a container reaches devices without
asking for a resource (``deviceAccess``). What exportgate cannot identify it does not admit as
harmless: a suspect name becomes an unknown accelerator, decided by the most restrictive rule.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from exportgate.core.extract.selectors import HintKeys


@dataclass(frozen=True, slots=True)
class ResourceNames:
    """Extended-resource names that mean "an accelerator device".

    A pattern ending in ``*`` matches by prefix (``nvidia.com/mig-*`` matches
    ``nvidia.com/mig-1g.10gb``); anything else matches exactly. `ignored` wins over both: it
    removes companion resources that are not devices (``gpu.intel.com/millicores``).
    """

    exact: frozenset[str] = frozenset()
    prefixes: tuple[str, ...] = ()
    ignored: frozenset[str] = frozenset()

    @classmethod
    def of(cls, patterns: Iterable[str], ignored: Iterable[str] = ()) -> ResourceNames:
        exact = {p for p in patterns if not p.endswith("*")}
        prefixes = sorted({p[:-1] for p in patterns if p.endswith("*")})
        return cls(frozenset(exact), tuple(prefixes), frozenset(ignored))

    def matches(self, name: str) -> bool:
        if name in self.ignored:
            return False
        return name in self.exact or name.startswith(self.prefixes)


def _globs(patterns: Iterable[str]) -> tuple[str, ...]:
    return tuple(sorted({p.lower() for p in patterns}))


def compile_globs(patterns: tuple[str, ...]) -> re.Pattern[str] | None:
    """One case-insensitive regular expression for all globs (matched once per name: this runs
    for every resource name of every container admitted)."""
    if not patterns:
        return None
    return re.compile("|".join(f"(?:{fnmatch.translate(p)})" for p in patterns), re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class DeviceAccess:
    """How a container reaches accelerator devices without an extended-resource request.

    `env`: variables a vendor's container runtime hands devices for (NVIDIA_VISIBLE_DEVICES);
    `off_values`: values of those variables that hand out nothing (``void``, ``none``);
    `host_paths`: host path globs that expose device nodes (``/dev``, ``/dev/*``).
    Privileged containers and ephemeral containers always count.
    """

    env: frozenset[str] = frozenset()
    off_values: frozenset[str] = frozenset()
    host_paths: tuple[str, ...] = ()

    def merged(self, spec: Mapping[str, Iterable[str]] | None) -> DeviceAccess:
        if not spec:
            return self
        return DeviceAccess(
            env=self.env | frozenset(spec.get("env", ())),
            off_values=self.off_values | frozenset(v.lower() for v in spec.get("offValues", ())),
            host_paths=tuple(sorted({*self.host_paths, *spec.get("hostPaths", ())})),
        )

    def host_path(self, path: str) -> bool:
        normalised = "/" + path.strip("/") if path.strip("/") else "/"
        return any(fnmatch.fnmatchcase(normalised, pattern) for pattern in self.host_paths)


@dataclass(frozen=True, slots=True)
class Vocabulary:
    """Everything the extractor needs to recognise accelerators, merged from all adapter files."""

    resources: ResourceNames = field(default_factory=ResourceNames)
    hint_keys: HintKeys = field(default_factory=lambda: HintKeys(MappingProxyType({})))
    dra_device_classes: frozenset[str] = frozenset()
    suspect_resources: tuple[str, ...] = ()
    """Globs (case-insensitive) of resource names that look like accelerators but are not known."""
    suspect_label_keys: tuple[str, ...] = ()
    """Globs of node-label keys that look like accelerator product information but are not known."""
    device_access: DeviceAccess = field(default_factory=DeviceAccess)
    suspect_resource_re: re.Pattern[str] | None = None  # compiled `suspect_resources`

    def accelerator_resource(self, name: str) -> bool:
        """A known accelerator resource, or one that looks like one (then it is unknown)."""
        if name in self.resources.ignored:
            return False
        if self.resources.matches(name):
            return True
        return self.suspect_resource_re is not None and bool(self.suspect_resource_re.match(name))

    def merged(
        self,
        *,
        resources: Iterable[str] = (),
        ignored_resources: Iterable[str] = (),
        hint_keys: Mapping[str, str] | None = None,
        dra_device_classes: Iterable[str] = (),
        suspect_resources: Iterable[str] = (),
        suspect_label_keys: Iterable[str] = (),
        device_access: Mapping[str, Iterable[str]] | None = None,
    ) -> Vocabulary:
        patterns = [*self.resources.exact, *(p + "*" for p in self.resources.prefixes)]
        patterns.extend(resources)
        keys = dict(self.hint_keys.meanings)
        keys.update(hint_keys or {})
        suspect_keys = _globs([*self.suspect_label_keys, *suspect_label_keys])
        suspect_resources_all = _globs([*self.suspect_resources, *suspect_resources])
        return Vocabulary(
            resources=ResourceNames.of(patterns, [*self.resources.ignored, *ignored_resources]),
            hint_keys=HintKeys(MappingProxyType(keys), suspect_keys, compile_globs(suspect_keys)),
            dra_device_classes=self.dra_device_classes | frozenset(dra_device_classes),
            suspect_resources=suspect_resources_all,
            suspect_resource_re=compile_globs(suspect_resources_all),
            suspect_label_keys=suspect_keys,
            device_access=self.device_access.merged(device_access),
        )
