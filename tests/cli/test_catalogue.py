"""`exportgate catalogue`: the computed TPP, PD and classification, as people and tools read it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.core.test_classification import REFERENCE_TABLE

EXPORTGATE = Path(sys.executable).parent / "exportgate"


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
