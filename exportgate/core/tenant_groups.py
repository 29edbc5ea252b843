"""Tenant groups: Tenant records that answer to one party, for the capacity tier over a group.

The capacity tier (EO 14110's figure for a computing cluster a *person* holds) is judged per
tenant by the operator. A party that spreads one cluster over several verified Tenant records
(subsidiaries, resellers) would stay under it per record, so the tenants of one group are also
summed together. This module is the one home of what "one group" means:

* two Tenant records whose KYC names the same **controlling party**: the same ultimate parent,
  or the same owner with more than `MAJORITY_SHARE` (the codebase's rule: such an owner counts
  like an ultimate parent, see `exportgate.core.tenants.jurisdictions`);
* a Tenant record whose **legal name** is another's ultimate parent or majority owner (the
  parent is itself a tenant), or another record's legal name (one company, two records);
* a reseller and its **end customer that is also a tenant** (the end customer's legal name, or
  its controlling party, is named in the reseller's `resale.endCustomers`); through chains of
  resellers the links are followed transitively.

Two resellers that merely name the same end customer, which is not a tenant and controls no
tenant, are not linked: each holds capacity for many customers, and neither record says the
end customer holds all of it.

The Tenant shape carries no party identifier (no LEI, no registration number), so parties are
matched by name, normalised by `party_key` only in ways that cannot join two different names
(Unicode compatibility form, case, whitespace, the punctuation of legal suffixes): no fuzzy
matching. A name spelt differently in two KYC records is two parties; KYC is where that is
caught.

A placeholder written where a KYC form asks for a party ("N/A", "none", "self", "-") names no
party, so it links nobody (`is_placeholder_party`; red team 13b, M2: two unrelated tenants whose
ultimate parent was "N/A" were one group, their capacity summed). The Tenant contract still
accepts such records; the operator reports each placeholder on the Tenant's status
(`placeholder_parties`), so that KYC fixes the record.
"""

from __future__ import annotations

import re
import unicodedata
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from exportgate.core.tenants import MAJORITY_SHARE
from exportgate.core.types import Tenant

LEGAL_NAME = "legalName"  # the tenant itself
ULTIMATE_PARENT = "ultimateParent"
MAJORITY_OWNER = "majorityOwner"
END_CUSTOMER = "endCustomer"
CONTROLLERS = frozenset({ULTIMATE_PARENT, MAJORITY_OWNER})
# A party named only in these roles links nobody (see the module docstring).
WEAK_ROLES = frozenset({END_CUSTOMER})
_IGNORED = str.maketrans({".": " ", ",": " "})  # "Co., Ltd." and "Co Ltd" are one spelling
_NOT_LETTER_OR_DIGIT = re.compile(r"[\W_]+")
# What analysts write in a KYC form's party field when there is no such party or they do not
# know it ("no parent", "not applicable"). None of these names a party, so grouping by one would
# join tenants that have nothing in common. Compared with everything but letters and digits
# removed from the `party_key` (so "N/A", "n.a.", "N-A" and "NA" are one entry); a name with no
# letter or digit at all ("-", ".", "?") is a placeholder too. The one home of this list.
PLACEHOLDER_PARTY_NAMES = frozenset(
    {
        "na",  # N/A, n.a., NA
        "nil",
        "none",
        "notapplicable",
        "notavailable",
        "notknown",
        "null",
        "same",
        "sameasabove",
        "self",
        "tba",
        "tbd",
        "unknown",
    }
)


def party_key(name: str) -> str:
    """A party's name as compared: NFKC, case-folded, '.' and ',' as spaces, whitespace
    collapsed. Different words never become equal ("Nimbus Holdings" is not "Nimbus")."""
    text = unicodedata.normalize("NFKC", name).casefold().translate(_IGNORED)
    return " ".join(text.split())


def is_placeholder_party(name: str) -> bool:
    """Whether `name` is a placeholder rather than a party (see PLACEHOLDER_PARTY_NAMES)."""
    return _is_placeholder_key(party_key(name))


def _is_placeholder_key(key: str) -> bool:
    letters = _NOT_LETTER_OR_DIGIT.sub("", key)
    return not letters or letters in PLACEHOLDER_PARTY_NAMES


@dataclass(frozen=True, slots=True)
class Naming:
    """One tenant naming a party, and in which role (LEGAL_NAME: the party is the tenant)."""

    tenant: str
    role: str


