"""`SpecMemo`: what extraction found in a pod spec, remembered for the next identical spec.

A cluster creates many Pods from the same few specs (a Deployment's replicas, a Job's retries,
the same training pod under a new name), and reading a pod spec (containers, resources,
placements, model references, device access) is most of what extracting a Pod costs the webhook
(bench/NOTES.md). What the Pod adapter finds is a function of the spec and of the few pod
annotations that hand out devices (KAI Scheduler's ``gpu-fraction``, CDI's ``cdi.k8s.io/...``);
the registry hands the memo the spec, or ``[spec, those annotations]`` when there are any (see
`exportgate.core.extract.registry.FindingsMemo` for when it asks a memo at all), so the findings
are kept per key, keyed by its exact JSON text: two pods with one spec and different device
annotations never share an answer.

The key must tell apart every two specs that could be read differently. Specs here come from a
JSON parse only (dicts, lists, strings, ints, finite or non-finite floats, booleans, null), and
orjson with sorted keys writes each of those one way, except that NaN and infinities are written
as ``null``: so a spec whose text holds a ``null`` value is not remembered (a false alarm, such as
``"/dev/null"`` in a string, only costs a normal read). What orjson cannot write (integers past
64 bits) is read normally too, as is an unusually large spec. Errors are never remembered: a
spec that cannot be read is read (and refused with the same message) every time.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Mapping
from typing import Any, Protocol

import orjson

from exportgate.core.extract.dra_refs import DraObjects
from exportgate.core.extract.registry import AdapterRegistry, Findings
from exportgate.core.types import Workload

DEFAULT_ENTRIES = 256
DEFAULT_MAX_SPEC_BYTES = 16 * 1024
"""Specs larger than this are read every time: 256 x 16 KiB bounds the memo at 4 MiB of keys,
and a typical Pod spec from the API server is 1-4 KiB."""

# A null value in sorted-key JSON text follows one of these (or is the whole text).
_NULL_VALUES = (b":null", b",null", b"[null")


class SpecMemo:
    """A bounded memo of pod-spec findings (oldest entry dropped first); thread-safe, because
    large objects are extracted on the reviewer's worker threads."""

    def __init__(
        self, entries: int = DEFAULT_ENTRIES, max_spec_bytes: int = DEFAULT_MAX_SPEC_BYTES
    ) -> None:
        self._entries = entries
        self._max_spec_bytes = max_spec_bytes
        self._memo: dict[bytes, Findings] = {}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._memo)

    def findings(self, key: object, read: Callable[[], Findings]) -> Findings:
        """What `read` finds for `key` (the registry's: a spec, or [spec, annotations])."""
        text = _key(key, self._max_spec_bytes)
        if text is None:
            return read()
        found = self._memo.get(text)
        if found is None:
            found = read()  # raises for a spec that cannot be read: nothing is remembered
            with self._lock:
                if len(self._memo) >= self._entries:
                    del self._memo[next(iter(self._memo))]
                self._memo[text] = found
        return found


def _key(spec: object, limit: int) -> bytes | None:
    """The spec's JSON text with sorted keys, or None when it may not be used as a key."""
    try:
        text = orjson.dumps(spec, option=orjson.OPT_SORT_KEYS)
    except orjson.JSONEncodeError:
        return None
    if len(text) > limit or (b"null" in text and _has_null_value(text)):
        return None
    return text


def _has_null_value(text: bytes) -> bool:
    return text == b"null" or any(null in text for null in _NULL_VALUES)


class Extract(Protocol):
    def __call__(self, obj: Mapping[str, Any], dra: DraObjects | None = None, /) -> Workload: ...


def remembering(registry: AdapterRegistry) -> Extract:
    """`registry.extract` with a `SpecMemo` of its own."""
    return functools.partial(registry.extract, memo=SpecMemo())
