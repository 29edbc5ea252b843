from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from exportgate.core.types import Action
from exportgate.decisionlog.errors import RecordFormatError
from exportgate.decisionlog.ids import uuid7
from exportgate.decisionlog.record import (
    LogEntry,
    _rfc3339_ms_strftime,
    decision_body,
    raw_body,
    rfc3339_ms,
    unix_ms,
    utc,
)
from tests.decisionlog.builders import make_decision


def test_decision_body_holds_what_an_auditor_needs() -> None:
    entry = LogEntry(
        make_decision(),
        user="alice@example.com",
        request_uid="4b7c",
        operation="CREATE",
        extra={"policyVersion": "sha256:abc", "cache": "miss"},
    )
    body = decision_body(entry)
    assert body["id"] is None  # the writer generates one
    assert body["tenant"] == "acme"
    assert body["jurisdictions"] == [
        {"country": "CN", "role": "headquarters", "via": None, "declaredAs": "HK"}
    ]
    assert body["verification"] == "Verified"
    assert body["verificationRef"] == "kyc://acme/2025-01"
    assert body["object"] == {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "namespace": "team-a",
        "name": "train-0",
    }
    assert (body["user"], body["requestUid"], body["operation"]) == (
        "alice@example.com",
        "4b7c",
        "CREATE",
    )
    assert body["accelerators"][0]["products"] == ["nvidia-h100-sxm"]
    assert body["models"][0]["model"] == "llama-3.1-405b"
    assert (body["action"], body["rule"]) == ("deny", "ear-3a090-d5")
    assert body["citation"] == "15 CFR 742.6(a)(6)(iii)"
    assert body["message"].startswith("NVIDIA H100 SXM is classified 3A090.a")
    assert body["violations"][0]["remedy"].startswith("Ask your account team")
    assert body["policyVersions"] == {"ear-3a090": "2025.1"}
    assert body["policyVersion"] == "sha256:abc"
    assert body["extra"] == {"cache": "miss"}
    assert body["evaluatedAt"] == "2025-02-03T04:05:06.789Z"


def test_allow_has_no_rule_and_says_so() -> None:
    body = decision_body(LogEntry(make_decision(action=Action.ALLOW)))
    assert (body["action"], body["rule"], body["citation"], body["violations"]) == (
        "allow",
        None,
        None,
        [],
    )
    assert body["message"] == "admitted: no export-control rule applies"


def test_decision_id_must_be_a_non_empty_string() -> None:
    with pytest.raises(RecordFormatError, match="decision_id"):
        decision_body(LogEntry(make_decision(), decision_id=""))


def test_policy_version_must_be_a_string() -> None:
    with pytest.raises(RecordFormatError, match="policyVersion"):
        decision_body(LogEntry(make_decision(), extra={"policyVersion": 3}))


def test_raw_records_cannot_impersonate_the_writer() -> None:
    assert raw_body({"type": "policy-reload", "policyVersion": "x"}) == (
        "policy-reload",
        {"policyVersion": "x"},
    )
    with pytest.raises(RecordFormatError, match="needs a non-empty string 'type'"):
        raw_body({"what": 1})
    for reserved in ("decision", "recovery", "rotated"):
        with pytest.raises(RecordFormatError, match="reserved"):
            raw_body({"type": reserved})
    with pytest.raises(RecordFormatError, match=r"\['prev', 'seq'\]"):
        raw_body({"type": "note", "seq": 1, "prev": "x"})


def test_times_are_rfc3339_utc_with_milliseconds() -> None:
    moment = datetime(2025, 1, 2, 3, 4, 5, 678901, tzinfo=timezone(timedelta(hours=2)))
    assert rfc3339_ms(moment) == "2025-01-02T01:04:05.678Z"
    assert rfc3339_ms(datetime(2025, 1, 2)) == "2025-01-02T00:00:00.000Z"  # naive means UTC
    assert unix_ms(datetime(1970, 1, 1, 0, 0, 1, tzinfo=UTC)) == 1000


def test_uuid7_ids_sort_by_time_and_stay_ordered_within_a_millisecond() -> None:
    ms = unix_ms(datetime(2025, 1, 1, tzinfo=UTC))
    same_ms = [uuid7(ms) for _ in range(50)]
    assert same_ms == sorted(same_ms)
    assert len(set(same_ms)) == 50
    later = uuid7(ms + 1000)
    assert later > same_ms[-1]
    assert later[14] == "7"  # version nibble
    assert int(later[:8] + later[9:13], 16) == ms + 1000


@settings(max_examples=500, deadline=None)
@given(
    moment=st.datetimes(
        min_value=datetime(1, 1, 1, 0, 0, 1),
        max_value=datetime(9999, 12, 30),
        timezones=st.sampled_from(
            [UTC, timezone(timedelta(hours=-7)), timezone(timedelta(0)), None]
        ),
    )
)
def test_directly_formatted_times_are_strftimes_text(moment: datetime) -> None:
    # The fast form must write exactly what the strftime form wrote, years before 1000 included
    # (glibc does not pad those); naive and non-UTC instants go through the same conversion.
    assert rfc3339_ms(moment) == _rfc3339_ms_strftime(utc(moment))


def test_directly_formatted_times_at_the_edges() -> None:
    for moment in (
        datetime(1000, 1, 1, tzinfo=UTC),
        datetime(999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
        datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
        datetime(2025, 1, 2, 3, 4, 5, 999, tzinfo=UTC),
    ):
        assert rfc3339_ms(moment) == _rfc3339_ms_strftime(moment)


def test_uuid7_text_is_what_the_uuid_module_writes() -> None:
    ms = unix_ms(datetime(2025, 1, 1, tzinfo=UTC))
    for step in range(2000):
        text = uuid7(ms + step // 7)
        parsed = uuid.UUID(text)
        assert str(parsed) == text
        assert parsed.version == 7
        assert parsed.variant == uuid.RFC_4122
        assert parsed.int >> 80 == ms + step // 7