@dataclass(frozen=True, slots=True)
class Link:
    """A party that ties tenants together, and how each names it."""

    key: str  # party_key of the name
    party: str  # the name as first written (sorted by tenant), for people
    named_by: tuple[Naming, ...]

    @property
    def tenants(self) -> tuple[str, ...]:
        return tuple(sorted({n.tenant for n in self.named_by}))


@dataclass(frozen=True, slots=True)
class TenantGroup:
    """Two or more Tenant records that answer to one party."""

    key: str  # stable identifier: party_key of the group's top party (see `_top`)
    name: str  # that party as written
    members: tuple[str, ...]  # Tenant names, sorted
    links: tuple[Link, ...]  # why they are one group


def namings(tenant: Tenant) -> list[tuple[str, str]]:
    """(role, party name) of every party the tenant's KYC record names."""
    found = [(LEGAL_NAME, tenant.legal_name)]
    if tenant.ultimate_parent is not None:
        found.append((ULTIMATE_PARENT, tenant.ultimate_parent.name))
    found += [(MAJORITY_OWNER, o.name) for o in tenant.owners if o.share > MAJORITY_SHARE]
    found += [(END_CUSTOMER, c.name) for c in tenant.end_customers]
    return found


def placeholder_parties(tenant: Tenant) -> list[tuple[str, str]]:
    """(field, name) of every party name in the tenant's KYC record that is a placeholder
    (`is_placeholder_party`), as spec paths, in the record's order."""
    fields = [("spec.legalName", tenant.legal_name)]
    if tenant.ultimate_parent is not None:
        fields.append(("spec.ultimateParent.name", tenant.ultimate_parent.name))
    fields += [(f"spec.ownership.owners[{i}].name", o.name) for i, o in enumerate(tenant.owners)]
    fields += [
        (f"spec.resale.endCustomers[{i}].name", c.name) for i, c in enumerate(tenant.end_customers)
    ]
    return [(field, name) for field, name in fields if is_placeholder_party(name)]


def tenant_groups(tenants: Iterable[Tenant]) -> tuple[TenantGroup, ...]:
    """The groups of two or more of `tenants` (a tenant in none is a group of its own).

    Near-linear in the number of namings (union-find, links indexed by their group's root):
    the operator regroups every tenant on each accounting round."""
    named: dict[str, list[tuple[Naming, str]]] = defaultdict(list)
    for tenant in sorted(tenants, key=lambda t: t.name):
        for role, name in namings(tenant):
            key = party_key(name)
            if not _is_placeholder_key(key):  # a placeholder names no party: links nobody
                named[key].append((Naming(tenant.name, role), name))
    root: dict[str, str] = {}

    def find(member: str) -> str:
        root.setdefault(member, member)
        while root[member] != member:
            root[member] = root[root[member]]
            member = root[member]
        return member

    links: list[Link] = []
    for key, found in sorted(named.items()):
        who = {n.tenant for n, _ in found}
        if len(who) < 2 or all(n.role in WEAK_ROLES for n, _ in found):
            continue
        first, *others = sorted(who)
        for other in others:
            root[find(other)] = find(first)
        unique = tuple(dict.fromkeys(n for n, _ in found))
        links.append(Link(key, found[0][1], unique))
    members: dict[str, list[str]] = defaultdict(list)
    for name in sorted(root):
        members[find(name)].append(name)
    # Each link belongs to the group of the tenants it names (all share one root), in key order.
    by_root: dict[str, list[Link]] = defaultdict(list)
    for link in links:
        by_root[find(link.named_by[0].tenant)].append(link)
    groups = []
    for top_member, names in members.items():
        if len(names) < 2:
            continue
        mine = tuple(by_root[top_member])
        top = _top(mine)
        groups.append(TenantGroup(top.key, top.party, tuple(names), mine))
    return tuple(sorted(groups, key=lambda g: g.key))


def _top(links: tuple[Link, ...]) -> Link:
    """The party a group is known by: a controlling party (ultimate parent, majority owner)
    before a tenant's own name or an end customer, then the one most members name, then the
    first name in order; the same members always give the same key."""

    def rank(link: Link) -> tuple[int, int, str]:
        controls = any(n.role in CONTROLLERS for n in link.named_by)
        return (0 if controls else 1, -len(link.tenants), link.key)

    return min(links, key=rank)
