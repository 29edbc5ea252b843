"""What counts as an accelerator: resource names, product-hint labels and DRA device classes.

All of it comes from the adapter data files (``vocabulary:`` sections), so a platform engineer can
teach exportgate a new extended resource or node label without code. Built-in and user sections
are merged: the union of names, minus anything listed as ignored.

Besides what exportgate *knows*, the vocabulary names what merely *looks* like an accelerator
(``suspectResources``, ``suspectLabelKeys``) and the ways a container reaches devices without
asking for a resource (``deviceAccess``). What exportgate cannot identify it does not admit as
harmless: a container's extended resource is an accelerator unless it is one of Kubernetes'
own resources (``standardResources``) or listed as no accelerator (``ignoredResources``), so a
device plugin exportgate has never heard of is an unknown accelerator, decided by the most
restrictive rule, and not "nothing guarded".
"""

from __future__ import annotations

import fnmatch
import posixpath
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from exportgate.core.extract.count_keys import CountKey
from exportgate.core.extract.selectors import HintKeys
from exportgate.core.limits import MAX_RESOURCE_NAME_CHARS


def name_pattern(glob: str) -> str:
    """The regular expression (Python ``re`` and RE2 alike) of a resource-name glob, matched
    whole and case-sensitively: ``*`` is any run of characters, everything else is literal.

    The chart's CEL pre-filter uses it (charts/tools/sync_kinds.py); the extractor compiles
    `_linear_pattern`, the same parts matching the same names in linear time, so that the
    filter never skips a name the extractor would call an accelerator. Resource names hold no
    ``?`` or ``[``, so ``*`` is the only wildcard."""
    return ".*".join(re.escape(part) for part in glob.split("*"))


def _linear_pattern(glob: str) -> str:
    """`name_pattern` for Python's backtracking ``re``, linear in the name's length.

    RE2 (the chart) never backtracks, but Python's ``re`` does: ``.*kubernetes\\.io/.*`` made
    the two stars backtrack against each other, quadratic on a name of repeated
    ``kubernetes.io/`` ending in a newline. So every star but the last finds the leftmost
    occurrence of the part after it and never gives it back (an atomic group, as
    ``fnmatch.translate`` does), and ``.`` matches any character (DOTALL). For globs whose only
    wildcard is ``*`` the leftmost occurrence is always the right one, so this matches exactly
    the names `name_pattern` does."""
    parts = [re.escape(part) for part in glob.split("*")]
    if len(parts) == 1:
        return parts[0]
    head, *middle, tail = parts
    return head + "".join(f"(?>.*?{part})" for part in middle) + ".*" + tail


def compile_names(globs: Iterable[str]) -> re.Pattern[str] | None:
    """One case-sensitive expression for all `globs`, used with ``fullmatch`` on names within
    `MAX_RESOURCE_NAME_CHARS` (linear: see `_linear_pattern`)."""
    patterns = sorted(set(globs))
    if not patterns:
        return None
    return re.compile("|".join(f"(?:{_linear_pattern(glob)})" for glob in patterns), re.DOTALL)


@dataclass(frozen=True, slots=True)
class ResourceNames:
    """Extended-resource names that mean "an accelerator device", and those that do not.

    A pattern ending in ``*`` matches by prefix (``nvidia.com/mig-*`` matches
    ``nvidia.com/mig-1g.10gb``); anything else matches exactly. `ignored` (globs, ``*`` matches
    anything) wins over both: companion resources that count shares of a device
    (``gpu.intel.com/millicores``) and device plugins that hand out no accelerator (SR-IOV
    NICs, RDMA, FUSE; vocabulary.yaml says which and why). `standard` are Kubernetes' own
    resources (``cpu``, ``memory``, ``hugepages-*``, ``*kubernetes.io/*``).
    """

    exact: frozenset[str] = frozenset()
    prefixes: tuple[str, ...] = ()
    ignored: tuple[str, ...] = ()
    standard: tuple[str, ...] = ()
    ignored_re: re.Pattern[str] | None = None  # compiled `ignored`
    standard_re: re.Pattern[str] | None = None  # compiled `standard`

    @classmethod
    def of(
        cls, patterns: Iterable[str], ignored: Iterable[str] = (), standard: Iterable[str] = ()
    ) -> ResourceNames:
        patterns = list(patterns)
        exact = {p for p in patterns if not p.endswith("*")}
        prefixes = sorted({p[:-1] for p in patterns if p.endswith("*")})
        ignored_all = tuple(sorted(set(ignored)))
        standard_all = tuple(sorted(set(standard)))
        return cls(
            frozenset(exact),
            tuple(prefixes),
            ignored_all,
            standard_all,
            compile_names(ignored_all),
            compile_names(standard_all),
        )

    def is_ignored(self, name: str) -> bool:
        return self.ignored_re is not None and self.ignored_re.fullmatch(name) is not None

    def is_standard(self, name: str) -> bool:
        return self.standard_re is not None and self.standard_re.fullmatch(name) is not None

    def matches(self, name: str) -> bool:
        """A known accelerator resource (not ignored)."""
        if self.is_ignored(name):
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


