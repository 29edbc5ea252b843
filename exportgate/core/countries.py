"""Countries and the dated country groups that policies refer to."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
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
class CountryGroup:
    name: str
    title: str
    citation: str
    members: frozenset[str]


@dataclass(frozen=True, slots=True)
class CountryGroups:
    """The group snapshot in force, plus the normalisation rules (HK -> CN)."""

    version: str
    snapshot: str
    groups: Mapping[str, CountryGroup]
    normalisation: Mapping[str, tuple[str, str]]  # code -> (code it counts as, citation)

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> CountryGroups:
        groups = {
            name: CountryGroup(
                name=name,
                title=str(entry.get("title", name)),
                citation=str(entry.get("citation", "")),
                members=frozenset(entry["members"]),
            )
            for name, entry in data["groups"].items()
        }
        normalisation = {
            code: (str(rule["to"]), str(rule.get("citation", "")))
            for code, rule in (data.get("normalise") or {}).items()
        }
        return cls(str(data["version"]), str(data["snapshot"]), groups, normalisation)

    def normalise(self, code: str) -> str:
        return self.normalisation.get(code, (code, ""))[0]

    def resolve(self, reference: str) -> frozenset[str] | None:
        """Countries named by a policy reference: a group name, a country code, or `*`.

        Returns None for `*` (every country) and raises KeyError for an unknown reference.
        """
        if reference == ANY_COUNTRY:
            return None
        if reference in self.groups:
            return self.groups[reference].members
        if is_country(reference):
            return frozenset({reference})
        raise KeyError(reference)

    def groups_of(self, country: str) -> tuple[str, ...]:
        """Names of the groups a country is in (for status and messages)."""
        return tuple(name for name, group in self.groups.items() if country in group.members)

    def matching(self, country: str, references: Iterable[str]) -> tuple[str, ...]:
        """Which of `references` contain `country`."""
        found = []
        for reference in references:
            members = self.resolve(reference)
            if members is None or country in members:
                found.append(reference)
        return tuple(found)


@cache
def builtin_country_groups() -> CountryGroups:
    return CountryGroups.from_data(load_data("country-groups.yaml"))
