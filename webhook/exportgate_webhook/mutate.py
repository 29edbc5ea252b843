"""The decision stamp (opt-in): annotations that tie a running workload to the decision that
admitted it, and everything the webhook knows about them.

The whole protocol, webhook side: `/mutate` strips any stamp a caller wrote and stamps an admitted
object with `stamps_for` its answer; `/validate` names `stamped_decision_id` to the sidecar, which
reuses that decision only under its one validity rule (exportgate.service.recent); with the stamp
off, `/validate` refuses `forged_stamps` instead, so a stamp is always exportgate's.

`stamp_patch` builds the RFC 6902 JSON Patch the mutating endpoint returns. JSON Pointer needs
`~` and `/` escaped (`exportgate.dev/decision-id` becomes `exportgate.dev~1decision-id`), and
`add` on `/metadata/annotations/<key>` fails when the object has no annotations yet, so the patch
adds the whole map in that case.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from exportgate.wire import Answer

DECISION_ID = "exportgate.dev/decision-id"
ACCELERATOR_CLASS = "exportgate.dev/accelerator-class"
POLICY_VERSION = "exportgate.dev/policy-version"

#: The annotations only exportgate writes. A caller who sets them is forging a stamp.
STAMP_KEYS = (DECISION_ID, ACCELERATOR_CLASS, POLICY_VERSION)

#: The accelerator class stamped on a model-only workload.
NO_ACCELERATOR = "none"

JsonPatch = list[dict[str, Any]]


def escape_pointer_token(token: str) -> str:
    """One reference token of a JSON Pointer (RFC 6901 section 3)."""
    return token.replace("~", "~0").replace("/", "~1")


def _annotations(obj: Mapping[str, Any]) -> Mapping[str, Any] | None:
    metadata = obj.get("metadata")
    if not isinstance(metadata, Mapping):
        return None
    annotations = metadata.get("annotations")
    return annotations if isinstance(annotations, Mapping) else None


def stamps_of(obj: Mapping[str, Any] | None) -> dict[str, str]:
    """The stamp annotations an object carries (any value type, as a string)."""
    if obj is None:
        return {}
    annotations = _annotations(obj) or {}
    return {key: str(annotations[key]) for key in STAMP_KEYS if key in annotations}


def stamp_patch(obj: Mapping[str, Any], stamps: Mapping[str, str]) -> JsonPatch:
    """A patch that sets `stamps` as annotations, overwriting whatever the object carried."""
    metadata = obj.get("metadata")
    if not isinstance(metadata, Mapping):
        return [{"op": "add", "path": "/metadata", "value": {"annotations": dict(stamps)}}]
    annotations = metadata.get("annotations")
    if not isinstance(annotations, Mapping):
        # Missing or null: "add" replaces a null member too.
        return [{"op": "add", "path": "/metadata/annotations", "value": dict(stamps)}]
    return [
        {
            "op": "add",  # "add" on an existing member replaces it (RFC 6902 section 4.1)
            "path": "/metadata/annotations/" + escape_pointer_token(key),
            "value": value,
        }
        for key, value in stamps.items()
    ]


def strip_patch(obj: Mapping[str, Any]) -> JsonPatch:
    """A patch removing every stamp annotation the object carries (none when it carries none)."""
    annotations = _annotations(obj)
    if not annotations:
        return []
    return [
        {"op": "remove", "path": "/metadata/annotations/" + escape_pointer_token(key)}
        for key in STAMP_KEYS
        if key in annotations
    ]


def stamps_for(answer: Answer) -> dict[str, str]:
    """The stamp of an admitted object: its decision, class (from the core) and policy."""
    return {
        DECISION_ID: answer.decision_id,
        ACCELERATOR_CLASS: answer.decision.accelerator_class or NO_ACCELERATOR,
        POLICY_VERSION: answer.policy_version,
    }


def stamped_decision_id(obj: Mapping[str, Any] | None) -> str:
    """The decision id an object carries ("" for none): with the stamp on, the one /mutate
    just wrote, since it overwrites or removes any other."""
    return stamps_of(obj).get(DECISION_ID, "")


def forged_stamps(obj: Mapping[str, Any] | None, old: Mapping[str, Any] | None) -> list[str]:
    """Stamp keys `obj` adds or alters against `old` (None for a CREATE)."""
    new = stamps_of(obj)
    before = stamps_of(old)
    return [key for key, value in new.items() if before.get(key) != value]
