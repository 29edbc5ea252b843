"""Writes to a Pod's status subresource: the annotations exportgate reads may not change there.

The API server's status strategy for Pods (podStatusStrategy.PrepareForUpdate, in
kubernetes/kubernetes pkg/registry/core/pod/strategy.go) resets only the spec, the
deletionTimestamp and the ownerReferences: labels and annotations are stored as the caller sent
them, and admission of the Pod itself never sees the write. So whoever holds RBAC on
`pods/status` could otherwise write, unseen:

* an annotation that hands the pod a device (`device_annotations`: KAI Scheduler's
  gpu-fraction, a CDI device), on a pod admitted without one;
* an `exportgate.dev/` annotation: a decision stamp (forged), or the operator's violation mark
  (removed or rewritten).

The kubelet writes `pods/status` for every pod all the time and never touches these, so the
rule is narrow and needs no policy decision: a status write that adds, alters or removes one of
them is refused to all but platform identities; every other status write is admitted without
being evaluated. The chart sends only the writes that change one (a matchCondition), so kubelet
updates never reach the webhook. Pod labels are not guarded: nothing in exportgate reads a Pod's
labels (its tenant is its namespace's).
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
