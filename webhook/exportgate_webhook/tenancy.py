"""Which tenant an object belongs to, and who may change that.

A namespaced object belongs to the tenant named by its *namespace's* ``exportgate.dev/tenant``
label; a label on the object itself is ignored, since a tenant may write any label on their own
objects. A cluster-scoped object (a NodePool, a NodeClaim) carries the label itself.

The webhook sees the object under review but not its namespace, so `WatchedNamespaces` keeps a
namespace -> tenant map filled by a background list/watch. A review never blocks on the API
server for long: a namespace missing from the map is read once with a short timeout, and if that
fails the review is refused with a clear message. The API server calls this webhook, so waiting
on the API server inside a review could deadlock the cluster; a bounded read cannot.

The label guard (`tenancy_change_denial`) makes the binding trustworthy: only platform identities
may set, change or remove the label, or touch exportgate.dev resources (Tenant, ExportPolicy).
KYC identities may create and update Tenants (they record verification outcomes) and nothing
else the guard reserves.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import structlog

from exportgate.core.tenancy import API_GROUP as EXPORTGATE_GROUP
from exportgate.core.tenancy import PLATFORM_KINDS, TENANT_LABEL
from exportgate.core.tenancy import tenant_label as tenant_label
from exportgate_webhook.metrics import WebhookMetrics
from exportgate_webhook.review import AdmissionRequest, UserInfo

log = structlog.get_logger("exportgate.webhook.tenancy")

# EXPORTGATE_GROUP, PLATFORM_KINDS and the tenant label live in exportgate.core.tenancy.


class NamespaceLookupError(Exception):
    """The namespace's tenant could not be determined; `problem` is safe to show a tenant."""

    def __init__(self, problem: str) -> None:
        self.problem = problem
        super().__init__(problem)


class NamespaceDirectory(Protocol):
    """namespace -> tenant name ("" when the namespace is not bound to a tenant)."""

    async def tenant_of(self, namespace: str, *, timeout: float) -> str: ...

    def synced(self) -> bool: ...

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


class StaticNamespaces:
    """A fixed map from configuration: for local runs without an API server."""

    def __init__(self, tenants: Mapping[str, str]) -> None:
        self._tenants = dict(tenants)

    async def tenant_of(self, namespace: str, *, timeout: float) -> str:
        return self._tenants.get(namespace, "")

    def synced(self) -> bool:
        return True

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None


# A watch read waits this much longer than the server-side timeout before the client gives up
# on the connection; the connect itself must succeed within _CONNECT_TIMEOUT_S.
_READ_SLACK_S = 30.0
_CONNECT_TIMEOUT_S = 10.0


