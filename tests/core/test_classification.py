"""3A090 classification computed from specifications.

The catalogue must reproduce the TPP and PD of every product in the reference table (section 3 of
the project's export-control reference, compiled from vendor datasheets) and derive the same
classification, without any verdict being written down in the data.
"""

from __future__ import annotations

import pytest

from exportgate.core.catalogue import builtin_catalogue
from exportgate.core.classification import (
    Performance,
    Specs,
    classify,
    most_restrictive,
    restrictiveness,
)

# product id -> (TPP, PD as the table prints it, decimals of that PD, class, paragraph)
# Source: reference table "Accelerators (dense peak; TPP = max over precisions of dense TOPS x
# bit length)". PD marked ~ in the table rests on an estimated die area; it is still reproduced.
REFERENCE_TABLE = [
    ("nvidia-a100", 4992, 6.04, 2, "3A090.a", "3A090.a.1"),
    ("nvidia-a800", 4992, 6.04, 2, "3A090.a", "3A090.a.1"),
    ("nvidia-h100-sxm", 15832, 19.45, 2, "3A090.a", "3A090.a.1"),
    ("nvidia-h100-pcie", 12104, 14.87, 2, "3A090.a", "3A090.a.1"),
    ("nvidia-h800", 15832, None, None, "3A090.a", "3A090.a.1"),  # table gives no PD
    ("nvidia-h800-pcie", 12104, None, None, "3A090.a", "3A090.a.1"),  # "15832 / 12104"
    ("nvidia-h200-sxm", 15832, 19.45, 2, "3A090.a", "3A090.a.1"),
    ("nvidia-h200-nvl", 13364, 16.42, 2, "3A090.a", "3A090.a.1"),
    ("nvidia-h20", 2368, 2.91, 2, "outside-3A090", None),
    ("nvidia-l40s", 5864, 9.64, 2, "3A090.a", "3A090.a.1"),
    ("nvidia-l4", 1936, 6.57, 2, "3A090.a", "3A090.a.2"),
    ("nvidia-a10", 2000, 3.18, 2, "outside-3A090", None),
    ("nvidia-t4", 1040, 1.91, 2, "outside-3A090", None),
    ("nvidia-b200", 36000, 22.1, 1, "3A090.a", "3A090.a.1"),
    ("nvidia-b100", 28000, 17.2, 1, "3A090.a", "3A090.a.1"),
    ("amd-mi250x", 6128, 3.88, 2, "3A090.a", "3A090.a.1"),
    ("amd-mi300x", 20919, 20.6, 1, "3A090.a", "3A090.a.1"),
]


@pytest.mark.parametrize(
    ("product_id", "tpp", "pd", "decimals", "eccn", "paragraph"),
    REFERENCE_TABLE,
    ids=[row[0] for row in REFERENCE_TABLE],
)
def test_reference_table_is_reproduced_from_specs(
    product_id: str,
    tpp: float,
    pd: float | None,
    decimals: int | None,
    eccn: str,
    paragraph: str | None,
) -> None:
    product = builtin_catalogue().products[product_id]
    result = product.classification
    # The table prints whole TPP figures (MI300X: 2614.9 x 8 = 20919.2 is printed 20919).
    assert round(result.tpp) == tpp
    if pd is not None:
        assert result.pd is not None
        assert round(result.pd, decimals) == pd
    assert result.eccn == eccn
    assert result.paragraph == paragraph
    assert product.eccn == eccn


def test_h800_matches_h100_sxm_figures() -> None:
    products = builtin_catalogue().products
    h800, h100 = products["nvidia-h800"], products["nvidia-h100-sxm"]
    assert h800.classification.tpp == h100.classification.tpp


def test_h20_is_outside_3a090_by_numbers_only() -> None:
    """H20 is licence-required only by name (is-informed letters), never by TPP / PD."""
    result = builtin_catalogue().products["nvidia-h20"].classification
    assert result.eccn == "outside-3A090"
    assert result.system_eccn is None
    assert "meet no 3A090 item" in result.reason


def test_every_catalogue_product_has_a_classification_and_a_citation() -> None:
    for product in builtin_catalogue().products.values():
        assert product.classification.eccn in {
            "3A090.a", "3A090.b", "3A090-indeterminate", "outside-3A090"
        }, product.id
        assert product.citation, product.id
        assert product.classification.citation, product.id


def test_tpp_is_the_maximum_over_precisions() -> None:
    specs = Specs(
        performance=(
            Performance("fp16", 16, 100),  # 1600
            Performance("int8", 8, 250),  # 2000
            Performance("fp32", 32, 20),  # 640
        ),
        die_area_mm2=None,
        datacenter=True,
    )
    assert specs.tpp == 2000


@pytest.mark.parametrize(
    ("precision", "bits", "tops"),
    [("fp16", 16, 300), ("int8", 8, 600)],
    ids=["300-dense-tflops-16-bit", "600-dense-tops-8-bit"],
)
def test_worked_examples_of_the_rule_give_tpp_4800(precision: str, bits: int, tops: float) -> None:
    specs = Specs((Performance(precision, bits, tops),), die_area_mm2=800, datacenter=True)
    assert specs.tpp == 4800
    assert classify(specs).paragraph == "3A090.a.1"


