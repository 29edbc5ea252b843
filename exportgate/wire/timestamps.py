"""Instants on the wire: protobuf Timestamps, built as cheaply as the hot path needs."""

from __future__ import annotations

from datetime import UTC, datetime

from google.protobuf import timestamp_pb2

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def timestamp(at: datetime) -> timestamp_pb2.Timestamp:
    """`at` as a protobuf Timestamp. An aware instant is converted directly, the same seconds
    and nanos as `Timestamp.FromDatetime` at a fifth of its cost (one per answered decision);
    a naive one (local time) goes through `FromDatetime` as before."""
    if at.tzinfo is None:
        ts = timestamp_pb2.Timestamp()
        ts.FromDatetime(at.astimezone(UTC))
        return ts
    since = at - _EPOCH
    return timestamp_pb2.Timestamp(
        seconds=since.days * 86_400 + since.seconds, nanos=since.microseconds * 1000
    )
