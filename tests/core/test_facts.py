"""Every fact carries its source and, where the reference sheet gives one, its date.

The table SHEET_DATES lists the dates regulation-2026.md gives; the test fails if the data loses
one. The other tests fail if any rule, membership, lane or product lacks a citation, if an
unverified fact does not say which default was chosen, or if the docs' generated tables drift.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from exportgate.core.catalogue import builtin_catalogue
from exportgate.core.countries import builtin_country_groups
from exportgate.core.facts import (
    classification_rows,
    lane_rows,
    markdown,
    membership_rows,
    rule_rows,
)
from exportgate.core.policy import builtin_packs
from exportgate.core.tenants import licensable_subjects

DOCS = Path(__file__).parents[2] / "docs" / "policies.md"


def _rule(pack: str, rule: str):  # type: ignore[no-untyped-def]
    return next(r for r in builtin_packs()[pack].rules if r.id == rule)


SHEET_DATES = [
    # (pack, rule, effective, until or None), regulation-2026.md section in the comment
    ("us-ear-advanced-computing", "ear-3a090-d5-macau", "2023-11-17", None),  # s1, 88 FR 73458
    ("us-ear-advanced-computing", "ear-h20-is-informed", "2025-04-09", None),  # s2.2
    ("vendor-model-terms", "anthropic-ownership", "2025-09-05", None),  # s7
    ("vendor-model-terms", "openai-unsupported-countries", "2024-07-09", None),  # s7
    ("vendor-model-terms", "google-gemini-available-regions", "2025-05-20", None),  # s7
    ("vendor-model-terms", "llama-multimodal-eu", "2024-09-25", None),  # s7
    ("vendor-model-terms", "llama-4-multimodal-eu", "2025-04-05", None),  # s7, Llama 4 licence
    ("restricted-parties", "affiliates-rule-50", "2025-09-29", None),  # s2.5
    ("bis-gp10-prc-advanced-ics", "gp10-huawei-ascend", "2025-05-13", None),  # s2.3
    ("us-ear-ai-diffusion-2025", "aid-tier2-accelerators", "2025-05-15", None),  # s2.4
]


@pytest.mark.parametrize(("pack", "rule", "effective", "until"), SHEET_DATES)
def test_rules_carry_the_sheets_dates(
    pack: str, rule: str, effective: str, until: str | None
) -> None:
    found = _rule(pack, rule)
    assert found.effective == date.fromisoformat(effective)
    assert found.until == (date.fromisoformat(until) if until else None)


def test_the_affiliates_suspension_and_the_diffusion_status_are_dated() -> None:
    (window,) = _rule("restricted-parties", "affiliates-rule-50").suspensions
    assert (window.since, window.until) == (date(2025, 11, 10), date(2026, 11, 10))
    assert window.citation
    assert builtin_packs()["us-ear-ai-diffusion-2025"].not_enforced_since == date(2025, 5, 13)


def test_dated_memberships_from_the_sheet() -> None:
    groups = builtin_country_groups()
    kh = next(m for m in groups.groups["D:5"].memberships if m.country == "KH")
    assert kh.fact.until == date(2025, 11, 7) and kh.fact.citation
    assert groups.normalisations["HK"].fact.since == date(2020, 12, 23)


@pytest.mark.parametrize("row", rule_rows(), ids=lambda r: f"{r['pack']}/{r['rule']}")
def test_every_rule_has_a_source_a_date_and_a_basis(row: dict[str, object]) -> None:
    assert row["citation"]
    assert row["from"]  # a date, or "always" ...
    if row["from"] == "always":
        assert row["note"], "a rule without a start date must say why"
    assert row["basis"] and row["confidence"] in ("H", "M", "L")
    if row["status"] == "unverified":
        assert "Default" in str(row["note"]), "an unverified fact must say the default chosen"


@pytest.mark.parametrize(
    "row", membership_rows(), ids=lambda r: f"{r['group']}/{str(r['country'])[:12]}"
)
def test_every_membership_has_a_source(row: dict[str, object]) -> None:
    assert row["citation"]
    if row["status"] == "unverified":
        assert "Default" in str(row["note"]) or "default" in str(row["note"])


@pytest.mark.parametrize("row", lane_rows(), ids=lambda r: str(r["lane"]))
def test_every_licence_lane_has_a_source_and_a_date(row: dict[str, object]) -> None:
    assert row["citation"] and row["from"]


@pytest.mark.parametrize("product", sorted(builtin_catalogue().products))
def test_every_product_has_sources_for_its_figures(product: str) -> None:
    entry = builtin_catalogue().products[product]
    assert entry.citation
    assert entry.bandwidth_citation
    assert entry.confidence in ("H", "M", "L")


def test_no_citation_presents_the_withdrawn_cip_proposal_as_law() -> None:
    for row in rule_rows():
        citation = str(row["citation"])
        if "7.300" in citation or "89 FR 5698" in citation:
            assert "withdrawn" in citation and "not 15 CFR 7.300" in citation, row["rule"]


def test_default_licence_requirement_messages_do_not_overstate_cloud_use() -> None:
    for pack in builtin_packs().values():
        if not pack.enabled_by_default:
            continue
        for rule in pack.rules:
            if rule.provenance.basis == "licence-requirement":
                assert "not itself an export" in rule.message, rule.id


def test_docs_show_the_generated_fact_tables() -> None:
    text = DOCS.read_text()
    begin, end = "<!-- BEGIN generated facts", "<!-- END generated facts -->"
    assert begin in text and end in text, "docs/policies.md lost its generated tables"
    block = text.split(begin, 1)[1].split("-->", 1)[1].split(end, 1)[0]
    assert block.strip() == markdown().strip(), (
        "docs/policies.md is stale: regenerate with `exportgate catalogue markdown`"
    )


# --- Audit of 2026-12-01 against the reference sheets (regulation-2026.md wins) -----------


def test_the_3a090_items_are_dated_and_3a090c_is_recorded() -> None:
    """regulation-2026.md s1: 3A090.c (HBM, 89 FR 96790, effective 2024-12-02) belongs in a
    classification file that follows the Dec 2024 text; the chip bounds date from 2023-11-17.
    3A090.c is recorded, not evaluated: it never classifies a scheduled accelerator."""
    rows = {row["item"]: row for row in classification_rows()}
    for item in ("3A090.a.1", "3A090.a.2", "3A090.b.1", "3A090.b.2"):
        assert rows[item]["from"] == "2023-11-17" and rows[item]["evaluated"]
        assert "88 FR 73458" in rows[item]["citation"]
    hbm = rows["3A090.c"]
    assert (hbm["from"], hbm["confidence"], hbm["evaluated"]) == ("2024-12-02", "H", False)
    assert "89 FR 96790" in hbm["citation"] and "2 GB/s/mm^2" in hbm["condition"]
    # Not a classification any product gets, nor a subject a licence may cover.
    assert "3A090.c" not in licensable_subjects()
    assert all(p.classification.eccn != "3A090.c" for p in builtin_catalogue().products.values())


def test_the_uae_notes_cite_what_the_sheets_say() -> None:
    """regulation-2026.md s3: A:5 has 37 members, without AE. Neither sheet ever listed AE in
    A:5, so no note may say "the 2024 sheet" placed it there (a claim with no source)."""
    groups = builtin_country_groups()
    a5 = groups.groups["A:5"].members_on(date(2026, 12, 1))
    assert len(a5) == 37 and "AE" not in a5
    for row in membership_rows():
        if row["country"] == "AE":
            assert "2024 sheet" not in str(row["note"]) and "37 members" in str(row["note"])


def test_a_lane_shows_the_confidence_its_mark_does_not() -> None:
    """regulation-2026.md s2.2: 91 FR 1684 is H for the rule, M for its numeric thresholds; the
    lane's note saying so was dropped from `catalogue lanes` and the docs table."""
    lane = next(row for row in lane_rows() if row["lane"] == "h200-case-by-case")
    assert lane["confidence"] == "H" and "M" in str(lane["note"]) and "21,000" in str(lane["note"])
    assert "from summaries of the rule text" in markdown()
