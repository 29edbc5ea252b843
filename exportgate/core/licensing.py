"""Licence lanes: which licence a controlled use would need, and on what review policy.

The lanes are dated, cited data (data/licence-review.yaml). For each product and triggering
country the first lane whose conditions hold on the day applies; a lane marked `none` says that
no licence route exists in practice (GP10 chips, Blackwell for China). Messages use the result so
a tenant learns what an application would face, not only that a licence is needed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from functools import cache
from typing import TYPE_CHECKING, Any

from exportgate.core.countries import CountryGroups, builtin_country_groups
from exportgate.core.data import load_data
from exportgate.core.types import Jurisdiction

if TYPE_CHECKING:
    from exportgate.core.catalogue import Catalogue, Product


@dataclass(frozen=True, slots=True)
class Lane:
    id: str
    title: str
    text: str
    citation: str
    since: date
    until: date | None
    none: bool
    confidence: str
    products: frozenset[str]
    vendors: frozenset[str]
    architectures: frozenset[str]
    not_architectures: frozenset[str]
    classifications: frozenset[str]
    countries: tuple[str, ...]
    roles: frozenset[str]  # why the country counts; empty: any reason
    below: Mapping[str, float]
    # What the confidence mark does not say (the 91 FR 1684 lane: rule text H, its numeric
    # thresholds M); shown beside the lane in `exportgate catalogue lanes` and the docs.
    note: str = ""

    def applies(
        self,
        product: Product,
        classification: str,
        where: Jurisdiction | None,
        day: date,
        groups: CountryGroups,
    ) -> bool:
        country = where.country if where else ""
        if day < self.since or (self.until is not None and day >= self.until):
            return False
        checks = (
            (self.products, product.id),
            (self.vendors, product.vendor),
            (self.architectures, product.architecture),
            (self.classifications, classification),
        )
        if any(wanted and value not in wanted for wanted, value in checks):
            return False
        if product.architecture in self.not_architectures:
            return False
        if self.countries and not groups.matching(country, self.countries, day):
            return False
        if self.roles and (where is None or where.role.value not in self.roles):
            return False
        figures = {
            "tpp": product.classification.tpp if not product.specs.unpublished else None,
            "memoryBandwidthGBs": product.memory_bandwidth_gbs,
        }
        # An unknown figure never qualifies for a lane defined by staying below it.
        return all(
            figures.get(name) is not None and float(figures[name] or 0) < limit
            for name, limit in self.below.items()
        )

    def describe(self, product: Product, classification: str, country: str) -> str:
        return self.text.format(
            product=product.name,
            classification=classification,
            country=country,
            tpp=product.classification.tpp,
            memory=product.memory_bandwidth_gbs or 0,
        )


def _lane(entry: Mapping[str, Any]) -> Lane:
    def names(key: str) -> frozenset[str]:
        return frozenset(str(v) for v in entry.get(key, ()))

    return Lane(
        id=str(entry["id"]),
        title=str(entry["title"]),
        text=" ".join(str(entry["text"]).split()),
        citation=str(entry["citation"]),
        since=date.fromisoformat(str(entry["from"])),
        until=date.fromisoformat(str(entry["until"])) if entry.get("until") else None,
        none=bool(entry.get("none", False)),
        confidence=str(entry.get("confidence", "H")),
        products=names("products"),
        vendors=names("vendors"),
        architectures=names("architectures"),
        not_architectures=names("notArchitectures"),
        classifications=names("classifications"),
        countries=tuple(str(c) for c in entry.get("countries", ())),
        roles=names("roles"),
        below={str(k): float(v) for k, v in (entry.get("below") or {}).items()},
        note=str(entry.get("note") or ""),
    )


@cache
def builtin_lanes() -> tuple[Lane, ...]:
    return tuple(_lane(entry) for entry in load_data("licence-review.yaml")["lanes"])


def lane_for(
    product: Product,
    classification: str,
    where: Jurisdiction | None,
    day: date,
    groups: CountryGroups | None = None,
) -> Lane | None:
    """The first lane for a product and the jurisdiction (country and role) that triggered."""
    if groups is None:
        return _builtin_lane_for(product, classification, where, day)
    for lane in builtin_lanes():
        if lane.applies(product, classification, where, day, groups):
            return lane
    return None


_CACHE: dict[tuple[Any, ...], Lane | None] = {}
_CACHE_SIZE = 4096
# More lanes than this in one denial are summarised rather than listed.
_LANES_SPELLED_OUT = 3


def _builtin_lane_for(
    product: Product, classification: str, where: Jurisdiction | None, day: date
) -> Lane | None:
    # Denials of unpinned requests ask this for every candidate; the answer depends only on
    # immutable data, so it is computed once per (product figures, class, jurisdiction, day).
    key = (
        product.id,
        product.vendor,
        product.architecture,
        product.classification.tpp,
        product.memory_bandwidth_gbs,
        classification,
        where,
        day,
    )
    if key not in _CACHE:
        if len(_CACHE) >= _CACHE_SIZE:
            _CACHE.clear()
        _CACHE[key] = lane_for(product, classification, where, day, builtin_country_groups())
    return _CACHE[key]


def lane_text(
    catalogue: Catalogue,
    subjects: Sequence[str],
    classification: str,
    triggering: Sequence[Jurisdiction],
    day: date,
) -> str:
    """What licence the use would need and how it would be reviewed ("" when nothing is known).

    One product and one lane: the lane's full sentence. Several (an unpinned request): one short
    clause per lane naming the products it covers, so the message stays readable.
    """
    found: dict[str, tuple[Lane, list[str], str]] = {}
    for product_id in subjects:
        product = catalogue.products.get(product_id)
        if product is None:
            continue
        own = product.eccn if product.eccn != "outside-3A090" else classification
        for where in triggering or (None,):
            lane = lane_for(product, own, where, day)
            if lane is None:
                continue
            country = where.country if where else ""
            _, names, sentence = found.setdefault(
                lane.id, (lane, [], lane.describe(product, own, country))
            )
            if product.name not in names:
                names.append(product.name)
    if len(found) == 1:
        lane, names, sentence = next(iter(found.values()))
        if len(names) == 1 or "{product}" not in lane.text:
            return sentence
    if len(found) > _LANES_SPELLED_OUT:
        # A request that could be almost anything (unidentified, unpinned): naming every lane
        # would bury the message; the tenant learns a lane by pinning the product it wants.
        return (
            f"Licence lanes differ between the {len(found)} kinds of product this could be "
            "(`exportgate catalogue lanes` lists them); pin a product to see its lane."
        )
    clauses = [
        f"{lane.title} for {', '.join(names[:4])}" + (" (no licence route)" if lane.none else "")
        for lane, names, _ in found.values()
    ]
    return f"Licence lanes: {'; '.join(clauses)}." if clauses else ""
