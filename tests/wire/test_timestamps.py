"""`exportgate.wire.timestamps`: the hot path's Timestamp is protobuf's own, to the nanosecond."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from google.protobuf import timestamp_pb2

from exportgate.wire.timestamps import timestamp
from tests.core.builders import NOW


@pytest.mark.parametrize(
    "at",
    [
        NOW,
        datetime(1969, 12, 31, 23, 59, 59, 500_000, tzinfo=UTC),  # before the epoch
        datetime(2030, 1, 1, 12, 0, tzinfo=timezone(timedelta(hours=5, minutes=30))),
        datetime(1, 1, 1, tzinfo=UTC),
        datetime(9999, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC),
        datetime(2026, 11, 30, 10, 0),  # naive: local time, as FromDatetime reads it
    ],
)
def test_timestamp_is_what_protobuf_makes_of_the_instant(at: datetime) -> None:
    expected = timestamp_pb2.Timestamp()
    expected.FromDatetime(at.astimezone(UTC))
    assert timestamp(at) == expected
