"""What the operator currently knows: parsed tenants, compiled policies and the engine over them.

Handlers feed it the objects they see; everything that decides (status, re-audit) asks it. The
rules mirror the sidecar's so both agree on what is being served: a policy that stops compiling
keeps its last good version in the engine, and the engine is rebuilt only when a policy changed.
All access happens on the operator's one event loop, so no locking is needed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from exportgate.core.engine import PolicyEngine
from exportgate.core.errors import InputError, PolicyError
from exportgate.core.policy import PolicyDocument, parse_policy_document
from exportgate.core.tenants import parse_tenant
from exportgate.core.types import Tenant
from exportgate.decisionlog.snapshots import keep_policy_snapshot


@dataclass(frozen=True, slots=True)
class TenantRecord:
    name: str
    tenant: Tenant | None  # None when the spec does not parse
    error: InputError | None
    generation: int | None
    uid: str | None = None


@dataclass(frozen=True, slots=True)
class PolicyRecord:
    name: str
    compiled: PolicyDocument | None  # this generation, when it compiled
    last_good: PolicyDocument | None  # what the engine serves for this name
    error: InputError | None
    generation: int | None


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
        self._engine: PolicyEngine | None = None
        self._wakers: dict[str, asyncio.Event] = {}

    # --- tenants ------------------------------------------------------------------------

    def set_tenant(self, body: Mapping[str, Any]) -> TenantRecord:
        data = plain(body)
        name = str(data["metadata"]["name"])
        try:
            tenant: Tenant | None = parse_tenant(data, source=f"Tenant/{name}")
            error = None
        except InputError as exc:
            tenant, error = None, exc
        uid = data["metadata"].get("uid")
        record = TenantRecord(name, tenant, error, _generation(data), str(uid) if uid else None)
        self._tenants[name] = record
        self.wake(name)
        return record

    def drop_tenant(self, name: str) -> None:
        self._tenants.pop(name, None)
        self.wake(name)

    def tenant(self, name: str) -> Tenant | None:
        record = self._tenants.get(name)
        return record.tenant if record else None

    def tenant_record(self, name: str) -> TenantRecord | None:
        return self._tenants.get(name)

    def tenant_names(self) -> list[str]:
        return sorted(self._tenants)

    # --- policies -----------------------------------------------------------------------

    def set_policy(self, body: Mapping[str, Any]) -> PolicyRecord:
        data = plain(body)
        name = str(data["metadata"]["name"])
        before = self._policies.get(name)
        try:
            compiled: PolicyDocument | None = parse_policy_document(
                data, source=f"ExportPolicy/{name}"
            )
            error = None
        except InputError as exc:
            compiled, error = None, exc
        last_good = compiled or (before.last_good if before else None)
        if compiled is not None:
            # Built-in pack names must exist for the engine to build; a typo in a pack name is
            # impossible here (policies replace packs by name), but a policy that breaks the
            # engine must not take every other policy down with it.
            try:
                self._build([*self._good_policies(except_name=name), compiled])
            except PolicyError as exc:
                compiled, error = None, exc
                last_good = before.last_good if before else None
        record = PolicyRecord(name, compiled, last_good, error, _generation(data))
        changed = (before.last_good if before else None) != last_good
        self._policies[name] = record
        if changed:
            self._engine = None
        return record

    def drop_policy(self, name: str) -> bool:
        """Forget a deleted policy; True when that changes what is served."""
        record = self._policies.pop(name, None)
        if record is not None and record.last_good is not None:
            self._engine = None
            return True
        return False

    def policy_record(self, name: str) -> PolicyRecord | None:
        return self._policies.get(name)

    def policy_names(self) -> list[str]:
        return sorted(self._policies)

    def _good_policies(self, except_name: str | None = None) -> list[PolicyDocument]:
        return [
            r.last_good
            for name, r in sorted(self._policies.items())
            if r.last_good is not None and name != except_name
        ]

    def _build(self, policies: list[PolicyDocument]) -> PolicyEngine:
        engine = PolicyEngine.build(policies=policies, packs=self.packs)
        keep_policy_snapshot(engine)  # kept beside the decision log, for audit replay
        return engine

    @property
    def engine(self) -> PolicyEngine:
        """The engine over the built-in packs plus every policy's last good version."""
        if self._engine is None:
            self._engine = self._build(self._good_policies())
        return self._engine

    # --- expiry timers ------------------------------------------------------------------

    def waker(self, name: str) -> asyncio.Event:
        """The event a tenant's timer waits on, so a spec change re-plans it at once."""
        return self._wakers.setdefault(name, asyncio.Event())

    def wake(self, name: str) -> None:
        event = self._wakers.get(name)
        if event is not None:
            event.set()
