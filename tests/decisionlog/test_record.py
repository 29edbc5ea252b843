from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from exportgate.core.types import Action
from exportgate.decisionlog.errors import RecordFormatError
from exportgate.decisionlog.ids import uuid7
from exportgate.decisionlog.record import (
    LogEntry,
    decision_body,
    raw_body,
    rfc3339_ms,
    unix_ms,
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
