"""Writes that reach a Pod's annotations without the Pod's admission: the annotations exportgate
reads may not change there.

Two such writes exist:

* the status subresource: the API server's status strategy for Pods
  (podStatusStrategy.PrepareForUpdate, in kubernetes/kubernetes
  pkg/registry/core/pod/strategy.go) resets only the spec, the deletionTimestamp and the
  ownerReferences: labels and annotations are stored as the caller sent them;
* a Binding (`pods/binding`, and the legacy top-level `bindings` resource, which calls the same
  code): BindingREST.setPodHostAndAnnotations (pkg/registry/core/pod/storage/storage.go)
  merges the Binding's `metadata.annotations` into the Pod as it sets the node (red team 13b,
  H4).

Admission of the Pod itself never sees either, so whoever holds RBAC on them could otherwise
write, unseen:

* an annotation that hands the pod a device (`device_annotations`: KAI Scheduler's
  gpu-fraction, a CDI device, a Kata peer pod's machine type), on a pod admitted without one;
* an `exportgate.dev/` annotation: a decision stamp (forged), or the operator's violation mark
  (removed or rewritten).

The kubelet writes `pods/status` for every pod all the time and never touches these, and
kube-scheduler's Bindings carry no annotations at all (DefaultBinder.Bind,
pkg/scheduler/framework/plugins/defaultbinder/default_binder.go), so the rule is narrow and
needs no policy decision: a status write that adds, alters or removes one of them, or a Binding
that carries one, is refused to all but platform identities; every other such write is admitted
without being evaluated. The chart sends only the writes that change one (matchConditions), so
kubelet updates and kube-scheduler's Bindings never reach the webhook. A Binding is refused for
carrying a guarded annotation even if the Pod already has the same value: the Pod is not in the
request, and no scheduler needs to repeat one. Pod labels are not guarded: nothing in exportgate
reads a Pod's labels (its tenant is its namespace's).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from exportgate.core.extract.device_annotations import device_annotations
from exportgate.core.extract.vocabulary import Vocabulary
from exportgate_webhook.review import AdmissionRequest

#: Annotations under this prefix are exportgate's own (stamps, violation marks).
EXPORTGATE_PREFIX = "exportgate.dev/"


def is_pod_status(request: AdmissionRequest) -> bool:
    """A write to the status subresource of a core/v1 Pod."""
    resource = request["resource"]
    return (
        request.get("subResource") == "status"
        and resource["group"] == ""
        and resource["resource"] == "pods"
    )


def is_pod_binding(request: AdmissionRequest) -> bool:
    """A Binding of a core/v1 Pod: `pods/binding`, or the legacy top-level `bindings`."""
    resource = request["resource"]
    if resource["group"] != "":
        return False
    sub = request.get("subResource") or ""
    return (resource["resource"], sub) in (("pods", "binding"), ("bindings", ""))


def _annotations(obj: Mapping[str, Any] | None) -> Mapping[Any, Any]:
    metadata = obj.get("metadata") if isinstance(obj, Mapping) else None
    annotations = metadata.get("annotations") if isinstance(metadata, Mapping) else None
    return annotations if isinstance(annotations, Mapping) else {}


def _guarded(annotations: Mapping[Any, Any], vocabulary: Vocabulary) -> dict[str, Any]:
    own = {str(k): v for k, v in annotations.items() if str(k).startswith(EXPORTGATE_PREFIX)}
    return {**own, **device_annotations(annotations, vocabulary)}


def guarded_annotation_changes(
    obj: Mapping[str, Any] | None, old: Mapping[str, Any] | None, vocabulary: Vocabulary
) -> list[str]:
    """The guarded annotation keys a write from `old` to `obj` adds, alters or removes, sorted."""
    new = _guarded(_annotations(obj), vocabulary)
    before = _guarded(_annotations(old), vocabulary)
    return sorted(key for key in new.keys() | before.keys() if new.get(key) != before.get(key))


def binding_guarded_annotations(
    binding: Mapping[str, Any] | None, vocabulary: Vocabulary
) -> list[str]:
    """The guarded annotation keys a Binding would merge into its Pod, sorted."""
    return sorted(_guarded(_annotations(binding), vocabulary))
