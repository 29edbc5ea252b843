"""The HTTPS server: /validate, /mutate, /healthz, /readyz, /metrics.

`http1.Http1Session` (HTTP/1.1) and `http2.Http2Session` (HTTP/2, when enabled and the client
agrees on it over ALPN) on one event loop with keep-alive (the API server reuses connections), one
TLS context that reloads its certificate in place (`tls.ReloadingContext`), and the policy service
(embedded, or the sidecar over gRPC). Both protocols reach the same `dispatch`, so a review is
answered the same way whichever carried it; the optional plain-HTTP probe port is served the same
way, probes only. With mutual TLS (`--client-ca`) only a caller presenting an acceptable client
certificate reaches either protocol (`clientauth`); kubelet's probes then need the probe port.
The HTTPS port is served by `listener.GuardedListener` (connection cap, handshake, header and idle
timeouts); request bodies share one in-flight byte budget; large bodies
are parsed and extracted off the loop (`admission.Offload`), so no request holds the loop that
serves the others for longer than a small slice. Every request that is not a usable AdmissionReview
gets a 400 with the reason; every review that fails for any other reason is answered by the
reviewer's fail-closed path, so no exception can turn into an allow or a dropped connection.
"""

from __future__ import annotations

import asyncio
import json
import ssl
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import structlog

from exportgate.core.limits import INLINE_BODY_BYTES
from exportgate.service.local import LocalPolicyClient
from exportgate.wire.client import PolicyClient, PolicyUnavailable
from exportgate_webhook.admission import AdmissionReviewer, Offload, Outcome
from exportgate_webhook.clientauth import ClientGate
from exportgate_webhook.config import WebhookConfig
from exportgate_webhook.exchange import TEXT, ReadBody, Reply
from exportgate_webhook.http1 import Http1Limits
from exportgate_webhook.http2 import Http2Limits
from exportgate_webhook.listener import ConnectionLimits, GuardedListener
from exportgate_webhook.metrics import CONTENT_TYPE, WebhookMetrics
from exportgate_webhook.review import AdmissionRequest, MalformedReview, encode, parse_review
from exportgate_webhook.tenancy import NamespaceDirectory
from exportgate_webhook.tls import ReloadingContext

log = structlog.get_logger("exportgate.webhook")

#: Beyond the reviewer's own budget, the time an answer may take before the server answers the
#: fail-closed way itself. Only a bug (or a starved CPU) ever reaches it.
_SAFETY_MARGIN_S = 0.25
_READY_CACHE_S = 1.0

Review = Callable[[AdmissionRequest], Awaitable[Outcome]]
Fallback = Callable[[AdmissionRequest, str], Outcome]


def _status_body(code: int, reason: str, message: str) -> bytes:
    """A metav1.Status, which Kubernetes clients know how to print."""
    return json.dumps(
        {
            "kind": "Status",
            "apiVersion": "v1",
            "status": "Failure",
            "code": code,
            "reason": reason,
            "message": message,
        }
    ).encode()


_BUSY = Reply(
    429,
    _status_body(
        429,
        "TooManyRequests",
        "exportgate is reading too many large requests at once; retry shortly",
    ),
)
"""No room in the in-flight body budget within the review budget: 429, which the API server
treats as a webhook failure (fail closed) and which says to retry."""

#: The admission endpoints, by path (the API server adds a ``?timeout=`` query).
_ENDPOINTS = {"/validate": "validate", "/mutate": "mutate"}


#: Connections the plain-HTTP probe port serves at once (kubelet and a metrics scraper).
_PROBE_CONNECTIONS = 64


