"""The admission listener: TLS over TCP with a connection cap and timeouts a client cannot dodge.

aiohttp's own sites hand TLS to asyncio, which allocates about 300 KB of buffers per connection
(the TLS read buffer is 256 KiB) as soon as a TCP connection is accepted and keeps it through a
60 s handshake timeout, and aiohttp keeps an idle connection for an hour. A few hundred idle or
half-open connections from any pod would then exceed the webhook's memory limit, and with
``failurePolicy: Fail`` that refuses every guarded request in the cluster. So this listener:

* accepts plain TCP and counts every connection from accept to close; past ``max_connections``
  the new socket is reset before any TLS state exists, so the cap bounds TLS memory
  (``max_connections`` x `TLS_CONNECTION_BYTES`, documented in docs/webhook.md);
* upgrades to TLS itself (`loop.start_tls`) with a short handshake timeout, so a half-open
  connection that never says ClientHello is gone after ``handshake_timeout_s``;
* closes a connection that has not delivered a complete first request within
  ``header_timeout_s`` (slow headers); the sessions close one that stays idle
  ``idle_timeout_s`` after its last answer.

After the handshake the connection goes to the protocol agreed over ALPN: HTTP/2
(`http2.Http2Session`, when enabled and offered) or HTTP/1.1 (`http1.Http1Session`); both route
their requests to the same `Dispatch`. Bytes that arrive before the session is attached are
held and replayed in order.

Without a TLS context the listener serves plain HTTP/1.1 with the same cap, header deadline,
idle timeout and graceful stop: the optional probe port (``--probe-listen``), which kubelet's
HTTP probes and Prometheus reach without TLS.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import structlog

from exportgate_webhook.exchange import Dispatch
from exportgate_webhook.http1 import PROTOCOL as HTTP1
from exportgate_webhook.http1 import Http1Limits, Http1Session
from exportgate_webhook.http2 import ALPN as H2
from exportgate_webhook.http2 import Http2Limits, Http2Session

log = structlog.get_logger("exportgate.webhook.listener")

TLS_CONNECTION_BYTES = 320 * 1024
"""What one TLS connection costs the webhook at most while idle: asyncio's 256 KiB TLS read
buffer, OpenSSL's per-connection state and the session. Used to size the cap."""


@dataclass(frozen=True, slots=True)
class ConnectionLimits:
    max_connections: int = 256
    handshake_timeout_s: float = 5.0
    header_timeout_s: float = 10.0
    idle_timeout_s: float = 30.0


