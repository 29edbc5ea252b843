"""The one last-good rule for records that stop parsing."""

from __future__ import annotations

from exportgate.core.errors import InputError
from exportgate.world.lastgood import ON_INVALID, OnInvalid, RecordKind, read


def _broken() -> str:
    raise InputError("spec.rules[0]: not a list")


def test_a_record_that_parses_is_served() -> None:
    reading = read(RecordKind.POLICY, lambda: "v1")
    assert (reading.current, reading.served, reading.error, reading.refusal()) == (
        "v1", "v1", None, None
    )


def test_a_broken_record_keeps_its_last_good_version_per_the_kind_table() -> None:
    good = read(RecordKind.POLICY, lambda: "v1")
    broken = read(RecordKind.POLICY, _broken, good)
    assert ON_INVALID[RecordKind.POLICY] is OnInvalid.KEEP_LAST_GOOD
    assert broken.current is None and broken.served == "v1"
    assert "still using the last good version" in (broken.refusal(" (resourceVersion 7)") or "")
    assert "(resourceVersion 7)" in (broken.refusal(" (resourceVersion 7)") or "")


def test_a_record_that_never_parsed_serves_nothing() -> None:
    broken = read(RecordKind.TENANT, _broken)
    assert broken.served is None
    assert "ignored until it is fixed" in (broken.refusal() or "")


def test_a_tenant_that_stops_parsing_is_not_served_from_its_last_good_version() -> None:
    """Issue 11: a broken Tenant edit may revoke something; the old version never serves."""
    good = read(RecordKind.TENANT, lambda: "v1")
    broken = read(RecordKind.TENANT, _broken, good)
    assert ON_INVALID[RecordKind.TENANT] is OnInvalid.UNUSABLE
    assert ON_INVALID[RecordKind.TENANT_FILE] is OnInvalid.UNUSABLE
    assert broken.served is None and broken.error is not None