def _specs(tpp: float, pd: float | None, *, datacenter: bool = True) -> Specs:
    """Specs with the given TPP (as 8-bit TOPS) and PD (die area chosen to give it)."""
    area = None if pd is None else tpp / pd
    return Specs((Performance("int8", 8, tpp / 8),), die_area_mm2=area, datacenter=datacenter)


BOUNDARIES = [
    # (TPP, PD, expected eccn, expected paragraph)
    (4800, 1.0, "3A090.a", "3A090.a.1"),  # a.1 at exactly 4800, PD irrelevant
    (4799, 1.0, "outside-3A090", None),  # just below a.1, PD below every .b floor
    (4799, 5.0, "3A090.b", "3A090.b.1"),
    (1600, 5.92, "3A090.a", "3A090.a.2"),  # a.2 lower corner, both bounds inclusive
    (1600, 5.91, "3A090.b", "3A090.b.2"),  # PD just under 5.92 falls to b.2
    (1599, 10.0, "outside-3A090", None),  # TPP under 1600: nothing applies
    (2400, 1.6, "3A090.b", "3A090.b.1"),  # b.1 lower corner
    (2399, 1.6, "outside-3A090", None),  # below b.1 TPP and below b.2 PD
    (2399, 3.2, "3A090.b", "3A090.b.2"),  # b.2 lower PD corner
    (1600, 3.19, "outside-3A090", None),
]


@pytest.mark.parametrize(("tpp", "pd", "eccn", "paragraph"), BOUNDARIES)
def test_bounds_are_inclusive_below_and_exclusive_above(
    tpp: float, pd: float, eccn: str, paragraph: str | None
) -> None:
    result = classify(_specs(tpp, pd))
    assert (result.eccn, result.paragraph) == (eccn, paragraph)


def test_systems_containing_a_classified_chip_are_4a090() -> None:
    assert classify(_specs(5000, 10)).system_eccn == "4A090.a"
    assert classify(_specs(3000, 4)).system_eccn == "4A090.b"
    assert classify(_specs(1000, 1)).system_eccn is None


class TestNote2NonDatacenterRelease:
    """Note 2 to 3A090: items not designed or marketed for datacenters with TPP < 4800."""

    def test_a2_level_consumer_part_is_released(self) -> None:
        result = classify(_specs(1936, 6.57, datacenter=False))  # L4-like numbers, consumer part
        assert result.eccn == "outside-3A090"
        assert "Note 2" in result.reason
        assert "Note 2" in result.citation

    def test_b_level_consumer_part_is_released(self) -> None:
        assert classify(_specs(3000, 4.0, datacenter=False)).eccn == "outside-3A090"

    def test_same_numbers_for_a_datacenter_part_are_controlled(self) -> None:
        assert classify(_specs(1936, 6.57, datacenter=True)).eccn == "3A090.a"

    def test_tpp_4800_and_above_is_never_released(self) -> None:
        result = classify(_specs(4800, 6.0, datacenter=False))
        assert (result.eccn, result.paragraph) == ("3A090.a", "3A090.a.1")

    def test_consumer_part_with_unknown_die_area_is_released(self) -> None:
        # Note 2 depends on TPP only, so an unknown die area must not make it indeterminate.
        result = classify(_specs(3000, None, datacenter=False))
        assert result.eccn == "outside-3A090"
        assert "Note 2" in result.reason and "Note 2" in result.citation

    def test_consumer_part_with_unknown_die_area_at_4800_is_still_controlled(self) -> None:
        result = classify(_specs(4800, None, datacenter=False))
        assert (result.eccn, result.paragraph) == ("3A090.a", "3A090.a.1")


class TestIndeterminate:
    """An unknown die area means PD cannot be computed: unclearable items stay controlled."""

    def test_unknown_die_area_in_the_pd_dependent_range(self) -> None:
        result = classify(_specs(3040, None))
        assert result.eccn == "3A090-indeterminate"
        assert result.pd is None
        assert "die area is unknown" in result.reason
        assert result.system_eccn is None

    def test_unknown_die_area_does_not_matter_above_4800(self) -> None:
        result = classify(_specs(29360, None))
        assert (result.eccn, result.paragraph) == ("3A090.a", "3A090.a.1")

    def test_unknown_die_area_below_every_tpp_floor_is_outside(self) -> None:
        assert classify(_specs(1500, None)).eccn == "outside-3A090"

    def test_catalogue_products_without_die_area(self) -> None:
        products = builtin_catalogue().products
        assert products["aws-trainium"].eccn == "3A090-indeterminate"
        assert products["aws-inferentia2"].eccn == "3A090-indeterminate"
        assert products["aws-trainium2"].eccn == "3A090.a"  # TPP 10672 >= 4800
        assert products["habana-gaudi3"].eccn == "3A090.a"


def test_one_restrictiveness_order_from_the_data() -> None:
    # Controlled first (indeterminate just below the controlled classes it might be), classes
    # the data does not list next, the "outside" verdict last.
    assert most_restrictive(["3A090.b", "3A090-indeterminate", "4A090.a"]) == "4A090.a"
    assert most_restrictive(["outside-3A090", "3A090.b"]) == "3A090.b"
    assert most_restrictive(["outside-3A090", "5A992"]) == "5A992"
    assert most_restrictive(["", "outside-3A090"]) == "outside-3A090"
    assert most_restrictive([]) == ""
    assert sorted(["4A090.b", "3A090.a", "outside-3A090"], key=restrictiveness) == [
        "3A090.a",
        "4A090.b",
        "outside-3A090",
    ]
