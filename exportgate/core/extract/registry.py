"""The set of adapters in force, and extraction with it.

`AdapterRegistry.builtin()` compiles the adapter files shipped in ``exportgate/data/adapters``
once per process; `AdapterRegistry.with_files` adds a platform engineer's own files on top, and
an entry for a (group, kind) in a later file replaces every earlier entry for that (group, kind).
An entry with a ``kindPattern`` describes the group's kinds that no entry names (named kinds
first; among patterns, a later file's first).
A registry is immutable, so one instance can serve every thread of the webhook or sidecar.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Mapping
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import Any, Protocol

from exportgate.core.documents import embedded_budget
from exportgate.core.extract.adapters import Adapter
from exportgate.core.extract.aggregate import check_models, merge_accelerators
from exportgate.core.extract.device_annotations import device_annotations
from exportgate.core.extract.dra import CLAIM_LISTS
from exportgate.core.extract.dra_refs import NO_DRA_OBJECTS, DraObjects
from exportgate.core.extract.envvars import object_expansion_budget
from exportgate.core.extract.generic import generic_findings
from exportgate.core.extract.identity import identify, split_api_version
from exportgate.core.extract.loader import AdapterSet, load_adapter_file, parse_adapter_text
from exportgate.core.extract.vocabulary import Vocabulary
from exportgate.core.types import AcceleratorRequest, ModelRequest, Workload

Findings = tuple[tuple[AcceleratorRequest, ...], tuple[ModelRequest, ...]]
"""What extraction found in an object: its merged accelerator requests and checked models."""


class FindingsMemo(Protocol):
    """Remembers the findings of pod specs read by a spec-only adapter (`Adapter.reads_spec_only`)
    so that the same spec is not read again. `findings(key, read)` returns exactly what
    `read()` returns (or raises) for that key; a memo that cannot key it just calls `read`.
    The key is the pod spec (a dict), or ``[spec, annotations]`` when the pod carries
    annotations that hand it a device (`device_annotations`): everything the findings depend on.
    The webhook keeps one (`exportgate_webhook.findings.SpecMemo`): a cluster creates many Pods
    from the same few specs, and reading a spec is most of the work of extraction."""

    def findings(self, key: object, read: Callable[[], Findings]) -> Findings: ...


BUILTIN_PACKAGE = "exportgate"
BUILTIN_DIRECTORY = ("data", "adapters")


class AdapterRegistry:
    """Adapters indexed by (API group, kind), plus the merged accelerator vocabulary."""

    __slots__ = ("_embedded", "_index", "_patterns", "_spec_only", "sets", "vocabulary")

    def __init__(self, sets: Iterable[AdapterSet]) -> None:
        self.sets: tuple[AdapterSet, ...] = tuple(sets)
        index: dict[tuple[str, str], list[Adapter]] = {}
        patterns: list[Adapter] = []
        vocabulary = Vocabulary()
        for adapter_set in reversed(self.sets):
            patterns.extend(a for a in adapter_set.adapters if a.kind_pattern is not None)
        for adapter_set in self.sets:
            replaced: set[tuple[str, str]] = set()
            for adapter in adapter_set.adapters:
                for kind in adapter.kinds:
                    identity = (adapter.group, kind)
                    if identity not in replaced:
                        index[identity] = []  # a later file replaces earlier entries
                        replaced.add(identity)
                    index[identity].append(adapter)
            vocabulary = vocabulary.merged(
                resources=adapter_set.accelerator_resources,
                ignored_resources=adapter_set.ignored_resources,
                standard_resources=adapter_set.standard_resources,
                hint_keys=adapter_set.hint_keys,
                dra_device_classes=adapter_set.dra_device_classes,
                suspect_resources=adapter_set.suspect_resources,
                suspect_label_keys=adapter_set.suspect_label_keys,
                device_access=adapter_set.device_access,
                nested_resource_maps=adapter_set.nested_resource_maps,
                resource_count_keys=adapter_set.resource_count_keys,
                pod_spec_keys=adapter_set.pod_spec_keys,
                pod_annotation_keys=adapter_set.pod_annotation_keys,
                runtime_class_keys=adapter_set.runtime_class_keys,
                pod_container_keys=adapter_set.pod_container_keys,
            )
        self._index = {key: tuple(value) for key, value in index.items()}
        self._patterns = tuple(patterns)
        # Asked per extraction (and per review), so answered once here (ids: the adapters
        # live as long).
        adapters = [a for group in self._index.values() for a in group] + patterns
        self._spec_only = frozenset(id(a) for a in adapters if a.reads_spec_only)
        self._embedded = frozenset(id(a) for a in adapters if a.reads_embedded_documents)
        self.vocabulary = vocabulary

    @classmethod
    def builtin(cls) -> AdapterRegistry:
        """The registry of the shipped adapter files (compiled once, then shared)."""
        return _builtin_registry()

    @classmethod
    def with_files(cls, paths: Iterable[str | Path]) -> AdapterRegistry:
        """The built-in adapters plus the given files, in order (later files win)."""
        return cls.builtin().extended(load_adapter_file(path) for path in paths)

    def extended(self, sets: Iterable[AdapterSet]) -> AdapterRegistry:
        """A new registry with `sets` added after this one's."""
        return AdapterRegistry((*self.sets, *sets))

    def adapter_for(self, api_version: str, kind: str) -> Adapter | None:
        """The adapter describing objects of `api_version` and `kind`, if any."""
        group, version = split_api_version(api_version)
        return self._lookup(group, version, kind)

    def cluster_scoped(self, api_version: str, kind: str) -> bool:
        """True when an adapter says objects of this kind are cluster-scoped (``scope:
        Cluster``). Such objects, and only they, name their tenant with their own label."""
        adapter = self.adapter_for(api_version, kind)
        return adapter is not None and adapter.cluster_scoped

    def reads_embedded_documents(self, obj: object) -> bool:
        """True when extracting `obj` parses a YAML document held in one of its string fields
        (`Adapter.reads_embedded_documents`); False for malformed objects, which extraction
        refuses at once."""
        if not isinstance(obj, Mapping):
            return False
        api_version, kind = obj.get("apiVersion"), obj.get("kind")
        if not isinstance(api_version, str) or not isinstance(kind, str):
            return False
        adapter = self.adapter_for(api_version, kind)
        return adapter is not None and id(adapter) in self._embedded

    def _lookup(self, group: str, version: str, kind: str) -> Adapter | None:
        for adapter in self._index.get((group, kind), ()):
            if adapter.matches_version(version):
                return adapter
        for adapter in self._patterns:
            if (
                adapter.group == group
                and adapter.matches_version(version)
                and adapter.matches_kind(kind)
            ):
                return adapter
        return None

    def kinds(self) -> list[tuple[str, str]]:
        """Every (group, kind) some adapter names, sorted (`kind_patterns`: the rest)."""
        return sorted(self._index)

    def kind_patterns(self) -> list[tuple[str, str]]:
        """(group, kindPattern) of every pattern adapter, sorted: the kinds an adapter
        describes without naming them."""
        return sorted({(a.group, a.kind_pattern.pattern) for a in self._patterns if a.kind_pattern})

    @property
    def hint_keys(self) -> Mapping[str, str]:
        """Product-hint label -> meaning (see `schema.HINT_MEANINGS`)."""
        return MappingProxyType(dict(self.vocabulary.hint_keys.meanings))

    def extract(
        self, obj: object, dra: DraObjects | None = None, *, memo: FindingsMemo | None = None
    ) -> Workload:
        """The accelerators and models `obj` would use; see `extract_workload`.

        `dra` holds the DeviceClasses, ResourceClaims and ResourceClaimTemplates the object may
        refer to; a reference not found there is an unknown accelerator. `memo` may answer for
        a spec it has seen, when what is found depends on the spec alone (see `FindingsMemo`).
        """
        root, identity = identify(obj)
        adapter = self._lookup(identity.group, identity.version, identity.ref.kind)
        namespace = identity.ref.namespace
        dra = dra or NO_DRA_OBJECTS

        def read() -> Findings:
            # One budget for all embedded documents of the object, one for all expansion.
            with embedded_budget(), object_expansion_budget():
                if adapter is not None:
                    accelerators, models = adapter.apply(root, self.vocabulary, dra, namespace)
                else:
                    accelerators, models = generic_findings(root, self.vocabulary, dra, namespace)
            # One request per distinct (resource, placement), within the caps (aggregate.py).
            return merge_accelerators(accelerators), check_models(models)

        spec = root.get("spec")
        key = None
        if (
            memo is not None
            and adapter is not None
            and id(adapter) in self._spec_only
            and type(spec) is dict
            and not _names_claims(spec)
        ):
            key = _memo_key(spec, root.get("metadata"), self.vocabulary)
        if memo is not None and key is not None:
            accelerators, models = memo.findings(key, read)
        else:
            accelerators, models = read()
        return Workload(
            ref=identity.ref,
            accelerators=accelerators,
            models=models,
            tenant_label=identity.tenant_label,
            labels=identity.labels,
        )