def possible_resource_name(name: str) -> bool:
    """Whether `name` could be a Kubernetes resource name at all: within
    `MAX_RESOURCE_NAME_CHARS` and printable ASCII without spaces.

    Checked before any glob is matched: the API server refuses other names in a Pod, but the
    ``resources`` of custom resources are not validated, so a tenant can hand exportgate any
    string there. Such a name is not one exportgate can identify: an unknown accelerator."""
    return (
        len(name) <= MAX_RESOURCE_NAME_CHARS
        and name.isascii()
        and name.isprintable()
        and " " not in name
    )


_CORE_RESOURCES = frozenset({"cpu", "memory", "ephemeral-storage"})
"""Kubernetes' own container resources that no vocabulary may make an accelerator: the fast
path of `Vocabulary.requested_accelerator`, which runs for every resource of every container."""


@dataclass(frozen=True, slots=True)
class DeviceAccess:
    """How a container reaches accelerator devices without an extended-resource request.

    `env`: variables a vendor's container runtime hands devices for (NVIDIA_VISIBLE_DEVICES);
    `off_values`: values of those variables that hand out nothing (``void``, ``none``);
    `host_paths`: host path globs that expose device nodes (``/dev``, ``/dev/*``), the host's
    root (``/proc/1/root``) or a container runtime's socket (which starts containers with any
    device); `runtime_classes`: globs of RuntimeClass names whose handler hands devices to
    every container (``nvidia``); `annotations`: pod annotation keys through which a
    GPU-sharing scheduler hands the pod a device (KAI Scheduler's ``gpu-fraction``), whatever
    their value; `annotation_prefixes`: prefixes of such keys, for the per-container forms
    (KAI Scheduler's ``nvidia.com/container.<container>.gpu-memory.request``), also read by
    presence; `cdi_prefixes`: prefixes of pod annotation keys whose value names Container
    Device Interface devices (``cdi.k8s.io/``). Privileged containers and ephemeral containers
    always count.

    A pod that runs in a VM of its own (Kata Containers peer pods: `pod_vm`) is told apart by
    `pod_vm_runtime_classes` (globs) or `pod_vm_resources` (the VM token a peer-pods webhook
    adds); `pod_vm_type_annotations` name its VM's instance type, unless the value is one of
    `local_machine_types` (a local hypervisor's machine model, ``q35``);
    `pod_vm_gpu_annotations` ask for a VM with GPUs.
    """

    env: frozenset[str] = frozenset()
    off_values: frozenset[str] = frozenset()
    host_paths: tuple[str, ...] = ()
    runtime_classes: tuple[str, ...] = ()
    annotations: frozenset[str] = frozenset()
    annotation_prefixes: tuple[str, ...] = ()
    cdi_prefixes: tuple[str, ...] = ()
    pod_vm_runtime_classes: tuple[str, ...] = ()
    pod_vm_resources: frozenset[str] = frozenset()
    pod_vm_type_annotations: tuple[str, ...] = ()
    pod_vm_gpu_annotations: tuple[str, ...] = ()
    local_machine_types: frozenset[str] = frozenset()

    def merged(self, spec: Mapping[str, Iterable[str]] | None) -> DeviceAccess:
        if not spec:
            return self
        return DeviceAccess(
            env=self.env | frozenset(spec.get("env", ())),
            off_values=self.off_values | frozenset(v.lower() for v in spec.get("offValues", ())),
            host_paths=tuple(sorted({*self.host_paths, *spec.get("hostPaths", ())})),
            runtime_classes=tuple(sorted({*self.runtime_classes, *spec.get("runtimeClasses", ())})),
            annotations=self.annotations | frozenset(spec.get("annotations", ())),
            annotation_prefixes=_union(self.annotation_prefixes, spec.get("annotationPrefixes")),
            cdi_prefixes=_union(self.cdi_prefixes, spec.get("cdiAnnotationPrefixes")),
            pod_vm_runtime_classes=_union(
                self.pod_vm_runtime_classes, spec.get("podVmRuntimeClasses")
            ),
            pod_vm_resources=self.pod_vm_resources | frozenset(spec.get("podVmResources", ())),
            pod_vm_type_annotations=_union(
                self.pod_vm_type_annotations, spec.get("podVmTypeAnnotations")
            ),
            pod_vm_gpu_annotations=_union(
                self.pod_vm_gpu_annotations, spec.get("podVmGpuAnnotations")
            ),
            local_machine_types=self.local_machine_types
            | frozenset(v.lower() for v in spec.get("localMachineTypes", ())),
        )

    def host_path(self, path: str) -> bool:
        # normpath folds "//dev/", "/run/./containerd" and "a/../b" the way the host resolves
        # them; a leading "//" survives normpath (POSIX), so the slashes are set again.
        normalised = "/" + posixpath.normpath("/" + path).lstrip("/")
        return any(fnmatch.fnmatchcase(normalised, pattern) for pattern in self.host_paths)

    def runtime_class(self, name: str) -> bool:
        return any(fnmatch.fnmatchcase(name, pattern) for pattern in self.runtime_classes)

    def cdi_annotation(self, key: str) -> bool:
        """A pod annotation whose value names CDI devices (exact prefixes: no pattern runs on
        the key, which may be any string in a custom resource's pod template)."""
        return key.startswith(self.cdi_prefixes)

    def presence_annotation(self, key: str) -> bool:
        """A pod annotation that hands the pod a device whatever its value: one of
        `annotations`, or one starting with a prefix of `annotation_prefixes` (exact prefixes,
        as for `cdi_annotation`)."""
        return key in self.annotations or key.startswith(self.annotation_prefixes)

    def pod_vm_annotation(self, key: str) -> bool:
        """A pod annotation that chooses the pod's own VM (`pod_vm`): its type or its GPUs."""
        return key in self.pod_vm_type_annotations or key in self.pod_vm_gpu_annotations

    def device_annotation(self, key: str) -> bool:
        """A pod annotation that hands the pod a device or chooses the VM it runs in: read by
        presence, a CDI one, or a pod-VM one. The findings memo keys a pod on these."""
        return (
            self.presence_annotation(key)
            or key.startswith(self.cdi_prefixes)
            or self.pod_vm_annotation(key)
        )

    def pod_vm_runtime_class(self, name: str) -> bool:
        return any(fnmatch.fnmatchcase(name, pattern) for pattern in self.pod_vm_runtime_classes)

    @property
    def reads_annotations(self) -> bool:
        """Whether any pod annotation can matter (else `device_annotations` reads none)."""
        return bool(
            self.annotations
            or self.annotation_prefixes
            or self.cdi_prefixes
            or self.pod_vm_type_annotations
            or self.pod_vm_gpu_annotations
        )


