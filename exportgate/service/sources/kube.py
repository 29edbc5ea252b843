"""Tenants and policies from the Kubernetes API: list, then watch, per custom resource.

Tenant and ExportPolicy (``exportgate.dev/v1alpha1``, cluster-scoped) are each followed by one
thread running the classic informer loop with the `kubernetes` client:

1. list every object (paginated) and remember the list's resourceVersion;
2. watch from that resourceVersion, with bookmarks, applying ADDED/MODIFIED/DELETED events;
3. when a watch ends (server timeout, dropped connection) watch again from the last
   resourceVersion seen; only when the server answers 410 Gone (that version was compacted away)
   list again from scratch.

API errors back off exponentially; the last good objects keep serving meanwhile. An object that
does not parse is reported (with its name and resourceVersion) and treated by the one last-good
rule (`exportgate.world.lastgood`): an ExportPolicy keeps its last good version (dropping it
would loosen the rules); a Tenant becomes invalid and is denied with the reason, never served
from a superseded version.

The threads only keep a dictionary of parsed objects and wake the event loop; an async task
hands the loader a copy. Bursts of events therefore coalesce into one snapshot rebuild.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import structlog
from kubernetes import client as k8s_client
from kubernetes import watch as k8s_watch
from kubernetes.client.exceptions import ApiException

from exportgate.core.policy import parse_policy_document
from exportgate.core.tenancy import API_GROUP, API_VERSION
from exportgate.core.tenants import parse_tenant
from exportgate.kubeapi import new_api_client
from exportgate.service.config import ConfigError
from exportgate.world.lastgood import Reading, RecordKind, read
from exportgate.world.loader import SnapshotLoader
from exportgate.world.snapshot import TenantRecord

log = structlog.get_logger("exportgate.sidecar.kube")

GROUP, VERSION = API_GROUP, API_VERSION.removeprefix(f"{API_GROUP}/")
LIST_PAGE_SIZE = 500
HTTP_GONE = 410


@dataclass(frozen=True, slots=True)
class Resource:
    kind: RecordKind
    plural: str
    parse: Callable[[Mapping[str, Any], str], Any]


TENANTS = Resource(RecordKind.TENANT, "tenants", parse_tenant)
POLICIES = Resource(RecordKind.POLICY, "exportpolicies", parse_policy_document)


def kube_api_client(kubeconfig: Path | None = None) -> Any:
    """`api_client`, with failures turned into a `ConfigError` that says what to do."""
    if kubeconfig is not None and not kubeconfig.is_file():
        raise ConfigError(
            f"{kubeconfig}: no such kubeconfig file; fix --kubeconfig, or leave it out to use "
            "the pod's service account"
        )
    try:
        return new_api_client(kubeconfig)
    except Exception as exc:  # the client's loaders raise YAML, config and OS errors alike
        where = str(kubeconfig) if kubeconfig else "in-cluster config, $KUBECONFIG, ~/.kube/config"
        raise ConfigError(
            f"cannot configure the Kubernetes client from {where}: {exc}; run in a pod with a "
            "service account, or give --kubeconfig FILE"
        ) from exc


# What to do about the API errors a sidecar meets in practice (logged with every retry).
_API_ERROR_HINTS = {
    401: "the credentials were rejected; check the service account token or --kubeconfig",
    403: "grant get/list/watch on tenants and exportpolicies in exportgate.dev "
    "(ClusterRole exportgate-policy-reader)",
    404: "the exportgate CRDs are not installed (operator/crds/*.yaml, or the Helm chart)",
}


class ResourceWatcher:
    """Keeps `objects` (name -> parsed) in step with one resource; runs in its own thread."""

    def __init__(
        self,
        resource: Resource,
        api: Any,
        *,
        notify: Callable[[], None],
        watch_timeout: int,
        backoff: float,
        backoff_max: float,
    ) -> None:
        self.resource = resource
        self._api = k8s_client.CustomObjectsApi(api)
        self._notify = notify
        self._watch_timeout = watch_timeout
        self._backoff = backoff
        self._backoff_max = backoff_max
        self._lock = threading.Lock()
        self._objects: dict[str, Reading[Any]] = {}
        self._versions: dict[str, str] = {}  # object name -> resourceVersion last read
        self._synced = False
        self._stop = threading.Event()
        self._watch: k8s_watch.Watch | None = None
        self.thread = threading.Thread(
            target=self._run, name=f"watch-{resource.plural}", daemon=True
        )

    def snapshot(self) -> tuple[bool, dict[str, Any], dict[str, str], dict[str, str]]:
        """(listed at least once, served objects, errors, unusable) as of now, copied under the
        lock; `unusable` maps the names whose current version is not served and has no
        replacement (an invalid Tenant) to the parse error."""
        with self._lock:
            readings = dict(self._objects)
            versions = dict(self._versions)
        served = {name: r.served for name, r in readings.items() if r.served is not None}
        unusable = {
            name: f"{r.error} (resourceVersion {versions.get(name)})"
            for name, r in readings.items()
            if r.error and r.served is None
        }
        errors = {
            name: (
                f"{unusable[name]}; this tenant is denied until it is fixed"
                if name in unusable and self.resource.kind is RecordKind.TENANT
                else r.refusal(f" (resourceVersion {versions.get(name)})") or ""
            )
            for name, r in readings.items()
            if r.error
        }
        return self._synced, served, errors, unusable

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self._stop.set()
        w = self._watch
        if w is not None:
            w.stop()  # type: ignore[no-untyped-call]
            # Watch.stop() only takes effect at the next event; closing the open response
            # (a private attribute of the client's Watch) ends a quiet watch right away.
            resp = getattr(w, "_resp", None)
            if resp is not None:
                with contextlib.suppress(Exception):
                    resp.close()

    # -- the informer loop (thread) ----------------------------------------------------------

    def _run(self) -> None:
        delay = self._backoff
        resource_version: str | None = None
        while not self._stop.is_set():
            try:
                if resource_version is None:
                    resource_version = self._list()
                resource_version = self._watch_from(resource_version)
                delay = self._backoff
            except ApiException as exc:
                if exc.status == HTTP_GONE:
                    log.info("watch expired, listing again", kind=self.resource.kind.value)
                    resource_version = None
                    continue
                hint = _API_ERROR_HINTS.get(exc.status or 0)
                what = f"API error {exc.status} {exc.reason}" + (f": {hint}" if hint else "")
                self._fail(what, delay)
                delay = min(delay * 2, self._backoff_max)
            except Exception as exc:
                if self._stop.is_set():
                    break
                self._fail(f"{type(exc).__name__}: {exc}", delay)
                delay = min(delay * 2, self._backoff_max)

    def _fail(self, what: str, delay: float) -> None:
        log.warning(
            "cannot read custom resources; serving the last good ones",
            kind=self.resource.kind.value,
            error=what,
            retry_in=delay,
        )
        self._stop.wait(delay)

    def _list(self) -> str:
        items: list[Mapping[str, Any]] = []
        token: str | None = None
        while True:
            kwargs: dict[str, Any] = {"limit": LIST_PAGE_SIZE}
            if token:
                kwargs["_continue"] = token
            page = cast(
                dict[str, Any],
                self._api.list_cluster_custom_object(
                    GROUP, VERSION, self.resource.plural, **kwargs
                ),
            )
            items += page.get("items") or []
            metadata = page.get("metadata") or {}
            token = metadata.get("continue")
            if not token:
                resource_version = str(metadata.get("resourceVersion") or "")
                break
        with self._lock:
            previous = self._objects
            self._objects = {}
            self._versions = {}
            for obj in items:
                self._apply_locked(obj, previous)
            self._synced = True
        log.info(
            "listed custom resources",
            kind=self.resource.kind.value,
            count=len(items),
            resource_version=resource_version,
        )
        self._notify()
        return resource_version

    def _watch_from(self, resource_version: str) -> str:
        w = k8s_watch.Watch()  # type: ignore[no-untyped-call]
        self._watch = w
        try:
            for event in w.stream(  # type: ignore[no-untyped-call]
                self._api.list_cluster_custom_object,
                GROUP,
                VERSION,
                self.resource.plural,
                resource_version=resource_version,
                allow_watch_bookmarks=True,
                timeout_seconds=self._watch_timeout,
                # The socket must not wait much longer than the server-side timeout: a silently
                # dead connection would otherwise hold the watch forever.
                _request_timeout=self._watch_timeout + 30,
            ):
                kind = event.get("type")
                obj = event.get("object") or {}
                if kind == "BOOKMARK":
                    pass
                elif kind in ("ADDED", "MODIFIED"):
                    with self._lock:
                        self._apply_locked(obj, self._objects)
                    self._notify()
                elif kind == "DELETED":
                    name = str((obj.get("metadata") or {}).get("name") or "")
                    with self._lock:
                        self._objects.pop(name, None)
                        self._versions.pop(name, None)
                    self._notify()
                if self._stop.is_set():
                    break
            return str(w.resource_version or resource_version)
        finally:
            self._watch = None

    def _apply_locked(self, obj: Mapping[str, Any], previous: Mapping[str, Reading[Any]]) -> None:
        metadata = obj.get("metadata") or {}
        name = str(metadata.get("name") or "")
        where = f"{self.resource.kind.value}/{name}"
        reading = read(
            self.resource.kind, lambda: self.resource.parse(obj, where), previous.get(name)
        )
        self._objects[name] = reading
        self._versions[name] = str(metadata.get("resourceVersion"))


class KubeSource:
    """Feeds the loader from the Tenant and ExportPolicy custom resources until cancelled."""

    def __init__(
        self,
        loader: SnapshotLoader,
        api: Any,
        *,
        watch_timeout: int = 300,
        backoff: float = 1.0,
        backoff_max: float = 30.0,
    ) -> None:
        self._loader = loader
        self._api = api
        self._watch_timeout = watch_timeout
        self._backoff = backoff
        self._backoff_max = backoff_max
        self._reported: set[str] = set()

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        wake = {TENANTS.kind: asyncio.Event(), POLICIES.kind: asyncio.Event()}

        def notifier(kind: RecordKind) -> Callable[[], None]:
            def notify() -> None:
                # Called from a watcher thread; the loop may already be closing on shutdown.
                with contextlib.suppress(RuntimeError):
                    loop.call_soon_threadsafe(wake[kind].set)

            return notify

        watchers = {
            r.kind: ResourceWatcher(
                r,
                self._api,
                notify=notifier(r.kind),
                watch_timeout=self._watch_timeout,
                backoff=self._backoff,
                backoff_max=self._backoff_max,
            )
            for r in (TENANTS, POLICIES)
        }
        for w in watchers.values():
            w.start()
        try:
            await asyncio.gather(
                self._forward(watchers[POLICIES.kind], wake[POLICIES.kind]),
                self._forward(watchers[TENANTS.kind], wake[TENANTS.kind]),
            )
        finally:
            for w in watchers.values():
                w.stop()
            await asyncio.to_thread(_join_all, [w.thread for w in watchers.values()], 5.0)

    async def _forward(self, watcher: ResourceWatcher, wake: asyncio.Event) -> None:
        while True:
            await wake.wait()
            wake.clear()
            synced, objects, errors, unusable = watcher.snapshot()
            if not synced:
                continue
            self._publish_errors(watcher.resource.kind.value, errors)
            if watcher.resource is TENANTS:
                await self._loader.set_tenants(
                    [TenantRecord(t, f"Tenant/{name}") for name, t in sorted(objects.items())],
                    origin="kube:tenants",
                    invalid=unusable,
                )
            else:
                await self._loader.set_policies(
                    [objects[name] for name in sorted(objects)], origin="kube:policies"
                )

    def _publish_errors(self, kind: str, errors: Mapping[str, str]) -> None:
        now = {f"{kind}/{name}": message for name, message in errors.items()}
        mine = {o for o in self._reported if o.startswith(f"{kind}/")}
        for origin in mine - now.keys():
            self._loader.clear_error(origin)
            self._reported.discard(origin)
        for origin, message in now.items():
            self._loader.report_error(origin, message)
            self._reported.add(origin)


def _join_all(threads: list[threading.Thread], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    for t in threads:
        t.join(max(0.0, deadline - time.monotonic()))