def _memo_key(spec: dict[str, Any], metadata: object, vocabulary: Vocabulary) -> object | None:
    """What a spec-only adapter's findings depend on: the spec, and beside it (in a list, which
    no spec is) the pod's annotations that hand it a device. None (read, do not remember) when
    the annotations are malformed: reading them reports it."""
    if metadata is None:
        return spec
    if type(metadata) is not dict:
        return None
    annotations = metadata.get("annotations")
    if annotations is None:
        return spec
    if type(annotations) is not dict:
        return None
    devices = device_annotations(annotations, vocabulary)
    return [spec, devices] if devices else spec


def _names_claims(spec: dict[str, Any]) -> bool:
    """A spec naming DRA claims is read with the DRA objects and the namespace, not alone."""
    return any(key in spec for key in CLAIM_LISTS)


def extract_workload(
    obj: Mapping[str, object],
    *,
    registry: AdapterRegistry | None = None,
    dra: DraObjects | None = None,
) -> Workload:
    """The `Workload` of any Kubernetes object: what accelerators and models it would use.

    `obj` is the object as parsed from YAML/JSON or taken from ``AdmissionReview.request.object``.
    Kinds no adapter describes are searched for pod specs (`generic`): a kind with a pod
    template is read like a pod, whatever its name. A
    malformed object raises `InputError` whose ``field`` is the path of the offending field
    (``spec.template.spec.containers[0].resources.limits``). `registry` defaults to the built-in
    adapters; pass `AdapterRegistry.with_files(...)` to include a platform's own kinds.
    """
    return (registry or AdapterRegistry.builtin()).extract(obj, dra)


@functools.cache
def _builtin_registry() -> AdapterRegistry:
    directory = resources.files(BUILTIN_PACKAGE).joinpath(*BUILTIN_DIRECTORY)
    sets = []
    for entry in sorted(directory.iterdir(), key=lambda item: item.name):
        if entry.name.endswith(".yaml"):
            source = f"{BUILTIN_PACKAGE}/{'/'.join(BUILTIN_DIRECTORY)}/{entry.name}"
            sets.append(parse_adapter_text(entry.read_text(encoding="utf-8"), source))
    return AdapterRegistry(sets)
