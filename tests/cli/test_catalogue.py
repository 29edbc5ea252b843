"""`exportgate catalogue`: the computed TPP, PD and classification, as people and tools read it."""

from __future__ import annotations

import json
import subprocess

from tests.commands import EXPORTGATE
from tests.core.test_classification import REFERENCE_TABLE


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(EXPORTGATE), "catalogue", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_json_lists_every_reference_product_with_its_computed_figures() -> None:
    process = _run("-o", "json")
    assert process.returncode == 0, process.stderr
    document = json.loads(process.stdout)
    assert document["version"]
    products = {p["id"]: p for p in document["products"]}
    for product_id, tpp, pd, decimals, eccn, paragraph in REFERENCE_TABLE:
        row = products[product_id]
        assert round(row["tpp"]) == tpp, product_id
        if pd is not None and decimals is not None:
            assert round(row["pd"], decimals) == pd, product_id
        assert (row["classification"], row["paragraph"]) == (eccn, paragraph)
        assert row["citation"]


def test_text_marks_estimated_die_areas() -> None:
    process = _run()
    assert process.returncode == 0
    lines = {line.split()[0]: line for line in process.stdout.splitlines()[1:]}
    assert "~" in lines["nvidia-b200"]  # die area is an estimate in the reference table
    assert "3A090.a" in lines["nvidia-h100-sxm"]
    assert "outside-3A090" in lines["nvidia-t4"]


def test_products_carry_bandwidth_and_the_new_parts() -> None:
    products = {p["id"]: p for p in json.loads(_run("-o", "json").stdout)["products"]}
    for product in (
        "amd-mi308x",
        "amd-mi350x",
        "amd-mi355x",
        "nvidia-b300",
        "nvidia-gb200",
        "nvidia-gb300",
        "nvidia-gh200",
        "nvidia-l40",
        "nvidia-k80",
        "nvidia-p4",
        "nvidia-p100",
        "nvidia-v100",
        "tpu-v5p",
        "ascend-910c",
    ):
        assert product in products, product
    assert products["nvidia-h200-sxm"]["memoryBandwidthGBs"] == 4800
    assert products["nvidia-h20"]["interconnectGBs"] == 900
    assert products["nvidia-k80"]["classification"] == "outside-3A090"
    assert products["ascend-910c"]["chinaLicenceLane"] == "gp10-no-lane"
    assert products["nvidia-b200"]["chinaLicenceLane"] == "blackwell-not-approved"


def test_rules_view_shows_dates_sources_and_unverified_defaults() -> None:
    rules = {r["rule"]: r for r in json.loads(_run("rules", "-o", "json").stdout)["rules"]}
    affiliates = rules["affiliates-rule-50"]
    assert affiliates["from"] == "2025-09-29"
    assert affiliates["suspended"][0] == {
        "from": "2025-11-10",
        "until": "2026-11-10",
        "citation": affiliates["suspended"][0]["citation"],
    }
    assert affiliates["status"] == "unverified" and "Default" in affiliates["note"]
    assert rules["aid-tier2-accelerators"]["notEnforcedSince"] == "2025-05-13"
    assert rules["kyc-unverified-accelerator"]["basis"] == "provider-policy"
    text = _run("rules").stdout
    assert (
        "restricted-parties/affiliates-rule-50  [2025-09-29 → …, suspended 2025-11-10 → 2026-11-10]"
        in text
    )
    assert "UNVERIFIED:" in text


def test_groups_view_shows_dated_and_unverified_memberships() -> None:
    rows = json.loads(_run("groups", "-o", "json").stdout)["groups"]
    kh = next(r for r in rows if r["group"] == "D:5" and r["country"] == "KH")
    assert kh["until"] == "2025-11-07" and kh["citation"]
    ae = next(r for r in rows if r["group"] == "D:4" and r["country"] == "AE")
    assert ae["status"] == "unverified" and "Default" in ae["note"]
    assert any(r["group"] == "A:5" and r["country"] == "AE" and not r["member"] for r in rows)
    assert "UNVERIFIED:" in _run("groups").stdout


def test_lanes_and_markdown_views() -> None:
    lanes = {r["lane"]: r for r in json.loads(_run("lanes", "-o", "json").stdout)["lanes"]}
    assert lanes["h200-case-by-case"]["from"] == "2026-01-15"
    assert lanes["gp10-no-lane"]["noLicenceRoute"] is True
    assert _run("markdown").stdout.startswith("#### Rules")


def test_classification_view_lists_the_dated_3a090_items() -> None:
    rows = json.loads(_run("classification", "-o", "json").stdout)["classification"]
    items = {r["item"]: r for r in rows}
    assert items["3A090.a.1"]["from"] == "2023-11-17"
    assert items["3A090.c"]["from"] == "2024-12-02" and not items["3A090.c"]["evaluated"]
    assert "3A090.c: HBM" in _run("classification").stdout


def test_an_unverified_die_area_that_decides_the_class_is_labelled() -> None:
    """export-controls.md s3: the L4 is 3A090.a.2 only "if die area holds" (~294.5 mm^2,
    unverified). The class stays (conservative); the figures are labelled L."""
    products = {p["id"]: p for p in json.loads(_run("-o", "json").stdout)["products"]}
    l4 = products["nvidia-l4"]
    assert (l4["paragraph"], l4["confidence"], l4["unverified"]) == ("3A090.a.2", "L", True)
    assert products["nvidia-h800-pcie"]["tpp"] == 12104
