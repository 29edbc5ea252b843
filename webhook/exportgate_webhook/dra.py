"""The DRA objects a reviewed object refers to, read from the API server with a cache.

A ResourceClaim is judged by what it can allocate through its DeviceClass, and a Pod (or pod
template) by the ResourceClaims and ResourceClaimTemplates it names (exportgate.core.extract.dra).
Those objects live in the API server, so the webhook reads them: extraction first runs on the
cached objects; references it could not read (an unknown accelerator, marked by a resource such
as ``ResourceClaimTemplate gpu``) are then fetched directly, bounded by the review's budget, and
the object is extracted again. A reference that still cannot be read stays an unknown
accelerator: exportgate does not admit as harmless what it cannot read.

Fetched objects are cached for `ttl_s` so a Deployment's replicas do not each read the template.
The webhook's ClusterRole grants get on deviceclasses, resourceclaims and resourceclaimtemplates.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import structlog

from exportgate.core.extract.dra_refs import CLAIM, CLAIM_TEMPLATE, DEVICE_CLASS, DraObjects
from exportgate.core.types import Workload

log = structlog.get_logger("exportgate.webhook.dra")

ExtractWith = Callable[[Mapping[str, Any], DraObjects], Workload]
_PLURALS = {
    DEVICE_CLASS: "deviceclasses",
    CLAIM: "resourceclaims",
    CLAIM_TEMPLATE: "resourceclaimtemplates",
}
_ROUNDS = 2  # template -> its DeviceClass: at most two hops
_NAME = re.compile(r"[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?")


def unread_references(workload: Workload) -> list[tuple[str, str]]:
    """(kind, name) of each DRA object extraction could not read."""
    found: list[tuple[str, str]] = []
    for accelerator in workload.accelerators:
        kind, _, name = accelerator.resource.partition(" ")
        # Only names an object can have (not "(inline)": a claim spelled inside the object).
        if kind in _PLURALS and _NAME.fullmatch(name) and (kind, name) not in found:
            found.append((kind, name))
    return found


class DraLookup:
    """Reads DeviceClasses, ResourceClaims and ResourceClaimTemplates on demand, cached."""

    def __init__(
        self, api_client_factory: Callable[[], Any], *, ttl_s: float = 60.0, version: str = "v1"
    ) -> None:
        self._factory = api_client_factory
        self._api: Any = None
        self._ttl_s = ttl_s
        self._version = version
        self._cache: dict[tuple[str, str, str], tuple[float, Mapping[str, Any] | None]] = {}

    def snapshot(self) -> DraObjects:
        now = time.monotonic()
        fresh = [
            obj for at, obj in self._cache.values() if obj is not None and now - at < self._ttl_s
        ]
        return DraObjects.from_objects(fresh)

    async def extract(
        self,
        extract: ExtractWith,
        obj: Mapping[str, Any],
        namespace: str | None,
        *,
        timeout: float,
        run: Callable[..., Awaitable[Workload]] | None = None,
    ) -> Workload:
        """`extract(obj, dra objects)`, re-run once the DRA objects it names are read; `run`
        calls it (the reviewer's off-loop runner for large objects), else it runs inline."""

        async def call() -> Workload:
            snapshot = self.snapshot()
            return await run(extract, obj, snapshot) if run else extract(obj, snapshot)

        workload = await call()
        deadline = time.monotonic() + max(0.0, timeout)
        for _ in range(_ROUNDS):
            missing = [
                ref for ref in unread_references(workload) if not self._known(ref, namespace)
            ]
            if not missing or time.monotonic() >= deadline:
                return workload
            loop = asyncio.get_running_loop()
            try:
                async with asyncio.timeout(max(0.0, deadline - time.monotonic())):
                    await loop.run_in_executor(None, self._fetch_all, missing, namespace)
            except TimeoutError:
                log.warning("DRA lookup timed out", references=missing)
                return workload
            workload = await call()
        return workload

    def _known(self, ref: tuple[str, str], namespace: str | None) -> bool:
        kind, name = ref
        key = (kind, "" if kind == DEVICE_CLASS else namespace or "", name)
        cached = self._cache.get(key)
        return cached is not None and time.monotonic() - cached[0] < self._ttl_s

    def _fetch_all(self, refs: list[tuple[str, str]], namespace: str | None) -> None:
        for kind, name in refs:
            scope = "" if kind == DEVICE_CLASS else namespace or ""
            self._cache[(kind, scope, name)] = (time.monotonic(), self._read(kind, name, scope))

    def _read(self, kind: str, name: str, namespace: str) -> Mapping[str, Any] | None:
        from kubernetes import client
        from kubernetes.client.exceptions import ApiException

        if self._api is None:
            self._api = client.CustomObjectsApi(self._factory())
        try:
            if kind == DEVICE_CLASS:
                found = self._api.get_cluster_custom_object(
                    "resource.k8s.io", self._version, _PLURALS[kind], name, _request_timeout=5
                )
            else:
                found = self._api.get_namespaced_custom_object(
                    "resource.k8s.io",
                    self._version,
                    namespace,
                    _PLURALS[kind],
                    name,
                    _request_timeout=5,
                )
        except ApiException as exc:
            if exc.status != 404:
                log.warning("DRA lookup failed", kind=kind, name=name, status=exc.status)
            return None
        except Exception as exc:  # connection errors: the reference stays unknown
            log.warning("DRA lookup failed", kind=kind, name=name, error=str(exc))
            return None
        return found if isinstance(found, Mapping) else None