class GuardedListener:
    """One listening socket serving HTTP/1.1 (and HTTP/2) within `ConnectionLimits`, over TLS,
    or plain when `ssl_context` is None."""

    def __init__(
        self,
        ssl_context: ssl.SSLContext | None,
        limits: ConnectionLimits,
        *,
        on_refused: Callable[[str], None] = lambda reason: None,
        on_connection: Callable[[str], None] = lambda protocol: None,
    ) -> None:
        self._dispatch: Dispatch | None = None
        self._http1 = Http1Limits()
        self._http2: Http2Limits | None = None
        self._ssl = ssl_context
        self.limits = limits
        self._on_refused = on_refused
        self._on_connection = on_connection
        self.active = 0
        self.served: weakref.WeakSet[Any] = weakref.WeakSet()
        self.sessions: set[Http1Session | Http2Session] = set()
        self._server: asyncio.base_events.Server | None = None

    async def start(
        self,
        dispatch: Dispatch,
        host: str,
        port: int,
        backlog: int = 1024,
        *,
        http1: Http1Limits | None = None,
        http2: Http2Limits | None = None,
    ) -> int:
        """Listen on host:port, routing every request to `dispatch`: over HTTP/1.1 within
        `http1`, and, with `http2`, over HTTP/2 for clients that agree on h2; returns the bound
        port."""
        self._dispatch = dispatch
        self._http1 = http1 or Http1Limits()
        self._http2 = http2
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: _Gate(self), host, port, backlog=backlog, reuse_address=True
        )
        sockets: list[Any] = list(self._server.sockets or [])
        return int(sockets[0].getsockname()[1]) if sockets else port

    async def stop(self, grace_s: float = 5.0) -> None:
        """Stop accepting; connections take no new requests and are closed once the ones in
        progress are answered (within `grace_s`): idle HTTP/1.1 ones at once, busy ones after
        their answer, HTTP/2 ones with GOAWAY."""
        if self._server is not None:
            self._server.close()
            self._server = None
        sessions = list(self.sessions)
        for session in sessions:
            session.go_away()
        await asyncio.gather(*(session.finished(grace_s) for session in sessions))

    def _handler_for(self, tls: asyncio.Transport) -> asyncio.Protocol:
        """The protocol handler the client and we agreed on during the handshake."""
        ssl_object = tls.get_extra_info("ssl_object")
        agreed = ssl_object.selected_alpn_protocol() if ssl_object is not None else None
        assert self._dispatch is not None
        session: Http1Session | Http2Session
        if agreed == H2 and self._http2 is not None:
            session = Http2Session(
                self._dispatch,
                self._http2,
                on_request=self.served.add,
                on_close=self.sessions.discard,
            )
            self._on_connection(H2)
        else:
            session = Http1Session(
                self._dispatch,
                self._http1,
                on_request=self.served.add,
                on_refused=self._on_refused,
                on_close=self.sessions.discard,
            )
            self._on_connection(HTTP1)
        self.sessions.add(session)
        return session

    # -- per connection (called by _Gate) ------------------------------------------------------

    @property
    def plain(self) -> bool:
        return self._ssl is None

    def admit(self) -> bool:
        if self.active >= self.limits.max_connections:
            self._on_refused("connection-cap")
            return False
        self.active += 1
        return True

    def release(self) -> None:
        self.active -= 1

    def attach_plain(self, gate: _Gate, raw: asyncio.Transport) -> None:
        """Plain HTTP: the session takes the TCP transport over at once."""
        app = _Attach(self._handler_for, gate)
        raw.set_protocol(app)
        app.attach(raw)
        asyncio.get_running_loop().call_later(
            self.limits.header_timeout_s, self._header_deadline, raw
        )

    async def upgrade(self, gate: _Gate, raw: asyncio.Transport) -> None:
        loop = asyncio.get_running_loop()
        app = _Attach(self._handler_for, gate)
        assert self._ssl is not None
        try:
            tls = await loop.start_tls(
                raw,
                app,
                self._ssl,
                server_side=True,
                ssl_handshake_timeout=self.limits.handshake_timeout_s,
            )
        except (OSError, ssl.SSLError, TimeoutError, ConnectionError, RuntimeError) as exc:
            self._on_refused("handshake")
            log.debug("TLS handshake failed", error=str(exc) or type(exc).__name__)
            raw.abort()
            gate.closed()
            return
        if not isinstance(tls, asyncio.Transport):  # gone during the handshake
            gate.closed()
            return
        app.attach(tls)
        loop.call_later(self.limits.header_timeout_s, self._header_deadline, tls)

    def _header_deadline(self, tls: asyncio.Transport) -> None:
        if tls.is_closing() or tls in self.served:
            return
        self._on_refused("header-timeout")
        tls.abort()


class _Gate(asyncio.Protocol):
    """The raw TCP side: counts the connection and starts the TLS upgrade."""

    def __init__(self, listener: GuardedListener) -> None:
        self._listener = listener
        self._counted = False
        self._task: asyncio.Task[None] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        raw = transport
        assert isinstance(raw, asyncio.Transport)
        if not self._listener.admit():
            raw.abort()  # before any TLS buffer exists
            return
        self._counted = True
        if self._listener.plain:
            self._listener.attach_plain(self, raw)
            return
        self._task = asyncio.get_running_loop().create_task(self._listener.upgrade(self, raw))

    def connection_lost(self, exc: Exception | None) -> None:
        # Only reached before start_tls takes the transport over (the peer left early).
        self.closed()

    def closed(self) -> None:
        if self._counted:
            self._counted = False
            self._listener.release()


class _Attach(asyncio.Protocol):
    """The protocol handler behind TLS, chosen and attached once the handshake is done."""

    def __init__(
        self, choose: Callable[[asyncio.Transport], asyncio.Protocol], gate: _Gate
    ) -> None:
        self._choose = choose
        self._handler: asyncio.Protocol = asyncio.Protocol()  # replaced in attach
        self._gate = gate
        self._attached = False
        self._early: list[bytes] = []
        self._early_eof = False

    def attach(self, transport: asyncio.Transport) -> None:
        self._handler = self._choose(transport)
        self._attached = True
        self._handler.connection_made(transport)
        for data in self._early:
            self._handler.data_received(data)
        self._early.clear()
        if self._early_eof:
            self._handler.eof_received()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        pass  # start_tls does not call it (call_connection_made=False); see attach

    def data_received(self, data: bytes) -> None:
        if self._attached:
            self._handler.data_received(data)
        else:
            self._early.append(data)

    def eof_received(self) -> bool | None:
        if self._attached:
            return self._handler.eof_received()
        self._early_eof = True
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        self._gate.closed()
        if self._attached:
            with contextlib.suppress(Exception):
                self._handler.connection_lost(exc)

    def pause_writing(self) -> None:
        self._handler.pause_writing()

    def resume_writing(self) -> None:
        self._handler.resume_writing()
