"""The Tenant spec as strict as the parser: enumerations generated from the parser's own data."""

from __future__ import annotations

import string
from typing import Any

from crd_common import COUNTRY, Schema

from exportgate.core.countries import is_country
from exportgate.core.tenants import licensable_subjects


def assigned_countries() -> list[str]:
    """Every assigned ISO 3166-1 alpha-2 code, as the tenant parser accepts them."""
    letters = string.ascii_uppercase
    return sorted(code for a in letters for b in letters if is_country(code := a + b))


def strict_enums(spec: Schema) -> Schema:
    """Every country field enumerates the assigned ISO codes (not just two capitals), and a
    licence's ``covers`` enumerates the classifications and catalogue products a licence may
    cover. Both lists come from the data the parser checks against, so the API server refuses
    what every reader would refuse (issue 11)."""
    countries = assigned_countries()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("type") == "string" and node.get("pattern") == COUNTRY["pattern"]:
                del node["pattern"]
                node["enum"] = list(countries)  # a copy each: no YAML aliases in the CRD
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(spec)
    covers = spec["properties"]["licenses"]["items"]["properties"]["covers"]["items"]
    covers.pop("minLength", None)
    covers["enum"] = sorted(licensable_subjects())
    return spec