def _union(current: tuple[str, ...], more: Iterable[str] | None) -> tuple[str, ...]:
    return tuple(sorted({*current, *(more or ())}))


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
    nested_resource_maps: frozenset[str] = frozenset()
    """``nestedResourceMaps``: keys of a resource list (``limits``, ``requests``) whose value
    is no quantity but a further map of resource names to quantities, each read as a resource
    of the list (NVIDIA Dynamo's ``ResourceItem.custom``). Only custom kinds' resource lists
    can hold one: the API server refuses a map where a Pod's quantity belongs."""
    pod_spec_keys: frozenset[str] = frozenset()
    """``podSpecKeys``: keys beside a container-shaped mapping the generic search finds that
    hold the pod spec its container runs in, whose ``nodeSelector`` and ``affinity`` then place
    it (NVIDIA Dynamo's ``extraPodSpec`` beside a service's ``resources``)."""
    pod_annotation_keys: frozenset[str] = frozenset()
    """``podAnnotationKeys``: dotted paths, from a mapping the generic search reads as a pod (a
    container-shaped one, or one beside a ``podSpecKeys`` spec), of maps the operator puts on
    that pod's annotations (production-stack's ``deploymentConfig.podAnnotations``, Dynamo's
    service ``annotations`` and ``extraPodMetadata.annotations``). A mapping holding one is
    read as that pod even with no container fields, so that an annotation that hands the pod a
    device (`device_annotations`) is placed like the pod's own requests."""
    runtime_class_keys: frozenset[str] = frozenset()
    """``runtimeClassKeys``: keys of such a mapping naming its pod's runtime class
    (production-stack's ``deploymentConfig.runtimeClass``), read as the pod's
    ``runtimeClassName`` (`access`: a GPU runtime class is device access)."""
    pod_container_keys: frozenset[str] = frozenset()
    """``podContainerKeys``: keys of such a mapping holding another container of the same pod
    (production-stack's ``deploymentConfig.sidecarConfig``), read with the pod's placement."""
    resource_count_keys: tuple[CountKey, ...] = ()
    """``resourceCountKeys``: keys of a resource map holding a count of the resource another
    key names (``gpu`` of ``gpuType``, default ``nvidia.com/gpu``: NVIDIA Dynamo, vLLM
    production-stack; see `count_keys`). A Pod cannot have one: extended resource names are
    domain-qualified, so ``gpu`` is no resource the API server takes."""

    def accelerator_resource(self, name: str) -> bool:
        """A known accelerator resource, or a name that looks like one (then it is unknown).

        For names that are not a container's resources (the drivers a DeviceClass selects):
        there, only what looks like an accelerator counts. A container's resources are judged
        by `requested_accelerator`."""
        if self.resources.is_ignored(name):
            return False
        if self.resources.matches(name):
            return True
        return self.suspect_resource_re is not None and bool(self.suspect_resource_re.match(name))

    def requested_accelerator(self, name: str) -> bool:
        """True when a container (or any resource requirements) asking for `name` asks for an
        accelerator: a known one, or an unknown one.

        The default is inverted on purpose: every extended resource is an accelerator unless
        it is listed as none (`ResourceNames.ignored`) or is one of Kubernetes' own
        (`ResourceNames.standard`). A suspect glob cannot find every vendor's device plugin
        (``qualcomm.com/qaic``, ``tenstorrent.com/n150``, ``furiosa.ai/rngd`` ...), and what
        exportgate cannot identify it does not admit as harmless."""
        if name in _CORE_RESOURCES:  # cpu, memory: nearly every call, answered at once
            return False
        if not possible_resource_name(name):
            return True  # no device plugin can be called that: unknown, and no regex runs on it
        names = self.resources
        if names.is_ignored(name):
            return False
        if name in names.exact or name.startswith(names.prefixes):
            return True
        return not names.is_standard(name)

    def merged(
        self,
        *,
        resources: Iterable[str] = (),
        ignored_resources: Iterable[str] = (),
        standard_resources: Iterable[str] = (),
        hint_keys: Mapping[str, str] | None = None,
        dra_device_classes: Iterable[str] = (),
        suspect_resources: Iterable[str] = (),
        suspect_label_keys: Iterable[str] = (),
        device_access: Mapping[str, Iterable[str]] | None = None,
        nested_resource_maps: Iterable[str] = (),
        resource_count_keys: Iterable[CountKey] = (),
        pod_spec_keys: Iterable[str] = (),
        pod_annotation_keys: Iterable[str] = (),
        runtime_class_keys: Iterable[str] = (),
        pod_container_keys: Iterable[str] = (),
    ) -> Vocabulary:
        patterns = [*self.resources.exact, *(p + "*" for p in self.resources.prefixes)]
        patterns.extend(resources)
        keys = dict(self.hint_keys.meanings)
        keys.update(hint_keys or {})
        suspect_keys = _globs([*self.suspect_label_keys, *suspect_label_keys])
        suspect_resources_all = _globs([*self.suspect_resources, *suspect_resources])
        return Vocabulary(
            resources=ResourceNames.of(
                patterns,
                # A pod VM's token (kata.peerpods.io/vm) is no device: `pod_vm` reads the VM.
                [
                    *self.resources.ignored,
                    *ignored_resources,
                    *(device_access or {}).get("podVmResources", ()),
                ],
                [*self.resources.standard, *standard_resources],
            ),
            hint_keys=HintKeys(MappingProxyType(keys), suspect_keys, compile_globs(suspect_keys)),
            dra_device_classes=self.dra_device_classes | frozenset(dra_device_classes),
            suspect_resources=suspect_resources_all,
            suspect_resource_re=compile_globs(suspect_resources_all),
            suspect_label_keys=suspect_keys,
            device_access=self.device_access.merged(device_access),
            nested_resource_maps=self.nested_resource_maps | frozenset(nested_resource_maps),
            pod_spec_keys=self.pod_spec_keys | frozenset(pod_spec_keys),
            pod_annotation_keys=self.pod_annotation_keys | frozenset(pod_annotation_keys),
            runtime_class_keys=self.runtime_class_keys | frozenset(runtime_class_keys),
            pod_container_keys=self.pod_container_keys | frozenset(pod_container_keys),
            # Two files may name one key differently: both readings are kept (both counted).
            resource_count_keys=tuple(sorted({*self.resource_count_keys, *resource_count_keys})),
        )
