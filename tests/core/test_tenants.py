"""Tenant records: parsing, jurisdictions (HK as CN, parent, resale) and verification in time.

Bad input must name the file, the line and the field.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from exportgate.core.errors import InputError
from exportgate.core.tenants import (
    effective_verification,
    jurisdictions,
    load_tenant_file,
    parse_tenant_text,
)
from exportgate.core.types import EffectiveVerification, JurisdictionRole
from tests.core.builders import make_tenant

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "tenants.yaml"

TENANT = """\
apiVersion: exportgate.dev/v1alpha1
kind: Tenant
metadata: {{name: acme}}
spec:
  legalName: Acme Robotics Pte. Ltd.
  incorporation: {incorporation}
  headquarters: SG
  verification:
    state: {state}
    verifiedAt: "2026-03-01T00:00:00Z"
    expiresAt: {expires}
    evidenceRef: kyc-case-4411
"""


def _text(
    incorporation: str = "SG", state: str = "Verified", expires: str = '"2027-03-01T00:00:00Z"'
) -> str:
    return TENANT.format(incorporation=incorporation, state=state, expires=expires)


def test_the_issue_example_parses() -> None:
    tenants = load_tenant_file(EXAMPLES)
    assert [t.name for t in tenants] == ["acme", "nimbus", "orbit"]
    nimbus = tenants[1]
    assert nimbus.ultimate_parent is not None
    assert nimbus.ultimate_parent.headquarters == "CN"
    assert nimbus.verification.evidence_ref == "kyc-case-5120"


def test_jurisdictions_are_every_country_with_its_reason() -> None:
    tenant = make_tenant(
        incorporation="SG",
        headquarters="HK",
        parent="JP",
        end_customers=[{"name": "Lab", "country": "VN", "headquarters": "CN"}],
    )
    found = [(j.country, j.role, j.via, j.declared_as) for j in jurisdictions(tenant)]
    assert found == [
        ("SG", JurisdictionRole.INCORPORATION, "", ""),
        ("CN", JurisdictionRole.HEADQUARTERS, "", "HK"),
        ("JP", JurisdictionRole.PARENT_HEADQUARTERS, "JP Holdings", ""),
        ("VN", JurisdictionRole.END_CUSTOMER_COUNTRY, "Lab", ""),
        ("CN", JurisdictionRole.END_CUSTOMER_HEADQUARTERS, "Lab", ""),
    ]


AT = datetime(2026, 7, 1, tzinfo=UTC)
VERIFICATION = [
    # (spec, effective state at AT)
    ({}, EffectiveVerification.VERIFIED),
    ({"state": "Pending"}, EffectiveVerification.PENDING),
    ({"state": "Rejected"}, EffectiveVerification.REJECTED),
    ({"state": "Revoked"}, EffectiveVerification.REVOKED),
    ({"expires_at": "2026-07-01T00:00:00Z"}, EffectiveVerification.EXPIRED),  # expiry is exclusive
    ({"expires_at": "2026-07-01T00:00:01Z"}, EffectiveVerification.VERIFIED),
    ({"verified_at": "2026-07-02T00:00:00Z"}, EffectiveVerification.NOT_YET_VALID),
    ({"expires_at": None}, EffectiveVerification.VERIFIED),
]


@pytest.mark.parametrize(("spec", "state"), VERIFICATION)
def test_verification_as_of_an_instant(
    spec: dict[str, str | None], state: EffectiveVerification
) -> None:
    assert effective_verification(make_tenant(**spec), AT) is state  # type: ignore[arg-type]


def test_no_tenant_is_unbound() -> None:
    assert effective_verification(None, AT) is EffectiveVerification.UNBOUND


BAD = [
    # (case, text, line, field, words in the message)
    ("unknown-country", _text(incorporation="XX"), 6, "spec.incorporation",
     "'XX' is not an assigned"),
    ("lower-case-country", _text(incorporation="sg"), 6, "spec.incorporation", "ISO 3166-1"),
    ("unknown-verification-state", _text(state="Approved"), 9, "spec.verification.state",
     "'Approved' is not one of"),
    ("bad-timestamp", _text(expires="next year"), 11, "spec.verification.expiresAt",
     "not an RFC 3339 timestamp"),
    ("no-time-zone", _text(expires='"2027-03-01T00:00:00"'), 11, "spec.verification.expiresAt",
     "no time zone"),
    ("iso-basic-format", _text(expires='"20270301T000000Z"'), 11, "spec.verification.expiresAt",
     "not an RFC 3339 timestamp"),
    ("iso-week-date", _text(expires='"2027-W09-1T00:00:00Z"'), 11,
     "spec.verification.expiresAt", "not an RFC 3339 timestamp"),
    ("date-only", _text(expires='"2027-03-01"'), 11, "spec.verification.expiresAt",
     "no time zone"),
    ("misspelt-field", _text().replace("evidenceRef", "evidenceref"), 12,
     "spec.verification.evidenceref", "unknown field"),
    ("missing-field", _text().replace("  legalName: Acme Robotics Pte. Ltd.\n", ""), 5, "spec",
     "'legalName' is required"),
    ("wrong-api-version", _text().replace("v1alpha1", "v9"), 1, "apiVersion",
     "unsupported apiVersion"),
    ("broken-yaml", _text().replace("state: Verified", "state: [Verified"), 10, None,
     "not valid YAML"),
]


@pytest.mark.parametrize(
    ("text", "line", "field", "words"), [b[1:] for b in BAD], ids=[b[0] for b in BAD]
)
def test_bad_tenant_records_name_file_line_and_field(
    text: str, line: int, field: str | None, words: str
) -> None:
    with pytest.raises(InputError) as caught:
        parse_tenant_text(text, "tenants/acme.yaml")
    error = caught.value
    assert error.source == "tenants/acme.yaml"
    assert error.line == line
    assert error.field == field
    assert words in error.message
    assert error.describe().startswith(f"tenants/acme.yaml:{line}: ")


def test_bad_country_in_a_licence_names_its_position() -> None:
    text = _text() + "  licenses:\n    - {id: L1, covers: [3A090.a], countries: [VN, ZZ]}\n"
    with pytest.raises(InputError) as caught:
        parse_tenant_text(text, "t.yaml")
    assert caught.value.field == "spec.licenses[0].countries[1]"
    assert caught.value.line == 14


def test_a_file_of_another_kind_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "pod.yaml"
    path.write_text("apiVersion: v1\nkind: Pod\nmetadata: {name: p}\n")
    with pytest.raises(InputError, match="expected a Tenant"):
        load_tenant_file(path)


def test_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(InputError) as caught:
        load_tenant_file(tmp_path / "nope.yaml")
    assert caught.value.source and caught.value.source.endswith("nope.yaml")
    assert "file not found" in caught.value.message


@pytest.mark.parametrize("covers", ["3a090.a", "3A090", "h100"])
def test_a_licence_covering_something_unknown_is_rejected(covers: str) -> None:
    """A misspelt class would leave the licence silently covering nothing."""
    licence = f"{{id: L1, covers: [3A090.a, {covers}], countries: [VN]}}"
    text = _text() + f"  licenses:\n    - {licence}\n"
    with pytest.raises(InputError) as caught:
        parse_tenant_text(text, "t.yaml")
    assert caught.value.field == "spec.licenses[0].covers[1]"
    assert "neither an export classification nor a catalogue product" in caught.value.message


@pytest.mark.parametrize("covers", ["3A090.a", "3A090.b", "4A090.a", "4A090.b", "nvidia-h20"])
def test_licences_cover_classes_and_products(covers: str) -> None:
    text = _text() + f"  licenses:\n    - {{id: L1, covers: [{covers}], countries: [VN]}}\n"
    (tenant,) = parse_tenant_text(text, "t.yaml")
    assert tenant.licences[0].covers == (covers,)
