"""metav1.Condition lists: set one condition, keeping lastTransitionTime when nothing changed."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from exportgate.decisionlog.record import rfc3339_ms


def timestamp(moment: datetime) -> str:
    """RFC 3339 in UTC with a Z, as Kubernetes writes times (second precision)."""
    return rfc3339_ms(moment)[:19] + "Z"


def condition(
    type_: str,
    status: bool | None,
    reason: str,
    message: str,
    *,
    now: datetime,
    generation: int | None = None,
) -> dict[str, Any]:
    value = "Unknown" if status is None else ("True" if status else "False")
    found: dict[str, Any] = {
        "type": type_,
        "status": value,
        "reason": reason,
        "message": message[:32768],
        "lastTransitionTime": timestamp(now),
    }
    if generation is not None:
        found["observedGeneration"] = generation
    return found


def merge(
    existing: Sequence[Mapping[str, Any]] | None, updates: Sequence[dict[str, Any]]
) -> list[dict[str, Any]]:
    """`existing` with `updates` applied; a condition whose status did not change keeps its
    lastTransitionTime, so the time says when the state flipped, not when we last looked."""
    by_type = {str(c.get("type")): dict(c) for c in existing or ()}
    for update in updates:
        before = by_type.get(update["type"])
        if before is not None and before.get("status") == update["status"]:
            update = {**update, "lastTransitionTime": before.get("lastTransitionTime")}
        by_type[update["type"]] = update
    return [by_type[key] for key in sorted(by_type)]
