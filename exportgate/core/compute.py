"""Compute accounting arithmetic: accelerator time, estimated operations, peak capacity.

Pure functions over plain data, shared by the operator (which feeds them Pods) and the CLI
(which re-reads the records). How an estimate is made, in one place:

    estimated operations = accelerator-seconds x peak dense ops/s of the product x utilisation

where the peak is the catalogue figure behind the product's TPP (the dense, no-sparsity
performance entry with the largest TOPS x bit length; on a tie the larger TOPS, so the figure
stays an upper bound) and utilisation is the configured factor (1.0 = upper bound).

Time is split into spans: one Pod holding `count` accelerators of one product from `start` to
`end` (None while it runs). `accrue` integrates spans over a window [since, until), so an
accountant that remembers only "counted up to T" per run can never count a second twice.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from exportgate.core.catalogue import Catalogue

TERA = 1e12
UNKNOWN_NODE = "unknown"  # a Pod's node is missing or says nothing the catalogue knows

ESTIMATE_METHOD = (
    "accelerator-seconds x catalogue peak dense operations/s (the figure behind TPP, no "
    "sparsity) x utilisation {utilisation:g}"
)


def describe_estimate(utilisation: float) -> str:
    """How estimated operations were computed; shown wherever the figure is."""
    bound = " (upper bound)" if utilisation >= 1.0 else ""
    return ESTIMATE_METHOD.format(utilisation=utilisation) + bound


def peak_ops_per_second(catalogue: Catalogue, product_id: str) -> float:
    """Peak dense operations per second of one accelerator of `product_id`.

    An unknown product is assumed to be the most capable product in the catalogue, so an
    unidentified accelerator is never under-counted.
    """
    product = catalogue.products.get(product_id)
    if product is None:
        return max(peak_ops_per_second(catalogue, p) for p in catalogue.products)
    best = max(product.specs.performance, key=lambda p: (p.tops * p.bits, p.tops), default=None)
    return best.tops * TERA if best else 0.0


def assumed_product(catalogue: Catalogue, candidates: Iterable[str]) -> str:
    """The most restrictive product among `candidates`: most restricted class first, then the
    highest peak (so estimates err upwards). Unknown candidates stand for any product."""
    pool = {catalogue.unknown_id if c not in catalogue.products else c for c in candidates}
    if not pool or catalogue.unknown_id in pool:
        pool = set(catalogue.products)
    strictest = catalogue.classifications(sorted(pool))[0]
    strict = [p for p in sorted(pool) if catalogue.products[p].eccn == strictest] or sorted(pool)
    return max(strict, key=lambda p: peak_ops_per_second(catalogue, p))


@dataclass(frozen=True, slots=True)
class Usage:
    """What one Pod uses: `count` accelerators of `product` (identified from its node, or
    `assumed` as the most restrictive product the request could get)."""

    product: str
    classification: str
    count: int
    ops_per_second: float  # per accelerator
    identified: bool = True

    @property
    def key(self) -> str:
        """The product key figures are kept under: unidentified time never mixes with
        identified time of the same product."""
        return self.product if self.identified else f"unidentified:{self.product}"


@dataclass(frozen=True, slots=True)
class Span:
    run: str  # the run's key (its record name)
    usage: Usage
    start: datetime
    end: datetime | None  # None: still running
    fresh: bool = False
    """Known never to have been counted (seen before it started): counted from its start even
    before the run's watermark, so a start the kubelet reports late is not lost."""


@dataclass(slots=True)
class ProductFigures:
    product: str
    classification: str
    identified: bool
    ops_per_second: float  # per accelerator
    accelerator_seconds: float = 0.0

    def operations(self, utilisation: float) -> float:
        return self.accelerator_seconds * self.ops_per_second * utilisation


@dataclass(slots=True)
class Accrual:
    """What one run used inside one window."""

    products: dict[str, ProductFigures] = field(default_factory=dict)
    by_day: dict[date, float] = field(default_factory=lambda: defaultdict(float))
    peak_capacity: float = 0.0  # ops/s, all of the run's Pods at once (utilisation not applied)
    peak_accelerators: int = 0

    @property
    def accelerator_seconds(self) -> float:
        return sum(p.accelerator_seconds for p in self.products.values())


def overlap(
    start: datetime, end: datetime | None, since: datetime | None, until: datetime
) -> float:
    """Seconds of [start, end) inside [since, until)."""
    lo = start if since is None or start > since else since
    hi = until if end is None or end > until else end
    return max(0.0, (hi - lo).total_seconds())


