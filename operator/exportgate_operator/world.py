"""What the operator currently knows: the Tenant and ExportPolicy records it was handed, and the
snapshot made of them by the shared world module (`exportgate.world`).

Handlers feed it the objects they see; everything that decides (status, re-audit) reads
`snapshot`. The rules are the sidecar's own, not a copy: records are read through
`exportgate.world.lastgood` (a policy that stops compiling keeps its last good version) and
become a snapshot through `exportgate.world.assembly`, so both programs agree on what is
served. All access happens on the operator's one event loop, so no locking is needed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from exportgate.core.engine import PolicyEngine
from exportgate.core.errors import ExportgateError, InputError
from exportgate.core.policy import PolicyDocument, parse_policy_document
from exportgate.core.tenants import parse_tenant
from exportgate.core.types import Tenant
from exportgate.world.assembly import Assembly, build_engine, serving_engine
from exportgate.world.lastgood import Reading, RecordKind, read
from exportgate.world.snapshot import Snapshot
from exportgate.world.snapshot import TenantRecord as SourceRecord


@dataclass(frozen=True, slots=True)
class TenantRecord:
    name: str
    reading: Reading[Tenant]
    generation: int | None
    uid: str | None = None

    @property
    def tenant(self) -> Tenant | None:
        """This generation's spec, when it parses (status describes this one)."""
        return self.reading.current

    @property
    def error(self) -> InputError | None:
        return _input_error(self.reading.error)


@dataclass(frozen=True, slots=True)
class PolicyRecord:
    name: str
    reading: Reading[PolicyDocument]
    generation: int | None

    @property
    def compiled(self) -> PolicyDocument | None:
        """This generation, when it compiled."""
        return self.reading.current

    @property
    def last_good(self) -> PolicyDocument | None:
        """What the engine serves for this name."""
        return self.reading.served

    @property
    def error(self) -> InputError | None:
        return _input_error(self.reading.error)


def _input_error(error: ExportgateError | None) -> InputError | None:
    """Status fields describe an `InputError` (message, field, hint); anything else the core
    raised while reading a record is reported by its text."""
    if error is None or isinstance(error, InputError):
        return error
    return InputError(str(error))


def plain(body: Mapping[str, Any]) -> dict[str, Any]:
    """A kopf body (or any mapping) as plain nested dicts and lists, as the core expects."""

    def convert(value: Any) -> Any:
        if isinstance(value, Mapping):
            return {str(k): convert(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [convert(v) for v in value]
        return value

    result: dict[str, Any] = convert(body)
    return result


def _generation(body: Mapping[str, Any]) -> int | None:
    value = (body.get("metadata") or {}).get("generation")
    return int(value) if value is not None else None


class World:
    def __init__(self, packs: tuple[str, ...] | None = None) -> None:
        self.packs = packs
        self._tenants: dict[str, TenantRecord] = {}
        self._policies: dict[str, PolicyRecord] = {}
        self._assembly = Assembly()
        self._snapshot: Snapshot | None = None
        self._stale_engine = True
        self._stale_tenants = True
        self._wakers: dict[str, asyncio.Event] = {}

    # --- the snapshot -------------------------------------------------------------------

    @property
    def snapshot(self) -> Snapshot:
        """The built-in packs plus every policy's served version, and every served tenant."""
        if self._snapshot is not None and not (self._stale_engine or self._stale_tenants):
            return self._snapshot
        if self._stale_engine:
            served = self._served_policies()
            self._assembly.set_engine(serving_engine(served, self.packs), len(served))
            self._stale_engine = False
        if self._stale_tenants:
            self._assembly.set_tenants(
                [
                    SourceRecord(r.reading.served, f"Tenant/{name}")
                    for name, r in sorted(self._tenants.items())
                    if r.reading.served is not None
                ],
                # Unusable, as for the sidecar: denied with the reason (exportgate.core.records).
                invalid={
                    name: str(r.reading.error)
                    for name, r in self._tenants.items()
                    if r.reading.served is None and r.reading.error is not None
                },
            )
            self._stale_tenants = False
        snapshot = self._assembly.snapshot(self._snapshot)
        assert snapshot is not None  # the engine was set above
        self._snapshot = snapshot
        return snapshot

    @property
    def engine(self) -> PolicyEngine:
        return self.snapshot.engine

    def next_transition(self, name: str, now: datetime) -> datetime | None:
        return self.snapshot.next_transition(name, now)

    # --- tenants ------------------------------------------------------------------------

    def set_tenant(self, body: Mapping[str, Any]) -> TenantRecord:
        data = plain(body)
        name = str(data["metadata"]["name"])
        before = self._tenants.get(name)
        reading = read(
            RecordKind.TENANT,
            lambda: parse_tenant(data, source=f"Tenant/{name}"),
            before.reading if before else None,
        )
        uid = data["metadata"].get("uid")
        record = TenantRecord(name, reading, _generation(data), str(uid) if uid else None)
        self._tenants[name] = record
        self._stale_tenants = True
        self.wake(name)
        return record

    def drop_tenant(self, name: str) -> None:
        self._tenants.pop(name, None)
        self._stale_tenants = True
        self.wake(name)

    def tenant(self, name: str) -> Tenant | None:
        """The version of tenant `name` decisions are made with (None: unknown or unusable)."""
        return self.snapshot.tenant(name)

    def tenant_record(self, name: str) -> TenantRecord | None:
        return self._tenants.get(name)

    def tenant_names(self) -> list[str]:
        return sorted(self._tenants)

    # --- policies -----------------------------------------------------------------------

    def set_policy(self, body: Mapping[str, Any]) -> PolicyRecord:
        data = plain(body)
        name = str(data["metadata"]["name"])
        before = self._policies.get(name)

        def compile_with_the_rest() -> PolicyDocument:
            # A policy that parses may still not build with the others (or break the engine):
            # that is its failure, not theirs, so it is tested before it is served.
            compiled = parse_policy_document(data, source=f"ExportPolicy/{name}")
            build_engine([*self._served_policies(except_name=name), compiled], self.packs)
            return compiled

        reading = read(RecordKind.POLICY, compile_with_the_rest, before.reading if before else None)
        record = PolicyRecord(name, reading, _generation(data))
        if (before.last_good if before else None) != record.last_good:
            self._stale_engine = True
        self._policies[name] = record
        return record

    def drop_policy(self, name: str) -> bool:
        """Forget a deleted policy; True when that changes what is served."""
        record = self._policies.pop(name, None)
        if record is not None and record.last_good is not None:
            self._stale_engine = True
            return True
        return False

    def policy_record(self, name: str) -> PolicyRecord | None:
        return self._policies.get(name)

    def policy_names(self) -> list[str]:
        return sorted(self._policies)

    def _served_policies(self, except_name: str | None = None) -> list[PolicyDocument]:
        return [
            r.last_good
            for name, r in sorted(self._policies.items())
            if r.last_good is not None and name != except_name
        ]

    # --- expiry timers ------------------------------------------------------------------

    def waker(self, name: str) -> asyncio.Event:
        """The event a tenant's timer waits on, so a spec change re-plans it at once."""
        return self._wakers.setdefault(name, asyncio.Event())

    def wake(self, name: str) -> None:
        event = self._wakers.get(name)
        if event is not None:
            event.set()
