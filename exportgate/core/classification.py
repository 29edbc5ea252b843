"""Export classification of an accelerator, computed from its specifications.

TPP = max over precisions of (dense TOPS x bit length); PD = TPP / die area. The bounds that
turn those numbers into 3A090.a / 3A090.b live in data/classification.yaml, with citations.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

from exportgate.core.data import load_data


@dataclass(frozen=True, slots=True)
class Performance:
    precision: str
    bits: int
    tops: float  # dense peak, no sparsity


@dataclass(frozen=True, slots=True)
class Specs:
    performance: tuple[Performance, ...]
    die_area_mm2: float | None
    datacenter: bool
    die_area_estimated: bool = False
    # Why the compute figures are not established (e.g. MI308X); such a product cannot be
    # cleared and is classified indeterminate.
    unpublished: str | None = None

    @property
    def tpp(self) -> float:
        return max((p.tops * p.bits for p in self.performance), default=0.0)

    @property
    def pd(self) -> float | None:
        if not self.die_area_mm2:
            return None
        return self.tpp / self.die_area_mm2


@dataclass(frozen=True, slots=True)
class Classification:
    eccn: str  # "3A090.a", "3A090.b", "3A090-indeterminate" or "outside-3A090"
    paragraph: str | None  # "3A090.a.2" when known
    tpp: float
    pd: float | None
    citation: str
    reason: str

    @property
    def system_eccn(self) -> str | None:
        """The 4A090 class of a server or instance containing this item."""
        return _rules().systems.get(self.eccn)


@dataclass(frozen=True, slots=True)
class _Bound:
    metric: str
    minimum: float | None
    below: float | None

    def holds(self, value: float) -> bool:
        if self.minimum is not None and value < self.minimum:
            return False
        return not (self.below is not None and value >= self.below)


@dataclass(frozen=True, slots=True)
class _Item:
    eccn: str
    paragraph: str
    citation: str
    bounds: tuple[_Bound, ...]


@dataclass(frozen=True, slots=True)
class _Rules:
    items: tuple[_Item, ...]
    release_max_tpp: float
    release_citation: str
    systems: Mapping[str, str]
    indeterminate: str
    outside: str


@cache
def _rules() -> _Rules:
    data: Mapping[str, Any] = load_data("classification.yaml")
    items = tuple(
        _Item(
            eccn=str(item["id"]),
            paragraph=str(item["sub"]),
            citation=str(item["citation"]),
            bounds=tuple(
                _Bound(metric, bound.get("min"), bound.get("below"))
                for metric, bound in item["when"].items()
            ),
        )
        for item in data["items"]
    )
    release = data["notes"]["nonDatacenterRelease"]
    return _Rules(
        items=items,
        release_max_tpp=float(release["maxTpp"]),
        release_citation=str(release["citation"]),
        systems=dict(data["systems"]),
        indeterminate=str(data["indeterminate"]),
        outside=str(data["outside"]),
    )


def classify(specs: Specs) -> Classification:
    """Apply the 3A090 bounds in order; the first item whose bounds all hold wins."""
    rules = _rules()
    tpp, pd = specs.tpp, specs.pd
    if specs.unpublished:
        return Classification(
            rules.indeterminate,
            None,
            tpp,
            None,
            rules.items[0].citation,
            f"compute figures not established ({specs.unpublished}), so it cannot be cleared",
        )
    metrics = {"tpp": tpp, "pd": pd}
    # Note 2 depends on the datacenter flag and TPP alone, so it is decided before any bound
    # on PD: a consumer part below the release TPP is outside 3A090 even when its die area
    # (and so its PD) is unknown, rather than indeterminate.
    released = not specs.datacenter and tpp < rules.release_max_tpp
    undecidable: list[_Item] = []
    for item in rules.items:
        # A bound on an unknown metric (PD without a die area) can neither clear nor convict.
        known = [b for b in item.bounds if metrics[b.metric] is not None]
        if not all(b.holds(metrics[b.metric]) for b in known):  # type: ignore[arg-type]
            continue
        if released:
            matched = "could match" if len(known) < len(item.bounds) else "matches"
            return Classification(
                rules.outside,
                None,
                tpp,
                pd,
                rules.release_citation,
                f"{matched} {item.paragraph} but is not designed or marketed for datacenters and "
                f"TPP {tpp:g} < {rules.release_max_tpp:g} (Note 2)",
            )
        if len(known) < len(item.bounds):
            undecidable.append(item)
            continue
        return Classification(
            item.eccn, item.paragraph, tpp, pd, item.citation, _describe(item, tpp, pd)
        )
    if undecidable:
        return Classification(
            rules.indeterminate,
            None,
            tpp,
            None,
            undecidable[0].citation,
            f"TPP {tpp:g} could meet {undecidable[0].paragraph} but the die area is unknown, "
            "so performance density cannot be computed",
        )
    return Classification(
        rules.outside,
        None,
        tpp,
        pd,
        rules.items[0].citation,
        f"TPP {tpp:g}" + (f", PD {pd:.2f}" if pd is not None else "") + " meet no 3A090 item",
    )


def _describe(item: _Item, tpp: float, pd: float | None) -> str:
    text = f"{item.paragraph}: TPP {tpp:g}"
    if pd is not None:
        text += f", PD {pd:.2f}"
    return text


@cache
def _restrictiveness() -> tuple[tuple[str, ...], str]:
    data = load_data("classification.yaml")
    return tuple(str(c) for c in data["restrictiveness"]), str(data["outside"])


def restrictiveness(eccn: str) -> tuple[int, str]:
    """Sort key, most restrictive first: the data's order, then classes it does not list, then
    the "outside" verdict (the name breaks ties, so the order is total)."""
    order, outside = _restrictiveness()
    if eccn in order:
        return (order.index(eccn), eccn)
    return (len(order) + 1 if eccn == outside else len(order), eccn)


def most_restrictive(classifications: Iterable[str]) -> str:
    """The most restrictive of `classifications`, or "" when there is none."""
    found = [c for c in classifications if c]
    return min(found, key=restrictiveness) if found else ""
