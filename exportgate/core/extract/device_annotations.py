"""Pod annotations that hand a pod a device without a resource request.

Two kinds of annotation do, on the pod itself (a Pod's ``metadata.annotations``, a pod
template's ``template.metadata.annotations``, or a map a controller copies onto the pods it
creates), both listed under ``deviceAccess`` in vocabulary.yaml with their sources:

* a GPU-sharing scheduler's request: NVIDIA KAI Scheduler (and Run:ai) gives a pod carrying
  ``gpu-fraction``, ``gpu-memory`` or ``gpu-fraction-num-devices`` (``annotations``), or a
  per-container ``nvidia.com/container.<container>.gpu-memory.request`` or ``.limit``
  (``annotationPrefixes``: every key under the prefix), a share of a GPU on the node it binds
  it to, with no ``nvidia.com/gpu`` request. The key counts whatever its value (the scheduler
  tests presence) and whatever ``schedulerName`` says (an installation names its scheduler,
  and a mutating webhook may set it after exportgate has seen a pod template): a
  `DEVICE_ACCESS` request, any accelerator the placement allows;
* a Container Device Interface request: a key starting ``cdi.k8s.io/`` whose value names
  devices as ``vendor/class=name`` (``nvidia.com/gpu=all``), comma-separated. The kind
  (``vendor/class``) says the vendor when it is an accelerator resource of the vocabulary
  (``nvidia.com/gpu``: an NVIDIA GPU of any model, narrowed by placement); a kind the
  vocabulary lists as no accelerator (``ignoredResources``, such as ``sgx.intel.com/epc``, or
  one of Kubernetes' own) names nothing; any other kind, an unqualified name or a value past
  `MAX_CDI_ANNOTATION_CHARS` is an unknown accelerator (`DEVICE_ACCESS`). An empty value names
  nothing.

The annotations that choose the VM a peer pod runs in (Kata Containers'
``io.katacontainers.config.hypervisor.machine_type``, ``default_gpus``) matter too, but are
read by `pod_vm`, not here.

`device_annotations` picks the annotations that matter out of all a pod has, and is the one
place that decides it: the readers read only those, and the webhook's findings memo keys a pod
on them beside its spec (`AdapterRegistry.extract`), so that two pods with the same spec and
different annotations are never given one answer.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from exportgate.core.extract.access import DEVICE_ACCESS
from exportgate.core.extract.paths import join_key
from exportgate.core.extract.vocabulary import Vocabulary, possible_resource_name
from exportgate.core.limits import MAX_CDI_ANNOTATION_CHARS, MAX_RESOURCE_NAME_CHARS


def device_annotations(annotations: Mapping[Any, Any], vocabulary: Vocabulary) -> dict[str, Any]:
    """The annotations among `annotations` that hand the pod a device, as written."""
    access = vocabulary.device_access
    if not access.reads_annotations:
        return {}
    return {
        key: value
        for key, value in annotations.items()
        if type(key) is str and access.device_annotation(key)
    }


def annotation_requests(
    annotations: Mapping[Any, Any], field: str, vocabulary: Vocabulary
) -> Iterable[tuple[str, str, int]]:
    """(source, resource, count) for each device the pod's `annotations` (at `field`) hand it."""
    access = vocabulary.device_access
    for key, value in device_annotations(annotations, vocabulary).items():
        # A key longer than a qualified name is no annotation the API server takes on a Pod:
        # named by its map only, so that no message or record repeats an unbounded string.
        source = join_key(field, key) if len(key) <= MAX_RESOURCE_NAME_CHARS else field
        if access.presence_annotation(key):
            yield source, DEVICE_ACCESS, 1
        elif access.cdi_annotation(key):
            for resource in _cdi_resources(value, vocabulary):
                yield source, resource, 1
        # else a pod-VM annotation: `pod_vm` reads it with the pod's runtime class.


def is_annotation_source(source: str) -> bool:
    """Whether a request's source (a field path this module wrote) is a pod annotation: in an
    annotation map, or under an annotation property prefix (``spec.sparkConf[
    "spark.kubernetes.executor.annotation."]["gpu-fraction"]``, `properties.PrefixedMap`)."""
    return (
        ".annotations." in source
        or ".annotations[" in source
        or source.endswith(".annotations")
        or '.annotation."]' in source
    )


def _cdi_resources(value: object, vocabulary: Vocabulary) -> Iterable[str]:
    """The resource of each device a CDI annotation value names (see module doc)."""
    if not isinstance(value, str):
        yield DEVICE_ACCESS
        return
    if len(value) > MAX_CDI_ANNOTATION_CHARS:
        yield DEVICE_ACCESS
        return
    for device in value.split(","):
        device = device.strip()
        if not device:
            continue
        kind, qualified, _ = device.partition("=")
        readable = bool(qualified) and possible_resource_name(kind)
        names = vocabulary.resources
        if readable and (names.is_ignored(kind) or names.is_standard(kind)):
            continue  # a class the vocabulary lists as no accelerator (sgx.intel.com/epc)
        yield kind if readable and names.matches(kind) else DEVICE_ACCESS
