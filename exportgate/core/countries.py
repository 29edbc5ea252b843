"""Countries and the dated country groups that policies refer to.

Memberships change (Cambodia left D:5 on 2025-11-07), so a group is a set of dated members and
every question about it names the day: a decision at instant T uses the membership of T.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from functools import cache
from typing import Any

import pycountry

from exportgate.core.data import load_data

ANY_COUNTRY = "*"


@cache
def _iso_codes() -> frozenset[str]:
    return frozenset(country.alpha_2 for country in pycountry.countries)


def is_country(code: str) -> bool:
    """True for an assigned ISO 3166-1 alpha-2 code."""
    return code in _iso_codes()


def country_name(code: str) -> str:
    found = pycountry.countries.get(alpha_2=code)
    return str(found.name) if found else code


@dataclass(frozen=True, slots=True)
class Fact:
    """Provenance of one dated fact: where it comes from, how sure, and what is unverified."""

    citation: str
    since: date | None = None  # first day it holds; None: for as long as the data goes back
    until: date | None = None  # first day it no longer holds; None: still holds
    confidence: str = "H"  # H / M / L, as in the reference sheet
    status: str = ""  # "unverified" when the current status could not be confirmed
    note: str = ""  # the default the project chose, and why

    def holds(self, day: date | None) -> bool:
        """In force on `day`; None asks about the present (no end date recorded)."""
        if day is None:
            return self.until is None
        return (self.since is None or self.since <= day) and (
            self.until is None or day < self.until
        )


@dataclass(frozen=True, slots=True)
class Membership:
    country: str
    fact: Fact


@dataclass(frozen=True, slots=True)
class CountryGroup:
    name: str
    title: str
    citation: str
    memberships: tuple[Membership, ...]
    status: str = ""
    note: str = ""
    confidence: str = "H"
    verify: tuple[tuple[str, str, str], ...] = ()  # (country, confidence, note): open questions

    index: Mapping[str, tuple[Fact, ...]] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        # country -> its membership facts, so the admission path asks "is X in G on day D"
        # without building the member set (the vendor allow-lists have over 200 members).
        index: dict[str, list[Fact]] = {}
        for membership in self.memberships:
            index.setdefault(membership.country, []).append(membership.fact)
        object.__setattr__(self, "index", {k: tuple(v) for k, v in index.items()})

    @property
    def members(self) -> frozenset[str]:
        """Today's members (those with no end date)."""
        return self.members_on(None)

    def members_on(self, day: date | None) -> frozenset[str]:
        return frozenset(m.country for m in self.memberships if m.fact.holds(day))

    def has(self, country: str, day: date | None = None) -> bool:
        return any(fact.holds(day) for fact in self.index.get(country, ()))


@dataclass(frozen=True, slots=True)
class Normalisation:
    to: str
    fact: Fact


def _date(value: Any) -> date | None:
    return None if value is None else date.fromisoformat(str(value))


def _fact(entry: Mapping[str, Any], default_citation: str = "") -> Fact:
    return Fact(
        citation=str(entry.get("citation", default_citation)),
        since=_date(entry.get("from")),
        until=_date(entry.get("until")),
        confidence=str(entry.get("confidence", "H")),
        status=str(entry.get("status", "")),
        note=" ".join(str(entry.get("note", "")).split()),
    )


def _group(name: str, entry: Mapping[str, Any]) -> CountryGroup:
    citation = str(entry.get("citation", ""))
    plain = Fact(citation=citation, confidence=str(entry.get("confidence", "H")))
    memberships = [Membership(str(code), plain) for code in entry["members"]]
    memberships += [
        Membership(str(member["country"]), _fact(member, citation))
        for member in entry.get("dated", ())
    ]
    return CountryGroup(
        name=name,
        title=str(entry.get("title", name)),
        citation=citation,
        memberships=tuple(memberships),
        status=str(entry.get("status", "")),
        note=" ".join(str(entry.get("note", "")).split()),
        confidence=str(entry.get("confidence", "H")),
        verify=tuple(
            (str(v["country"]), str(v.get("confidence", "L")), " ".join(str(v["note"]).split()))
            for v in entry.get("verify", ())
        ),
    )


@dataclass(frozen=True, slots=True)
class CountryGroups:
    """Dated group memberships, plus the dated normalisation rules (HK -> CN)."""

    version: str
    snapshot: str
    groups: Mapping[str, CountryGroup]
    normalisations: Mapping[str, Normalisation]

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> CountryGroups:
        groups = {name: _group(name, entry) for name, entry in data["groups"].items()}
        normalisations = {
            code: Normalisation(str(rule["to"]), _fact(rule))
            for code, rule in (data.get("normalise") or {}).items()
        }
        return cls(str(data["version"]), str(data["snapshot"]), groups, normalisations)

    @property
    def normalisation(self) -> Mapping[str, tuple[str, str]]:
        """code -> (code it counts as, citation), as in force today."""
        return {
            code: (rule.to, rule.fact.citation)
            for code, rule in self.normalisations.items()
            if rule.fact.holds(None)
        }

    def normalise(self, code: str, day: date | None = None) -> str:
        rule = self.normalisations.get(code)
        return rule.to if rule is not None and rule.fact.holds(day) else code

    def resolve(self, reference: str, day: date | None = None) -> frozenset[str] | None:
        """Countries named by a policy reference on `day`: a group name, a country code, or `*`.

        Returns None for `*` (every country) and raises KeyError for an unknown reference.
        """
        if reference == ANY_COUNTRY:
            return None
        if reference in self.groups:
            return self.groups[reference].members_on(day)
        if is_country(reference):
            return frozenset({reference})
        raise KeyError(reference)

    def groups_of(self, country: str, day: date | None = None) -> tuple[str, ...]:
        """Names of the groups a country is in on `day` (for status and messages)."""
        return tuple(name for name, group in self.groups.items() if group.has(country, day))

    def matching(
        self, country: str, references: Iterable[str], day: date | None = None
    ) -> tuple[str, ...]:
        """Which of `references` contain `country` on `day`."""
        found = []
        for reference in references:
            group = self.groups.get(reference)
            if group is not None:
                inside = group.has(country, day)
            else:
                members = self.resolve(reference, day)  # `*`, a country code, or KeyError
                inside = members is None or country in members
            if inside:
                found.append(reference)
        return tuple(found)


@cache
def builtin_country_groups() -> CountryGroups:
    return CountryGroups.from_data(load_data("country-groups.yaml"))
