"""Cloud instance types (instance-types.yaml): the parsed form the catalogue looks names up in.

Each cloud has a naming pattern (family and size), its accelerator families with their product,
instance types with their accelerator count, the Karpenter categories that hold accelerator
families, how to recognise a family named like an accelerator family that the table does not
list yet (an unknown accelerator, not "no accelerator"), and the families and categories the
cloud documents as carrying no accelerator (the only names that say "no accelerator").
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Cloud:
    pattern: re.Pattern[str]
    families: Mapping[str, str]  # family -> product id
    categories: Mapping[str, frozenset[str]]  # category -> product ids
    types: Mapping[str, tuple[str, int]]  # instance type -> (product id, count)
    accelerator_categories: frozenset[str]
    accelerator_family_prefix: str | None
    accelerator_family_pattern: re.Pattern[str] | None = None
    """Families named like the cloud's accelerator families: one missing from the table is an
    unknown accelerator family (a new GPU generation), not a family without accelerators."""
    plain_family_pattern: re.Pattern[str] | None = None
    """Families the cloud documents as carrying no accelerator. Only these say "no
    accelerator": a name that merely has the cloud's shape may be any provider's or on-prem
    node's label (dgx.h100, h100-node)."""
    plain_categories: frozenset[str] = frozenset()
    """Karpenter instance categories holding only plain families; any other unlisted category
    is unknown."""


def parse_cloud(spec: Mapping[str, Any]) -> Cloud:
    families = {name: str(f["product"]) for name, f in (spec.get("families") or {}).items()}
    categories: dict[str, set[str]] = {}
    for name, family in (spec.get("families") or {}).items():
        if family.get("category"):
            categories.setdefault(str(family["category"]), set()).add(families[name])
    types: dict[str, tuple[str, int]] = {}
    for name, value in (spec.get("types") or {}).items():
        if isinstance(value, Mapping):
            product = str(value.get("product") or families[_family(spec, name)])
            types[name] = (product, int(value.get("count", 1)))
        else:
            types[name] = (families[_family(spec, name)], int(value))
    return Cloud(
        pattern=re.compile(spec["pattern"]),
        families=families,
        categories={k: frozenset(v) for k, v in categories.items()},
        types=types,
        accelerator_categories=frozenset(spec.get("acceleratorCategories", ())),
        accelerator_family_prefix=spec.get("acceleratorFamilyPrefix"),
        accelerator_family_pattern=(
            re.compile(spec["acceleratorFamilyPattern"])
            if spec.get("acceleratorFamilyPattern")
            else None
        ),
        plain_family_pattern=(
            re.compile(spec["plainFamilyPattern"]) if spec.get("plainFamilyPattern") else None
        ),
        plain_categories=frozenset(spec.get("plainCategories", ())),
    )


def _family(spec: Mapping[str, Any], name: str) -> str:
    match = re.match(spec["pattern"], name)
    if not match:
        raise ValueError(f"instance type {name} does not follow its cloud's pattern")
    return str(match.group("family"))