class _ByteBudget:
    """Bytes of request bodies being read at once; `acquire` waits (bounded) for room."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.available = total
        self._changed = asyncio.Event()

    def try_acquire(self, size: int) -> bool:
        """`acquire` when there is room now (no waiting, and no coroutine on the hot path)."""
        size = min(size, self.total)
        if self.available < size:
            return False
        self.available -= size
        return True

    async def acquire(self, size: int, timeout: float) -> bool:
        size = min(size, self.total)
        deadline = asyncio.get_running_loop().time() + timeout
        while self.available < size:
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                return False
            self._changed.clear()
            try:
                async with asyncio.timeout(remaining):
                    await self._changed.wait()
            except TimeoutError:
                return False
        self.available -= size
        return True

    def release(self, size: int) -> None:
        self.available += min(size, self.total)
        self._changed.set()


@dataclass
class _Readiness:
    ready: bool = False
    detail: str = "not checked yet"
    checked_at: float = float("-inf")


class WebhookServer:
    def __init__(
        self,
        config: WebhookConfig,
        *,
        reviewer: AdmissionReviewer,
        sidecar: PolicyClient | LocalPolicyClient,
        namespaces: NamespaceDirectory,
        metrics: WebhookMetrics,
    ) -> None:
        self.config = config
        self.reviewer = reviewer
        self.sidecar = sidecar
        self.namespaces = namespaces
        self.metrics = metrics
        self.tls: ReloadingContext | None = None
        self._listeners: list[GuardedListener] = []
        self._body_budget = _ByteBudget(config.listen.inflight_body_bytes)
        self._readiness = _Readiness()
        self._ready_lock = asyncio.Lock()
        self.port: int | None = None
        self.probe_port: int | None = None
        # The probe routes of both protocols (the admission ones are `_ENDPOINTS`).
        self._probes: dict[str, Callable[[], Awaitable[Reply]]] = {
            "/healthz": self.healthz,
            "/readyz": self.readyz,
            "/metrics": self.metrics_reply,
        }

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        listen = self.config.listen
        tls = self.config.tls
        client_auth = tls.client_auth
        self.tls = ReloadingContext(
            tls.cert_file,
            tls.key_file,
            interval_s=tls.reload_interval_s,
            metrics=self.metrics,
            http2=listen.http2,
            client_ca=client_auth.ca_file if client_auth is not None else None,
        )
        await self.sidecar.start()  # the embedded policy service opens its log here
        await self.namespaces.start()
        if client_auth is None:
            self.port = await self._serve_guarded(self.tls.context)
        else:
            # The context is replaced when the client CA bundle changes: ask for it per
            # connection.
            reloading = self.tls
            gate = ClientGate(client_auth.names, self.metrics.client_auth())
            self.port = await self._serve_guarded(lambda: reloading.context, gate)
        if listen.probe_host is not None:
            self.probe_port = await self._serve_probes(listen.probe_host, listen.probe_port)
        self.tls.start()
        extra: dict[str, object] = {}
        if client_auth is not None:
            extra["client_ca"] = str(client_auth.ca_file)
            extra["client_names"] = sorted(client_auth.names) or "any the CA signed"
            if listen.probe_host is None:
                log.warning(
                    "client certificates are required on the HTTPS port, probes included: "
                    "kubelet's probes carry none, so serve them with --probe-listen"
                )
        log.info(
            "listening",
            address=f"{listen.host}:{self.port}",
            probes=f"{listen.probe_host}:{self.probe_port}" if self.probe_port else None,
            sidecar=self.sidecar.target,
            mutate=self.config.guard.mutate,
            budget_s=self.config.sidecar.budget_s,
            **extra,
        )

    async def _serve_guarded(
        self,
        context: ssl.SSLContext | Callable[[], ssl.SSLContext],
        gate: ClientGate | None = None,
    ) -> int:
        listen = self.config.listen
        limits = ConnectionLimits(
            max_connections=listen.max_connections,
            handshake_timeout_s=listen.handshake_timeout_s,
            header_timeout_s=listen.header_timeout_s,
            idle_timeout_s=listen.idle_timeout_s,
        )
        refused = self.metrics.connections_refused
        listener = GuardedListener(
            context,
            limits,
            on_refused=lambda reason: refused.labels(reason).inc(),
            on_connection=self.metrics.connection_opened,
            client_gate=gate,
        )
        self._listeners.append(listener)
        http1 = self._http1_limits(max_body_bytes=listen.max_body_bytes)
        http2 = (
            Http2Limits(
                max_streams=listen.max_streams,
                max_body_bytes=listen.max_body_bytes,
                body_timeout_s=listen.header_timeout_s,
                idle_timeout_s=listen.idle_timeout_s,
            )
            if listen.http2
            else None
        )
        return await listener.start(
            self.dispatch, listen.host, listen.port, http1=http1, http2=http2
        )

    async def _serve_probes(self, host: str, port: int) -> int:
        """The plain-HTTP probe port: the probes only, with the HTTPS port's timeouts."""
        listen = self.config.listen
        listener = GuardedListener(
            None,
            ConnectionLimits(
                max_connections=_PROBE_CONNECTIONS,
                header_timeout_s=listen.header_timeout_s,
                idle_timeout_s=listen.idle_timeout_s,
            ),
        )
        self._listeners.append(listener)
        limits = self._http1_limits(max_body_bytes=0)  # probes carry no body
        return await listener.start(self.probe_dispatch, host, port, http1=limits)

    def _http1_limits(self, *, max_body_bytes: int) -> Http1Limits:
        """HTTP/1.1 within the configured deadlines (a body gets as long as the headers)."""
        listen = self.config.listen
        return Http1Limits(
            max_body_bytes=max_body_bytes,
            header_timeout_s=listen.header_timeout_s,
            body_timeout_s=listen.header_timeout_s,
            idle_timeout_s=listen.idle_timeout_s,
        )

    async def stop(self) -> None:
        for listener in self._listeners:
            await listener.stop()  # stops accepting, lets the requests in progress finish
        self._listeners.clear()
        if self.tls is not None:
            await self.tls.stop()
        await self.namespaces.stop()
        await self.sidecar.close()
        self.reviewer.offload.close()

    # -- admission -------------------------------------------------------------------------

    async def dispatch(
        self, method: str, path: str, content_length: int | None, read: ReadBody
    ) -> Reply:
        """Route one request of the HTTPS port, whichever protocol carried it."""
        path = path.split("?", 1)[0]
        endpoint = _ENDPOINTS.get(path)
        if endpoint is not None:
            if method != "POST":
                return Reply(405, _status_body(405, "MethodNotAllowed", f"{path} takes POST"))
            return await self.answer(endpoint, content_length, read)
        return await self._probe(method, path, "/validate and /mutate")

    async def probe_dispatch(
        self, method: str, path: str, content_length: int | None, read: ReadBody
    ) -> Reply:
        """Route one request of the plain-HTTP probe port: probes only."""
        return await self._probe(method, path.split("?", 1)[0], "probes only")

    async def _probe(self, method: str, path: str, served: str) -> Reply:
        probe = self._probes.get(path)
        if probe is not None:
            if method not in ("GET", "HEAD"):  # HEAD: the protocol sends the headers only
                return Reply(405, _status_body(405, "MethodNotAllowed", f"{path} takes GET"))
            return await probe()
        return Reply(
            404,
            _status_body(
                404, "NotFound", f"no such path {path!r}: exportgate serves {served} here"
            ),
        )

    async def answer(self, endpoint: str, content_length: int | None, read: ReadBody) -> Reply:
        """One admission request, whichever protocol carried it: the body is read within the
        size limit and the shared byte budget, parsed, reviewed within the time budget, and
        answered; a request that is not a usable AdmissionReview gets a 400 saying why."""
        review: Review
        fallback: Fallback
        if endpoint == "validate":
            review, fallback = self.reviewer.validate, self.reviewer.validate_failed
        else:
            review, fallback = self.reviewer.mutate, self.reviewer.mutate_failed
        started = time.perf_counter()
        limit = self.config.listen.max_body_bytes
        try:
            if content_length is not None and content_length > limit:
                raise MalformedReview(
                    f"body of {content_length} bytes exceeds the limit of {limit} bytes"
                )
            size = content_length if content_length is not None else limit
            budget = self._body_budget
            if not budget.try_acquire(size) and not await budget.acquire(
                size, self.reviewer.budget_s
            ):
                self.metrics.connections_refused.labels("body-budget").inc()
                return _BUSY
            try:
                body = await read()
                if len(body) > INLINE_BODY_BYTES:
                    # Parsing a large body takes longer than the loop's slice: off the loop.
                    request = await self.reviewer.offload.run(parse_review, body)
                else:
                    request = parse_review(body)
            finally:
                self._body_budget.release(size)
        except MalformedReview as exc:
            self.metrics.malformed.labels(endpoint).inc()
            log.info("malformed admission review", endpoint=endpoint, reason=exc.reason)
            return Reply(
                400, _status_body(400, "BadRequest", f"malformed AdmissionReview: {exc.reason}")
            )
        try:
            async with asyncio.timeout(self.reviewer.budget_s + _SAFETY_MARGIN_S):
                token = Offload.body_bytes.set(len(body))
                try:
                    outcome = await review(request)
                finally:
                    Offload.body_bytes.reset(token)
        except TimeoutError:
            log.error("review overran its budget", endpoint=endpoint, uid=request["uid"])
            outcome = fallback(request, "exportgate did not finish within its time budget")
        except Exception:
            log.exception("review failed", endpoint=endpoint, uid=request["uid"])
            outcome = fallback(request, "exportgate hit an internal error")
        self.metrics.observe(
            endpoint,
            request["kind"]["kind"],
            request["operation"],
            outcome.decision,
            time.perf_counter() - started,
        )
        return Reply(200, encode(outcome.response))

    # -- probes ----------------------------------------------------------------------------

    async def healthz(self) -> Reply:
        return Reply(200, b"ok\n", TEXT)

    async def readyz(self) -> Reply:
        ready, detail = await self.readiness()
        return Reply(200 if ready else 503, detail.encode() + b"\n", TEXT)

    async def metrics_reply(self) -> Reply:
        return Reply(200, self.metrics.exposition(), CONTENT_TYPE)

    async def readiness(self) -> tuple[bool, str]:
        """Ready when the policy service answers Status and can decide (health SERVING), and
        the namespace cache is filled."""
        async with self._ready_lock:
            state = self._readiness
            now = time.monotonic()
            if now - state.checked_at < _READY_CACHE_S:
                return state.ready, state.detail
            if not self.namespaces.synced():
                state.ready, state.detail = (
                    False,
                    ("namespace cache not synced, or its watch made no progress lately"),
                )
            else:
                try:
                    status = await self.sidecar.status(timeout=self.config.sidecar.ready_timeout_s)
                    await self._sidecar_serving()
                except PolicyUnavailable as exc:
                    state.ready, state.detail = False, f"policy sidecar: {exc.describe()}"
                else:
                    state.ready = True
                    state.detail = (
                        f"ok: policy {status.policy_version}, {status.tenants} tenants, "
                        f"{status.policies} policies"
                    )
            state.checked_at = time.monotonic()
            return state.ready, state.detail

    async def _sidecar_serving(self) -> None:
        """Raise unless the sidecar's health says SERVING.

        The sidecar answers `Status` while it cannot decide (its decision log is not writable);
        only its health service says so, and nothing else takes the pod out of rotation then.
        (Embedded, `LocalPolicyClient.status` itself refuses in that state.)"""
        if not isinstance(self.sidecar, PolicyClient):
            return
        health = await self.sidecar.health(timeout=self.config.sidecar.ready_timeout_s)
        if health != "SERVING":
            raise PolicyUnavailable(
                f"the policy sidecar reports {health}: it cannot decide now (e.g. its decision "
                "log is not writable; see its log)",
                kind="unavailable",
            )
