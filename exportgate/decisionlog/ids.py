"""Time-sortable record identifiers (UUID version 7, RFC 9562).

A UUIDv7 starts with the 48-bit Unix time in milliseconds, so ids sort by creation time as
plain strings, which is what auditors do when they merge logs of several writers. Python 3.11
has no `uuid.uuid7`, hence this small generator. Within one process, ids generated in the same
millisecond stay ordered: the 12-bit ``rand_a`` field is used as a counter (RFC 9562, 6.2,
method 1), seeded randomly each millisecond. Ids are never the chain's ordering: `seq` is.
"""

from __future__ import annotations

import os
import threading

_lock = threading.Lock()
_last_ms = -1
_counter = 0


def uuid7(unix_ms: int) -> str:
    """A UUIDv7 string for the instant `unix_ms` (milliseconds since the Unix epoch)."""
    global _last_ms, _counter
    random = int.from_bytes(os.urandom(10), "big")  # one read: rand_b, and a counter seed
    with _lock:
        if unix_ms == _last_ms and _counter < 0xFFF:
            _counter += 1
        else:
            # A new millisecond (or 4096 ids in this one, or a clock that stepped back): the id
            # keeps the time it was given; ordering across such steps is what `seq` is for.
            _last_ms = unix_ms
            _counter = (random >> 64) & 0x7FF  # leave room to count up
        counter = _counter
    value = (unix_ms & ((1 << 48) - 1)) << 80
    value |= 0x7 << 76  # version
    value |= counter << 64
    value |= 0b10 << 62  # variant (RFC 9562)
    value |= random & ((1 << 62) - 1)  # rand_b
    # str(uuid.UUID(int=value)), without building the UUID object (tests/decisionlog/
    # test_ids.py compares them): an id is drawn for every decision record.
    text = "%032x" % value  # noqa: UP031 (what uuid.UUID.__str__ does)
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"
