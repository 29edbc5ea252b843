"""What counts as an accelerator: resource names, product-hint labels and DRA device classes.

All three come from the adapter data files (``vocabulary:`` sections), so a platform engineer can
teach exportgate a new extended resource or node label without code. Built-in and user sections
are merged: the union of names, minus anything listed as ignored.
"""

from __future__ import annotations

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


@dataclass(frozen=True, slots=True)
class Vocabulary:
    """Everything the extractor needs to recognise accelerators, merged from all adapter files."""

    resources: ResourceNames = field(default_factory=ResourceNames)
    hint_keys: HintKeys = field(default_factory=lambda: HintKeys(MappingProxyType({})))
    dra_device_classes: frozenset[str] = frozenset()

    def merged(
        self,
        *,
        resources: Iterable[str] = (),
        ignored_resources: Iterable[str] = (),
        hint_keys: Mapping[str, str] | None = None,
        dra_device_classes: Iterable[str] = (),
    ) -> Vocabulary:
        patterns = [*self.resources.exact, *(p + "*" for p in self.resources.prefixes)]
        patterns.extend(resources)
        keys = dict(self.hint_keys.meanings)
        keys.update(hint_keys or {})
        return Vocabulary(
            resources=ResourceNames.of(patterns, [*self.resources.ignored, *ignored_resources]),
            hint_keys=HintKeys(MappingProxyType(keys)),
            dra_device_classes=self.dra_device_classes | frozenset(dra_device_classes),
        )
