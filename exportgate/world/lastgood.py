"""The one rule for inputs that cannot be used: what cannot be read never loosens what is served.

Two failures are told apart, because they mean different things:

- **A whole source fails** (the API server is unreachable, a watch keeps failing, a named file
  is gone, the policy set does not build into an engine): nothing new is known, so the
  snapshot built from the source's last complete read keeps serving, and the failure is
  reported (`SnapshotLoader.report_error`, the sources' backoff). `SnapshotLoader` applies
  this rule.
- **One record does not parse** (a Tenant or ExportPolicy object, or one file): the record's own
  standing is decided by `read`, per record kind, in `ON_INVALID`. The rest of the source is
  fine and is served as it is. A policy keeps its last good version (dropping it would loosen
  the rules); a tenant does not (issue 11): its last good version may carry permissions the
  broken edit revoked, and a restarted reader could not know it, so the tenant is *invalid*
  (`Snapshot.invalid_tenants`) and denied with the reason. A tenant name defined twice is
  invalid the same way, for that name only.

Every program that turns records into a snapshot (the sidecar's sources, the operator's world)
reads records through `read`, so they agree on what is served for a broken record.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from exportgate.core.errors import ExportgateError

T = TypeVar("T")


class OnInvalid(enum.Enum):
    KEEP_LAST_GOOD = "keep-last-good"
    """The record's last version that parsed keeps serving: dropping it would silently loosen
    what is enforced (a deny rule gone, a tenant unbound)."""
    UNUSABLE = "unusable"
    """Nothing is served for the record until it is fixed."""


class RecordKind(enum.Enum):
    TENANT = "Tenant"
    POLICY = "ExportPolicy"
    FILE = "file"  # a policy file of the files source: all its documents as one
    TENANT_FILE = "tenant file"  # a tenant file: its tenants become invalid when it breaks


# What a record that stops parsing means, per kind: the one place to change it.
ON_INVALID: dict[RecordKind, OnInvalid] = {
    RecordKind.TENANT: OnInvalid.UNUSABLE,
    RecordKind.POLICY: OnInvalid.KEEP_LAST_GOOD,
    RecordKind.FILE: OnInvalid.KEEP_LAST_GOOD,
    RecordKind.TENANT_FILE: OnInvalid.UNUSABLE,
}


@dataclass(frozen=True, slots=True)
class Reading(Generic[T]):
    """One record as last read."""

    current: T | None
    """This version, when it parsed."""
    served: T | None
    """What the snapshot uses for this record (None: nothing)."""
    error: ExportgateError | None = None
    """Why `current` is None."""

    def refusal(self, detail: str = "") -> str | None:
        """The message for an operator when this version is not served, else None; `detail`
        (e.g. the object's resourceVersion) follows the error."""
        if self.error is None:
            return None
        what = f"{self.error}{detail}"
        if self.served is not None:
            return f"{what}; still using the last good version"
        return f"{what}; ignored until it is fixed"


def read(
    kind: RecordKind, parse: Callable[[], T], before: Reading[T] | None = None
) -> Reading[T]:
    """Parse one record; on failure apply `ON_INVALID[kind]` to what `before` served."""
    try:
        value = parse()
    except ExportgateError as exc:
        keep = ON_INVALID[kind] is OnInvalid.KEEP_LAST_GOOD and before is not None
        return Reading(None, before.served if keep and before else None, exc)
    return Reading(value, value, None)
