"""The last step of extraction: one request per distinct (resource, placement), within the caps.

A pod with C containers and P alternative placements used to yield C x P requests, and every
later step (the engine, the decision record) multiplied that again. Requests are merged here into
the union of distinct (resource, hints) pairs with their counts summed, in one dictionary pass,
so the work after extraction depends on what an object asks for, not on how often it repeats
it. The caps themselves live in `exportgate.core.limits`.
"""

from __future__ import annotations

from collections.abc import Iterable

from exportgate.core.errors import InputError
from exportgate.core.limits import MAX_ACCELERATOR_REQUESTS, MAX_MODEL_REFERENCES
from exportgate.core.types import AcceleratorRequest, ModelRequest, ProductHint


def over_cap(count: int, cap: int, cap_name: str, what: str, field: str) -> InputError:
    """The refusal for an object past one of the caps: names the cap, the count and the fix."""
    return InputError(
        f"{count} {what} exceed exportgate's cap of {cap} ({cap_name})",
        field=field or None,
        hint="split the workload into several objects; see docs/webhook.md, 'Limits'",
    )


def check_cap(count: int, cap: int, cap_name: str, what: str, field: str) -> None:
    if count > cap:
        raise over_cap(count, cap, cap_name, what, field)


def merge_accelerators(requests: Iterable[AcceleratorRequest]) -> tuple[AcceleratorRequest, ...]:
    """Distinct (resource, hints) pairs in first-seen order, counts summed, first source kept."""
    merged: dict[tuple[str, tuple[ProductHint, ...]], AcceleratorRequest] = {}
    for request in requests:
        key = (request.resource, request.hints)
        seen = merged.get(key)
        if seen is None:
            merged[key] = request
            check_cap(
                len(merged),
                MAX_ACCELERATOR_REQUESTS,
                "MAX_ACCELERATOR_REQUESTS",
                "distinct accelerator requests (resource and placement)",
                request.source,
            )
        else:
            merged[key] = AcceleratorRequest(
                seen.resource, seen.count + request.count, seen.hints, seen.source
            )
    return tuple(merged.values())


def check_models(models: tuple[ModelRequest, ...]) -> tuple[ModelRequest, ...]:
    if len(models) > MAX_MODEL_REFERENCES:
        raise over_cap(
            len(models),
            MAX_MODEL_REFERENCES,
            "MAX_MODEL_REFERENCES",
            "distinct model references",
            models[MAX_MODEL_REFERENCES].source,
        )
    return models
