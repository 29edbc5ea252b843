"""Crossings carried by run records: the one way to find a tenant or group crossing again.

A crossing of the capacity tier by several runs together (a tenant's, tenants.py; a group's,
groups.py) has no object of its own: every run record that made it up carries a copy of it
(with its own share), so a restarted operator finds it in whichever records it reads. This
module gathers those copies back into crossings: which records carry one, its copies, whether
it is still to be announced, and ending it. A kind of crossing says only which list of a record
holds its copies (`copies`), what makes two copies one crossing (`key_of`) and what tells its
crossings apart across records (`found_by`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from exportgate_operator.accounting.records import RunRecord
from exportgate_operator.conditions import timestamp as stamp

C = TypeVar("C", bound="CarriedCrossing")


@dataclass(slots=True)
class CarriedCrossing:
    """One crossing and the run records that carry it (the runs that made it up)."""

    key: tuple[str, ...]
    records: list[RunRecord] = field(default_factory=list)

    @staticmethod
    def copies(record: RunRecord) -> list[dict[str, Any]]:
        """The copies of this kind of crossing that `record` carries (its status list)."""
        raise NotImplementedError

    @staticmethod
    def key_of(entry: Mapping[str, Any]) -> tuple[str, ...]:
        """One crossing, whichever run record holds a copy of it."""
        raise NotImplementedError

    @classmethod
    def found_by(cls, record: RunRecord, entry: Mapping[str, Any]) -> Any:
        """What tells this kind's crossings apart across records (and orders them)."""
        return cls.key_of(entry)

    def entries(self) -> list[dict[str, Any]]:
        """Every copy of this crossing, in the order of its records."""
        return [e for r in self.records for e in self.copies(r) if self.key_of(e) == self.key]

    @property
    def entry(self) -> dict[str, Any]:
        return self.entries()[0]

    def by_share(self) -> list[tuple[RunRecord, dict[str, Any]]]:
        """Each record with its copy (its own share), the largest share at the peak first."""
        shares = {
            id(r): e for r in self.records for e in self.copies(r) if self.key_of(e) == self.key
        }
        return sorted(
            ((r, shares[id(r)]) for r in self.records),
            key=lambda pair: (
                -float(pair[1].get("runValue") or 0),
                pair[0].namespace,
                pair[0].name,
            ),
        )


def gather(kind: type[C], records: Iterable[RunRecord], *, pending: bool) -> list[C]:
    """The crossings of `kind` found in `records`, in `found_by` order; `pending`: only those
    not yet announced."""
    found: dict[Any, C] = {}
    for record in records:
        for entry in kind.copies(record):
            if pending and entry.get("notified"):
                continue
            crossing = found.setdefault(kind.found_by(record, entry), kind(kind.key_of(entry)))
            if record not in crossing.records:
                crossing.records.append(record)
    return [found[k] for k in sorted(found)]


def end(
    kind: type[CarriedCrossing],
    records: Iterable[RunRecord],
    keys: Iterable[tuple[str, ...]],
    now: datetime,
) -> None:
    """End the open copies, in `records`, of the crossings of `kind` named by `keys`."""
    ending = set(keys)
    if not ending:
        return
    for record in records:
        for entry in kind.copies(record):
            if kind.key_of(entry) in ending and not entry.get("endedAt"):
                entry["endedAt"] = stamp(now)
