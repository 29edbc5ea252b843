"""Turns source updates into snapshots: the one place tenants and policies become what decides.

Sources (the sidecar's file and Kubernetes sources) call `set_tenants` / `set_policies` with
their complete current view, not deltas. The loader builds the engine off the event loop,
pairs it with the tenants and publishes an immutable `Snapshot` to a `SnapshotStore`. It applies
the whole-source half of the last-good rule (`exportgate.world.lastgood`): a policy set that
does not build is refused with a logged error and the previous snapshot keeps serving. A tenant
name defined twice makes that one tenant invalid, reported per name; the others carry on.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Any

import structlog

from exportgate.core.errors import ExportgateError
from exportgate.core.types import Action
from exportgate.world.assembly import Assembly, duplicate_names, serving_engine
from exportgate.world.snapshot import SnapshotStore, TenantRecord

log = structlog.get_logger("exportgate.world")


class SnapshotLoader:
    """Builds snapshots from the latest inputs of every source and publishes them.

    Sources call `set_tenants` / `set_policies` with their complete current view (not deltas),
    from the event loop. The first snapshot is published only once every expected input has
    arrived, so the sidecar never serves with tenants but without the cluster's policies.
    """

    def __init__(
        self,
        store: SnapshotStore,
        *,
        packs: Sequence[str] | None = None,
        default_action: Action | None = None,
    ) -> None:
        self._store = store
        self._packs = packs
        self._default_action = default_action
        self._waiting = {"tenants", "policies"}
        self._lock = asyncio.Lock()
        self._assembly = Assembly()
        self._duplicates: dict[str, set[str]] = {}  # origin -> duplicate errors reported
        self.ready = asyncio.Event()

    # -- inputs ----------------------------------------------------------------------------

    async def set_tenants(
        self,
        records: Sequence[TenantRecord],
        origin: str = "tenants",
        invalid: Mapping[str, str] | None = None,
    ) -> bool:
        """Replace the tenant set; `invalid` names tenants whose record does not parse (name ->
        why). Those and any name defined twice are denied alone. Returns False when some are."""
        async with self._lock:
            self._report_duplicates(origin, duplicate_names(records))
            self._assembly.set_tenants(records, invalid)
            self._waiting.discard("tenants")
            self._publish_locked()
            return not self._assembly.invalid

    async def set_policies(self, documents: Sequence[Any], origin: str = "policies") -> bool:
        """Replace the policy documents and rebuild the engine. Returns False when they do not
        compile; the previous engine keeps serving."""
        async with self._lock:
            documents = tuple(documents)
            try:
                # Building compiles every policy; run it off the event loop so that decisions
                # keep flowing with the current snapshot meanwhile.
                engine = await asyncio.to_thread(
                    serving_engine, documents, self._packs, self._default_action
                )
            except ExportgateError as exc:
                self.report_error(origin, f"{exc}; keeping the previous policy snapshot")
                return False
            except Exception as exc:
                # A bug in the engine must not take the sidecar down either; say so loudly.
                log.exception("engine build crashed", origin=origin)
                self.report_error(origin, f"internal error building policies: {exc!r}")
                return False
            self._clear_error(origin)
            self._assembly.set_engine(engine, len(documents))
            self._waiting.discard("policies")
            self._publish_locked()
            return True

    def _report_duplicates(self, origin: str, duplicates: Mapping[str, str]) -> None:
        """One error per duplicated tenant name, cleared once it is defined once again."""
        now = {f"{origin}: tenant {name}": problem for name, problem in duplicates.items()}
        for gone in self._duplicates.get(origin, set()) - now.keys():
            self._clear_error(gone)
        for key, problem in now.items():
            self.report_error(key, f"{problem}; this tenant is denied until one is removed")
        self._duplicates[origin] = set(now)

    def report_error(self, origin: str, message: str) -> None:
        """A source could not use one of its inputs (a broken file or object)."""
        if self._store.errors.get(origin) != message:
            log.error("input refused", origin=origin, error=message)
        self._store.errors[origin] = message

    def clear_error(self, origin: str) -> None:
        self._clear_error(origin)

    # -- internals -------------------------------------------------------------------------

    def _clear_error(self, origin: str) -> None:
        if self._store.errors.pop(origin, None) is not None:
            log.info("input accepted again", origin=origin)

    def _publish_locked(self) -> None:
        # Wait for every expected input: a first snapshot without the cluster's policies
        # would decide with the built-in packs alone.
        if self._waiting:
            return
        old = self._store.current
        snapshot = self._assembly.snapshot(old)
        if snapshot is None or snapshot is old:
            return  # nothing a decision depends on changed
        changed = self._store.publish(snapshot)
        log.info(
            "snapshot published",
            policy_version=snapshot.version,
            generation=snapshot.generation,
            tenants=len(snapshot.tenants),
            policies=snapshot.policy_count,
            changed_tenants=len(changed),
            policy_changed=old is None or old.engine is not snapshot.engine,
        )
        self.ready.set()
