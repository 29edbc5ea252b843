"""Compute thresholds as policy data: the `compute` section of an ExportPolicy.

The built-in pack `compute-thresholds` (exportgate/data/policies/compute-thresholds.yaml) holds
the tiers, who they apply to and the usage-pattern settings; an ExportPolicy of the same name
replaces it, any other ExportPolicy with a `compute` section adds tiers. Everything here is pure:
the operator asks `ComputePolicy.from_policies(engine.policies)` and the functions below.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from exportgate.core.countries import CountryGroups
from exportgate.core.types import Jurisdiction

OPERATIONS = "operations"  # per run: its estimated operations
CAPACITY = "capacity"  # per tenant: its concurrent capacity over all its runs (see below)


@dataclass(frozen=True, slots=True)
class Tier:
    id: str
    level: str  # "report" or "monitor"
    metric: str  # OPERATIONS (per run) or CAPACITY (a tenant's concurrent peak ops/s)
    threshold: float
    title: str
    citation: str
    effective: date
    until: date | None
    house_policy: bool
    note: str
    policy: str  # the ExportPolicy (pack) it came from
    policy_version: str

    def in_force(self, day: date) -> bool:
        return self.effective <= day and (self.until is None or day < self.until)


@dataclass(frozen=True, slots=True)
class Applicability:
    foreign_outside: tuple[str, ...] = ("US",)
    always: tuple[str, ...] = ("D:5", "MO")
    citation: str = ""


@dataclass(frozen=True, slots=True)
class UsageSettings:
    baseline_days: int = 7
    jump_factor: float = 3.0
    minimum_hours: float = 8.0


@dataclass(frozen=True, slots=True)
class ComputeSection:
    """One policy's `spec.compute`, compiled."""

    tiers: tuple[Tier, ...]
    utilisation: float | None
    applies: Applicability | None
    usage: UsageSettings | None


@dataclass(frozen=True, slots=True)
class ComputePolicy:
    """Every active policy's compute sections merged (later policies win for the settings)."""

    tiers: tuple[Tier, ...] = ()
    utilisation: float = 1.0
    applies: Applicability = field(default_factory=Applicability)
    usage: UsageSettings = field(default_factory=UsageSettings)

    @classmethod
    def from_policies(cls, policies: Iterable[Any]) -> ComputePolicy:
        """`policies`: PolicyDocuments (anything with an optional `.compute` ComputeSection)."""
        tiers: dict[str, Tier] = {}
        merged = cls()
        for policy in policies:
            section: ComputeSection | None = getattr(policy, "compute", None)
            if section is None:
                continue
            for tier in section.tiers:
                tiers[tier.id] = tier
            merged = ComputePolicy(
                (),
                section.utilisation if section.utilisation is not None else merged.utilisation,
                section.applies or merged.applies,
                section.usage or merged.usage,
            )
        ordered = tuple(sorted(tiers.values(), key=lambda t: (t.metric, t.threshold, t.id)))
        return ComputePolicy(ordered, merged.utilisation, merged.applies, merged.usage)

    def in_force(self, day: date) -> tuple[Tier, ...]:
        return tuple(t for t in self.tiers if t.in_force(day))


def parse_compute_section(raw: Mapping[str, Any], policy: str, version: str) -> ComputeSection:
    """A schema-validated `spec.compute` mapping -> ComputeSection (dates already checked)."""
    tiers = tuple(
        Tier(
            id=str(t["id"]),
            level=str(t["level"]),
            metric=str(t["metric"]),
            threshold=float(t["threshold"]),
            title=str(t.get("title", t["id"])),
            citation=str(t["citation"]),
            effective=date.fromisoformat(str(t["effective"])),
            until=date.fromisoformat(str(t["until"])) if t.get("until") else None,
            house_policy=bool(t.get("housePolicy", False)),
            note=" ".join(str(t.get("note", "")).split()),
            policy=policy,
            policy_version=version,
        )
        for t in raw.get("tiers") or ()
    )
    estimation = raw.get("estimation") or {}
    applies = raw.get("appliesTo")
    usage = raw.get("usage")
    defaults = UsageSettings()
    return ComputeSection(
        tiers=tiers,
        utilisation=float(estimation["utilisation"]) if "utilisation" in estimation else None,
        applies=Applicability(
            tuple(applies.get("foreignPersonsOutside", ("US",))),
            tuple(applies.get("always", ())),
            str(applies.get("citation", "")),
        )
        if applies is not None
        else None,
        usage=UsageSettings(
            int(usage.get("baselineDays", defaults.baseline_days)),
            float(usage.get("jumpFactor", defaults.jump_factor)),
            float(usage.get("minimumHours", defaults.minimum_hours)),
        )
        if usage is not None
        else None,
    )