def split_by_day(start: datetime, end: datetime) -> dict[date, float]:
    """Seconds of [start, end) per UTC day."""
    found: dict[date, float] = {}
    cursor = start.astimezone(UTC)
    end = end.astimezone(UTC)
    while cursor < end:
        midnight = datetime.combine(cursor.date() + timedelta(days=1), datetime.min.time(), UTC)
        stop = min(end, midnight)
        found[cursor.date()] = found.get(cursor.date(), 0.0) + (stop - cursor).total_seconds()
        cursor = stop
    return found


def accrue(
    spans: Iterable[Span], since: Mapping[str, datetime | None], until: datetime
) -> dict[str, Accrual]:
    """Per run: what its spans used in [since[run], until). A run missing from `since` (never
    counted) is counted from the start of each span."""
    result: dict[str, Accrual] = {}
    edges: dict[str, list[tuple[datetime, int, float, int]]] = defaultdict(list)
    for span in spans:
        lo = None if span.fresh else since.get(span.run)
        seconds = overlap(span.start, span.end, lo, until)
        accrual = result.setdefault(span.run, Accrual())
        if seconds <= 0:
            continue
        usage = span.usage
        figures = accrual.products.get(usage.key)
        if figures is None:
            figures = accrual.products[usage.key] = ProductFigures(
                usage.product, usage.classification, usage.identified, usage.ops_per_second
            )
        figures.accelerator_seconds += seconds * usage.count
        begin = span.start if lo is None or span.start > lo else lo
        finish = until if span.end is None or span.end > until else span.end
        for day, part in split_by_day(begin, finish).items():
            accrual.by_day[day] += part * usage.count
        capacity = usage.count * usage.ops_per_second
        edges[span.run].append((begin, 1, capacity, usage.count))
        edges[span.run].append((finish, 0, -capacity, -usage.count))
    for run, points in edges.items():
        # Ends sort before starts at the same instant: back-to-back Pods do not overlap.
        points.sort(key=lambda p: (p[0], p[1]))
        capacity, accelerators = 0.0, 0
        accrual = result[run]
        for _, _, delta, count in points:
            capacity += delta
            accelerators += count
            accrual.peak_capacity = max(accrual.peak_capacity, capacity)
            accrual.peak_accelerators = max(accrual.peak_accelerators, accelerators)
    return result


def estimated_operations(products: Iterable[ProductFigures], utilisation: float) -> float:
    return sum(p.operations(utilisation) for p in products)


@dataclass(frozen=True, slots=True)
class Concurrency:
    """The most a group of spans (a tenant's) held at one instant: the capacity tier's figure."""

    peak: float = 0.0  # ops/s, utilisation not applied (a theoretical peak, as the EO's figure)
    at: datetime | None = None  # the first instant of the peak
    runs: dict[str, tuple[float, int]] = field(default_factory=dict)
    """run -> (ops/s, accelerators) it held at `at`: the runs that made the peak up."""

    @property
    def accelerators(self) -> int:
        return sum(count for _, count in self.runs.values())


def _clip(span: Span, since: datetime | None, until: datetime) -> tuple[datetime, datetime | None]:
    """[lo, hi) of `span` inside the window; hi None: still running at `until`."""
    lo = span.start if since is None or span.start > since else since
    hi = None if span.end is None or span.end > until else span.end
    return lo, hi


def concurrency(spans: Iterable[Span], since: datetime | None, until: datetime) -> Concurrency:
    """The largest sum of count x peak over the spans alive at one instant of [since, until].

    Spans still running at `until` count at `until` itself, so an empty window (a second pass
    at the same instant) still sees what is running now. Runs do not matter here: a tenant that
    splits one cluster's worth of accelerators into many small runs holds the same capacity.
    """
    alive: list[tuple[Span, datetime, datetime | None]] = []
    edges: list[tuple[datetime, int, float]] = []
    for span in spans:
        lo, hi = _clip(span, since, until)
        if lo > until or (hi is not None and hi <= lo):
            continue
        capacity = span.usage.count * span.usage.ops_per_second
        alive.append((span, lo, hi))
        edges.append((lo, 1, capacity))
        if hi is not None:
            edges.append((hi, 0, -capacity))
    # Ends sort before starts at the same instant: back-to-back Pods do not overlap.
    edges.sort(key=lambda e: (e[0], e[1]))
    held, peak, at = 0.0, 0.0, None
    for moment, _, delta in edges:
        held += delta
        if held > peak * (1 + 1e-12):  # float sums: a repeat of the same figure is no new peak
            peak, at = held, moment
    if at is None:
        return Concurrency()
    runs: dict[str, tuple[float, int]] = {}
    for span, lo, hi in alive:
        if lo <= at and (hi is None or at < hi):
            ops, count = runs.get(span.run, (0.0, 0))
            runs[span.run] = (ops + span.usage.count * span.usage.ops_per_second,
                              count + span.usage.count)
    return Concurrency(peak, at, runs)
