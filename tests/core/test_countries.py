"""Country groups as dated data: membership edges the policies depend on, and normalisation."""

from __future__ import annotations

import pytest

from exportgate.core.countries import builtin_country_groups, country_name, is_country

MEMBERSHIP = [
    # (country, groups it must be in, groups it must not be in)
    ("CN", {"D:1", "D:4", "D:5"}, {"A:5", "A:6"}),
    ("MO", {"D:1", "D:4", "MO"}, {"D:5"}),  # Macau is named beside D:5, not in it
    ("IL", {"D:4", "A:6"}, {"D:1", "D:5"}),
    # The UAE is in D:4 and NOT in A:5/A:6 (regulation-2026.md s3: A:5 has 37 members, without AE).
    ("AE", {"D:4"}, {"A:5", "A:6", "D:1", "D:5"}),
    ("SG", {"A:6"}, {"D:1", "D:4", "D:5"}),
    ("VN", {"D:1"}, {"D:4", "D:5", "A:5", "A:6"}),
    ("SA", {"D:4"}, {"D:1", "D:5"}),
    # Cambodia left D:5 on 2025-11-07 (DDTC; BIS conforming rule 2026-02-03), stays in D:1.
    ("KH", {"D:1"}, {"D:5"}),
    ("CU", {"D:5", "E:2"}, {"D:1", "D:4"}),
    ("IR", {"D:4", "D:5", "E:1"}, {"D:1"}),
    ("DE", {"A:5", "EU"}, {"D:1", "D:4", "D:5"}),
    ("US", set(), {"D:1", "D:4", "D:5", "A:5", "A:6"}),
    ("NO", {"A:5", "AID-TIER1"}, {"EU"}),  # YAML 1.1 would read NO as false
]


@pytest.mark.parametrize(
    ("country", "inside", "outside"), MEMBERSHIP, ids=[m[0] for m in MEMBERSHIP]
)
def test_group_membership(country: str, inside: set[str], outside: set[str]) -> None:
    groups = set(builtin_country_groups().groups_of(country))
    assert inside <= groups
    assert not (outside & groups)


def test_hong_kong_counts_as_china() -> None:
    groups = builtin_country_groups()
    assert groups.normalise("HK") == "CN"
    assert groups.normalise("SG") == "SG"
    assert "85 FR 83765" in groups.normalisation["HK"][1]


def test_every_member_is_an_assigned_iso_code_and_every_group_is_cited() -> None:
    groups = builtin_country_groups()
    assert groups.snapshot and groups.version
    for group in groups.groups.values():
        assert group.citation, group.name
        for code in group.members:
            assert is_country(code), (group.name, code)


@pytest.mark.parametrize(
    ("reference", "expected"),
    [("D:5", "CN"), ("VN", "VN"), ("MO", "MO")],
)
def test_policy_references_resolve_to_countries(reference: str, expected: str) -> None:
    members = builtin_country_groups().resolve(reference)
    assert members is not None and expected in members


def test_star_means_every_country_and_unknown_references_raise() -> None:
    groups = builtin_country_groups()
    assert groups.resolve("*") is None
    assert groups.matching("US", ["*"]) == ("*",)
    with pytest.raises(KeyError):
        groups.resolve("D:9")
    with pytest.raises(KeyError):
        groups.resolve("XX")


@pytest.mark.parametrize(
    ("code", "valid"),
    [("SG", True), ("HK", True), ("NO", True), ("XX", False), ("sg", False), ("UK", False)],
)
def test_iso_codes(code: str, valid: bool) -> None:
    assert is_country(code) is valid


def test_country_names_for_messages() -> None:
    assert country_name("SG") == "Singapore"
    assert country_name("XX") == "XX"
