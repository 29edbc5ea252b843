"""A pod that runs in a cloud VM of its own: Kata Containers peer pods.

With the Confidential Containers cloud-api-adaptor ("peer pods"), a pod whose RuntimeClass has
the remote hypervisor (``kata-remote``) does not run on its node: the adaptor starts a cloud
VM for it and the pod's containers run there, with every device that VM has. The VM's instance
type is chosen, in this order, by the pod annotation
``io.katacontainers.config.hypervisor.machine_type`` (the type itself: ``p5.48xlarge``,
``Standard_NC24ads_A100_v4``), by ``io.katacontainers.config.hypervisor.default_gpus`` (the
smallest type of the administrator's list with that many GPUs), and otherwise by the pod's
CPU and memory or the administrator's default type. That is the order since cloud-api-adaptor
v0.16.0; up to v0.15.0 a GPU count came first, so a pod naming a plain type and asking for GPUs
got a GPU type of the administrator's list (``SelectInstanceTypeToUse`` in
src/cloud-providers/util.go; reversed by commit dd4f8c0f, "Prioritise instance type annotation
for selection", first released in v0.16.0). The adaptor's webhook moves the pod's
``nvidia.com/gpu`` requests into ``default_gpus`` and gives its first container the VM token
``kata.peerpods.io/vm`` instead; vocabulary.yaml (``deviceAccess``, ``podVm*``) lists the
names with their sources.

So the VM is the pod's machine, and it is judged as one: a ``nodepool`` request (the request a
Cluster API machine with that instance type makes) that the pod's own placement does not
narrow, since the node it is scheduled to is not where it runs:

* each instance type an annotation names is a request with that type as an
  ``node.kubernetes.io/instance-type`` hint: an H100 type is an H100 system, a type the
  catalogue cannot identify is unknown, a type of a family without accelerators is nothing. A
  value the vocabulary lists as a local hypervisor's machine model (``q35``) names no cloud
  VM and is skipped; a value that is no string or longer than `MAX_HINT_VALUE_CHARS` is an
  unknown VM;
* without a type, a pod that asks for GPUs through an annotation, or that is a peer pod (its
  RuntimeClass or the VM token says so), gets a VM the adaptor chooses from a list exportgate
  cannot see: an unknown VM, until the pod names a plain instance type;
* with a type, a GPU annotation that asks for GPUs (``default_gpus`` other than ``0``) adds that
  unknown VM beside the typed one: exportgate cannot tell which adaptor version runs, and an
  older one chooses the VM by the GPU count (red team 13b, H3).

The machine-type annotation is read whatever the RuntimeClass: an installation may name its
remote RuntimeClass otherwise (kata-deploy can make the remote shim the default ``kata``), and
a value that is a cloud instance type means a VM of that type wherever it is read.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from exportgate.core.extract.paths import join_key
from exportgate.core.extract.vocabulary import DeviceAccess
from exportgate.core.limits import MAX_HINT_VALUE_CHARS
from exportgate.core.types import AcceleratorRequest, Operator, ProductHint

NODEPOOL_RESOURCE = "nodepool"
"""The resource a machine's request is made for (`exportgate.core.extract.NODEPOOL_RESOURCE`,
which this package's ``__init__`` defines after importing this module)."""

INSTANCE_TYPE_KEY = "node.kubernetes.io/instance-type"
"""The hint a VM's instance type is given as: the well-known node label, which the catalogue
resolves through instance-types.yaml like a Cluster API machine's type."""

_RESOURCE_LISTS = ("limits", "requests")


def pod_vm_requests(
    pod: Mapping[str, Any],
    field: str,
    containers: Iterable[tuple[str, Mapping[str, Any]]],
    annotations: Sequence[tuple[str, Mapping[Any, Any]]],
    access: DeviceAccess,
) -> list[AcceleratorRequest]:
    """The requests of the VM the pod at `field` runs in, if it runs in one (module doc).

    `containers` are the pod's (field, container) pairs; `annotations` its annotation maps as
    (field, map), already checked to be maps."""
    typed: list[AcceleratorRequest] = []
    gpus = ""  # the first annotation asking for GPUs, by field
    for where, mapping in annotations:
        for key in access.pod_vm_type_annotations:
            if key in mapping:
                request = _typed_vm(mapping[key], join_key(where, key), access)
                if request is not None:
                    typed.append(request)
        for key in access.pod_vm_gpu_annotations:
            if key in mapping and not gpus and _asks_for_gpus(mapping[key]):
                gpus = join_key(where, key)
    if typed:
        # The type named decides the VM since cloud-api-adaptor v0.16.0; up to v0.15.0 a GPU
        # count came first and chose a GPU type from the administrator's list (module doc).
        # Which version runs is not visible here, so GPUs asked for are that unknown VM too.
        gpu_vm = [AcceleratorRequest(NODEPOOL_RESOURCE, 1, (), gpus)] if gpus else []
        return list(dict.fromkeys([*typed, *gpu_vm]))
    source = gpus or _peer_pod(pod, field, containers, access)
    return [AcceleratorRequest(NODEPOOL_RESOURCE, 1, (), source)] if source else []


def is_pod_vm_source(source: str) -> bool:
    """Whether a ``nodepool`` request's source (a field this module wrote) is a pod's VM."""
    return (
        ".annotations" in source
        or source.endswith("runtimeClassName")
        or (".resources." in source and "containers[" in source)
    )


def _typed_vm(value: object, where: str, access: DeviceAccess) -> AcceleratorRequest | None:
    """The VM an instance-type annotation value names, or None when it names none."""
    if not isinstance(value, str) or len(value) > MAX_HINT_VALUE_CHARS:
        return AcceleratorRequest(NODEPOOL_RESOURCE, 1, (), where)  # unreadable: unknown
    name = value.strip()
    if not name or name.lower() in access.local_machine_types:
        return None  # no type (the adaptor then chooses), or a local hypervisor's model
    hint = ProductHint(INSTANCE_TYPE_KEY, Operator.IN, (name,))
    return AcceleratorRequest(NODEPOOL_RESOURCE, 1, (hint,), where)


def _asks_for_gpus(value: object) -> bool:
    """A GPU-count annotation asks for GPUs unless it says none ("0"): the adaptor parses it as
    a whole number, and anything else it cannot read is not proof of none."""
    return not (isinstance(value, str) and value.strip() in ("", "0"))


def _peer_pod(
    pod: Mapping[str, Any],
    field: str,
    containers: Iterable[tuple[str, Mapping[str, Any]]],
    access: DeviceAccess,
) -> str:
    """The field that makes the pod a peer pod (its RuntimeClass, or a container's VM token),
    or "" when nothing does."""
    runtime_class = pod.get("runtimeClassName")
    if isinstance(runtime_class, str) and access.pod_vm_runtime_class(runtime_class):
        return join_key(field, "runtimeClassName")
    if not access.pod_vm_resources:
        return ""
    for where, container in containers:
        resources = container.get("resources")
        if not isinstance(resources, Mapping):
            continue
        for part in _RESOURCE_LISTS:
            quantities = resources.get(part)
            if not isinstance(quantities, Mapping):
                continue
            for name in access.pod_vm_resources:
                if name in quantities:
                    return join_key(join_key(join_key(where, "resources"), part), name)
    return ""