class WatchedNamespaces:
    """namespace -> tenant from a background list/watch of Namespaces.

    The watch runs in a daemon thread with the synchronous Kubernetes client; the event loop only
    reads the dict (single-key reads and writes are atomic in CPython, and each update replaces a
    whole value), so reviews never wait for the watch.

    A watch connection can die without a FIN or RST (an API server replica lost, a load balancer
    or conntrack entry dropped): the server-side ``timeout_seconds`` then never arrives, and a
    read without a timeout would block for good, freezing the map while the webhook looks
    healthy (red team 3, F6). So each watch read times out on the client after `resync_s` plus
    `_READ_SLACK_S`, and `synced()` turns false when the watch has made no progress (an event, a
    bookmark, a list, a watch the server ended) for `stale_after_s`, so /readyz takes the
    replica out of service instead of letting it decide from an old map.
    """

    def __init__(
        self,
        api_client_factory: Callable[[], Any],
        *,
        metrics: WebhookMetrics,
        resync_s: float = 300.0,
        retry_s: float = 1.0,
        stale_after_s: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._api_client_factory = api_client_factory
        self._metrics = metrics
        self._resync_s = resync_s
        self._retry_s = retry_s
        # Two whole watch rounds, each ended by the server or, at worst, by the read timeout.
        self._stale_after_s = (
            2 * (resync_s + _READ_SLACK_S) if stale_after_s is None else stale_after_s
        )
        self._clock = clock
        self._progress_at = clock()
        self._tenants: dict[str, str] = {}
        self._synced = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._core: Any = None
        self._watch: Any = None

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        from kubernetes import client

        self._core = client.CoreV1Api(self._api_client_factory())
        self._thread = threading.Thread(
            target=self._run, name="exportgate-namespace-watch", daemon=True
        )
        self._thread.start()

    async def stop(self) -> None:
        self._stopping.set()
        watch = self._watch
        if watch is not None:
            watch.stop()
        # The thread is a daemon and ends at its next event or watch timeout; do not block the
        # loop waiting for a long-poll to return.

    def synced(self) -> bool:
        """Listed once, and the watch has made progress recently (see the class docstring)."""
        return self._synced.is_set() and not self.stale()

    def stale(self) -> bool:
        """No watch progress for `stale_after_s`: the map may be missing rebinds."""
        return self._clock() - self._progress_at > self._stale_after_s

    def _progressed(self) -> None:
        self._progress_at = self._clock()

    def wait_synced(self, timeout: float) -> bool:
        return self._synced.wait(timeout)

    # -- lookups ---------------------------------------------------------------------------

    async def tenant_of(self, namespace: str, *, timeout: float) -> str:
        tenant = self._tenants.get(namespace)
        if tenant is not None:
            self._metrics.namespace_lookup("hit")
            return tenant
        # Not seen yet: the namespace was just created, or the watch lags. Read it directly,
        # bounded, in a worker thread (the client is synchronous).
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(timeout):
                tenant = await loop.run_in_executor(None, self._read, namespace, timeout)
        except TimeoutError:
            self._metrics.namespace_lookup("error")
            raise NamespaceLookupError(
                f"reading the namespace from the API server took longer than {timeout:.2f}s"
            ) from None
        except NamespaceLookupError:
            self._metrics.namespace_lookup("error")
            raise
        self._metrics.namespace_lookup("miss")
        return tenant

    def _read(self, namespace: str, timeout: float) -> str:
        from kubernetes.client.exceptions import ApiException

        try:
            found = self._core.read_namespace(namespace, _request_timeout=timeout)
        except ApiException as exc:
            if exc.status == 404:
                raise NamespaceLookupError("the namespace does not exist") from None
            raise NamespaceLookupError(
                f"the API server answered {exc.status} {exc.reason} when reading the namespace"
            ) from None
        except Exception as exc:  # connection errors of urllib3, timeouts
            raise NamespaceLookupError(f"the API server could not be read ({exc})") from None
        tenant = (found.metadata.labels or {}).get(TENANT_LABEL, "")
        self._tenants.setdefault(namespace, tenant)
        return str(tenant)

    # -- the watch thread ------------------------------------------------------------------

    def _run(self) -> None:
        from kubernetes import watch

        while not self._stopping.is_set():
            try:
                resource_version = self._relist()
                while not self._stopping.is_set():
                    self._watch = watch.Watch()  # type: ignore[no-untyped-call]
                    for event in self._watch.stream(
                        self._core.list_namespace,
                        resource_version=resource_version,
                        timeout_seconds=int(self._resync_s),
                        allow_watch_bookmarks=True,
                        # (connect, read): a silently dead connection raises here and the
                        # loop relists, instead of blocking the thread for good.
                        _request_timeout=(_CONNECT_TIMEOUT_S, self._resync_s + _READ_SLACK_S),
                    ):
                        resource_version = self._apply(event) or resource_version
                        if self._stopping.is_set():
                            break
                    else:
                        self._progressed()  # the server ended the watch: the link is alive
            except _Expired:
                continue  # relist immediately from a fresh resourceVersion
            except Exception as exc:
                if self._stopping.is_set():
                    break
                log.warning("namespace watch failed; relisting", error=str(exc))
                self._metrics.namespace_watch_restarts.inc()
                time.sleep(self._retry_s)

    def _relist(self) -> str:
        listing = self._core.list_namespace(_request_timeout=30)
        fresh = {
            item.metadata.name: str((item.metadata.labels or {}).get(TENANT_LABEL, ""))
            for item in listing.items
        }
        # Swap in one assignment: readers see the old map or the new one, never a half.
        self._tenants = fresh
        self._progressed()
        self._synced.set()
        self._metrics.namespaces_cached.set(len(fresh))
        return str(listing.metadata.resource_version)

    def _apply(self, event: Mapping[str, Any]) -> str | None:
        kind = event.get("type")
        obj = event.get("object")
        if kind == "ERROR":
            raw = event.get("raw_object") or {}
            if isinstance(raw, Mapping) and raw.get("code") == 410:
                raise _Expired
            raise RuntimeError(f"watch error: {raw}")
        metadata = getattr(obj, "metadata", None)
        if metadata is None:
            return None
        self._progressed()
        if kind == "BOOKMARK":
            return str(metadata.resource_version)
        name = metadata.name
        if kind == "DELETED":
            self._tenants.pop(name, None)
        else:
            self._tenants[name] = str((metadata.labels or {}).get(TENANT_LABEL, ""))
        self._metrics.namespaces_cached.set(len(self._tenants))
        return str(metadata.resource_version)


class _Expired(Exception):
    """The watch's resourceVersion is too old (410 Gone): list again."""


# --- the label guard ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PlatformIdentities:
    """A set of identities by username or by group: the platform (may bind tenants), or the
    KYC team (may write Tenants)."""

    users: frozenset[str]
    groups: frozenset[str]

    def includes(self, user: UserInfo) -> bool:
        if user["username"] in self.users:
            return True
        return not self.groups.isdisjoint(user.get("groups", ()))


NOBODY = PlatformIdentities(frozenset(), frozenset())

# What KYC identities may do among the reserved writes: record a Tenant's verification.
_KYC_KIND = "Tenant"
_KYC_OPERATIONS = ("CREATE", "UPDATE")


def is_namespace(request: AdmissionRequest) -> bool:
    kind = request["kind"]
    return kind["group"] == "" and kind["kind"] == "Namespace"


def is_cluster_scoped(request: AdmissionRequest) -> bool:
    return not request.get("namespace") or is_namespace(request)


@dataclass(frozen=True, slots=True)
class TenancyChange:
    """A refused attempt to change tenancy; `describe` is the tenant-facing message."""

    what: str
    user: str
    kyc_may: bool = False
    """The KYC team may make this change (a Tenant's create or update), not only the platform."""

    def describe(self) -> str:
        if self.kyc_may:
            return (
                f"exportgate refused this request: {self.what}. Only platform and KYC identities "
                f'may do that, and user "{self.user}" is not one of them. A Tenant records the '
                "verified facts that decide which export controls apply, so your provider's KYC "
                "team writes it; ask them to make the change."
            )
        return (
            f"exportgate refused this request: {self.what}. Only platform identities may do "
            f'that, and user "{self.user}" is not one. Tenancy decides which export controls '
            "apply, so it is set by your platform team; ask them to make the change."
        )


def tenancy_change_denial(
    request: AdmissionRequest,
    platform: PlatformIdentities,
    kyc: PlatformIdentities = NOBODY,
) -> TenancyChange | None:
    """Why this request may not change tenancy, or None when it changes none (or may).

    Subresource writes are judged like writes of the object itself: the request carries the
    whole object, and a Namespace's status and finalize subresources keep its labels as sent.
    """
    user = request["userInfo"]
    if platform.includes(user):
        return None
    kind = request["kind"]
    name = request.get("name", "")
    operation = request["operation"]
    reserved = kind["group"] == EXPORTGATE_GROUP and kind["kind"] in PLATFORM_KINDS
    if reserved and operation in ("CREATE", "UPDATE", "DELETE"):
        kyc_may = kind["kind"] == _KYC_KIND and operation in _KYC_OPERATIONS
        if not (kyc_may and kyc.includes(user)):
            return TenancyChange(
                f"{operation.lower()} of {kind['kind']} {name!r} ({EXPORTGATE_GROUP}) is reserved "
                "to the platform" + (" and the KYC team" if kyc_may else ""),
                user["username"],
                kyc_may=kyc_may,
            )
        # A KYC write of a Tenant: still no tenant label on it (below), like anyone else.
    if operation not in ("CREATE", "UPDATE") or not is_cluster_scoped(request):
        return None
    new = tenant_label(request.get("object"))
    old = tenant_label(request.get("oldObject")) if operation == "UPDATE" else None
    if new == old:
        return None
    subject = f"{kind['kind']} {name!r}" if name else kind["kind"]
    if old is None:
        change = f'setting the label {TENANT_LABEL}="{new}" on {subject}'
    elif new is None:
        change = f'removing the label {TENANT_LABEL}="{old}" from {subject}'
    else:
        change = f'changing the label {TENANT_LABEL} of {subject} from "{old}" to "{new}"'
    return TenancyChange(change, user["username"])