def country_references(section: Mapping[str, Any]) -> list[tuple[tuple[str, ...], str]]:
    """(field path, reference) of every country/group a compute section names, for checking."""
    applies = section.get("appliesTo") or {}
    return [
        (("compute", "appliesTo", key, str(position)), str(reference))
        for key in ("foreignPersonsOutside", "always")
        for position, reference in enumerate(applies.get(key) or ())
    ]


@dataclass(frozen=True, slots=True)
class Applies:
    watched: bool
    reason: str


def applies_to(
    jurisdictions: Sequence[Jurisdiction] | None,
    applies: Applicability,
    groups: CountryGroups,
    day: date | None = None,
) -> Applies:
    """Whether a tenant's runs are held against the tiers on `day` (group memberships are
    dated facts), and why.

    `jurisdictions` None means the tenant is unknown (no record, or one that does not parse):
    its jurisdiction cannot be established, so it is watched (fail closed).
    """
    if jurisdictions is None:
        return Applies(True, "tenant unknown: jurisdiction not established, so watched")
    for found in jurisdictions:
        hits = groups.matching(found.country, applies.always, day)
        if hits:
            who = f" ({found.via})" if found.via else ""
            return Applies(
                True, f"{found.role.value}{who} {found.country} is in {', '.join(hits)}"
            )
    if applies.foreign_outside:
        for found in jurisdictions:
            if not groups.matching(found.country, applies.foreign_outside, day):
                who = f" ({found.via})" if found.via else ""
                return Applies(
                    True,
                    f"foreign person: {found.role.value}{who} {found.country} is outside "
                    + ", ".join(applies.foreign_outside),
                )
    return Applies(False, "no jurisdiction outside " + ", ".join(applies.foreign_outside))


def crossed(
    tiers: Iterable[Tier], operations: float, capacity: float, already: Iterable[str]
) -> list[Tier]:
    """Tiers newly crossed by figures (`already`: tier ids crossed before)."""
    done = set(already)
    found = []
    for tier in tiers:
        value = operations if tier.metric == OPERATIONS else capacity
        if tier.id not in done and value >= tier.threshold:
            found.append(tier)
    return found


def run_tiers(tiers: Iterable[Tier]) -> tuple[Tier, ...]:
    """Tiers judged per run: estimated operations of one training run."""
    return tuple(t for t in tiers if t.metric == OPERATIONS)


def tenant_tiers(tiers: Iterable[Tier]) -> tuple[Tier, ...]:
    """Tiers judged per tenant: the capacity tier is EO 14110's figure for a computing cluster
    a person holds, so it is compared with everything the tenant holds at once, over all its
    runs; a run's own peak can never exceed its tenant's, and splitting one cluster's worth of
    accelerators into many small runs does not lower the tenant's figure."""
    return tuple(t for t in tiers if t.metric == CAPACITY)


@dataclass(frozen=True, slots=True)
class CapacityChange:
    crossed: tuple[Tier, ...]  # tiers the tenant now crosses with no crossing open
    ended: tuple[str, ...]  # open crossings (tier ids) the tenant has fallen below


def capacity_change(
    tiers: Iterable[Tier], value: float, open_tiers: Iterable[str]
) -> CapacityChange:
    """A tenant's capacity crossings at one accounting pass. A crossing stays open while each
    pass finds the tenant at or above the tier (one announcement, however long it lasts); a
    pass that finds it below ends it, and a later rise is a new crossing. An open crossing of a
    tier no longer in force (or no longer watching the tenant: `tiers` empty) ends too."""
    already = set(open_tiers)
    active = {t.id: t for t in tiers}
    new = tuple(t for t in active.values() if t.id not in already and value >= t.threshold)
    ended = tuple(sorted(
        i for i in already if i not in active or value < active[i].threshold
    ))
    return CapacityChange(new, ended)


@dataclass(frozen=True, slots=True)
class UsageJump:
    day: date
    hours: float
    baseline: float  # mean accelerator-hours per day over the baseline days
    ratio: float


def usage_jump(
    daily_hours: Mapping[date, float], day: date, settings: UsageSettings
) -> UsageJump | None:
    """A jump of `day`'s accelerator-hours beyond `jump_factor` x the trailing baseline (the
    mean of the `baseline_days` before it, days without use counting as zero).

    A tenant with no history at all has a zero baseline: any day above `minimum_hours` is a
    jump, which is exactly the "sudden ramp by a newly verified tenant" to make visible.
    """
    hours = daily_hours.get(day, 0.0)
    if hours < settings.minimum_hours:
        return None
    previous = [
        daily_hours.get(date.fromordinal(day.toordinal() - back), 0.0)
        for back in range(1, settings.baseline_days + 1)
    ]
    baseline = sum(previous) / len(previous)
    if hours <= baseline * settings.jump_factor:
        return None
    ratio = hours / baseline if baseline > 0 else float("inf")
    return UsageJump(day, hours, baseline, ratio)
