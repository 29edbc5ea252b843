"""The admission listener: TLS over TCP with a connection cap and timeouts a client cannot dodge.

A TLS connection costs the event loop about 300 KB of buffers (the TLS read buffer is 256 KiB)
from the moment its handshake starts. A few hundred idle or half-open connections from any pod
would then exceed the webhook's memory limit, and with ``failurePolicy: Fail`` that refuses
every guarded request in the cluster. So this listener:

* accepts sockets itself and counts every connection from accept to close; past
  ``max_connections`` the new socket is reset before any TLS state exists, so the cap bounds
  TLS memory (``max_connections`` x `TLS_CONNECTION_BYTES`, documented in docs/webhook.md);
* hands each admitted socket to the loop's ``connect_accepted_socket`` with a short handshake
  timeout, so a half-open connection that never says ClientHello is gone after
  ``handshake_timeout_s``;
* closes a connection that has not delivered a complete first request within
  ``header_timeout_s`` (slow headers); the sessions close one that stays idle
  ``idle_timeout_s`` after its last answer.

Accepting and handing over through the loop's public calls (rather than a plain TCP server
whose connections are upgraded with ``start_tls`` later) is what lets it run on uvloop as well
as the stdlib loop: uvloop starts reading a connection as soon as it is accepted, so an upgrade
from a task that runs later would lose the ClientHello.

After the handshake the connection goes to the protocol agreed over ALPN: HTTP/2
(`http2.Http2Session`, when enabled and offered) or HTTP/1.1 (`http1.Http1Session`); both route
their requests to the same `Dispatch`.

With mutual TLS (`clientauth.ClientGate`) the context refuses a caller without an acceptable
client certificate in the handshake, and the gate refuses one naming no allowed identity right
after it, before a session is attached: such a connection never has a request read.

Without a TLS context the listener serves plain HTTP/1.1 with the same cap, header deadline,
idle timeout and graceful stop: the optional probe port (``--probe-listen``), which kubelet's
HTTP probes and Prometheus reach without TLS.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
import struct
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any, cast

import structlog

from exportgate_webhook.clientauth import ClientGate, handshake_refusal
from exportgate_webhook.exchange import Dispatch
from exportgate_webhook.http1 import PROTOCOL as HTTP1
from exportgate_webhook.http1 import Http1Limits, Http1Session
from exportgate_webhook.http2 import ALPN as H2
from exportgate_webhook.http2 import Http2Limits, Http2Session

log = structlog.get_logger("exportgate.webhook.listener")

ACCEPT_RETRY_S = 0.1
"""How long accepting pauses after a failed accept (descriptors or buffers exhausted)."""

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
    or plain when `ssl_context` is None.

    `ssl_context` may be a function giving the context for each new connection (one that is
    replaced on reload, see `tls.ReloadingContext`); `client_gate` turns on the identity check
    and the accounting of mutual TLS (`clientauth`)."""

    def __init__(
        self,
        ssl_context: ssl.SSLContext | Callable[[], ssl.SSLContext] | None,
        limits: ConnectionLimits,
        *,
        on_refused: Callable[[str], None] = lambda reason: None,
        on_connection: Callable[[str], None] = lambda protocol: None,
        client_gate: ClientGate | None = None,
    ) -> None:
        self._dispatch: Dispatch | None = None
        self._http1 = Http1Limits()
        self._http2: Http2Limits | None = None
        self._ssl: Callable[[], ssl.SSLContext] | None
        if isinstance(ssl_context, ssl.SSLContext):
            fixed = ssl_context
            self._ssl = lambda: fixed
        else:
            self._ssl = ssl_context
        self._gate = client_gate
        self.limits = limits
        self._on_refused = on_refused
        self._on_connection = on_connection
        self.active = 0
        self.sessions: set[Http1Session | Http2Session] = set()
        self._sockets: list[socket.socket] = []
        self._tasks: set[asyncio.Task[None]] = set()  # accept loops and handshakes in progress

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
        self._sockets = _listening_sockets(host, port, backlog)
        for listening in self._sockets:
            self._spawn(self._accept(listening))
        return int(self._sockets[0].getsockname()[1])

    async def stop(self, grace_s: float = 5.0) -> None:
        """Stop accepting; connections take no new requests and are closed once the ones in
        progress are answered (within `grace_s`): idle HTTP/1.1 ones at once, busy ones after
        their answer, HTTP/2 ones with GOAWAY."""
        pending = list(self._tasks)  # accept loops, and handshakes not finished yet
        for task in pending:
            task.cancel()
        # They end (and stop polling their sockets) before the listening sockets close, so no
        # loop ever polls a descriptor that was closed and perhaps reused.
        await asyncio.gather(*pending, return_exceptions=True)
        for listening in self._sockets:
            listening.close()
        self._sockets = []
        sessions = list(self.sessions)
        for session in sessions:
            session.go_away()
        await asyncio.gather(*(session.finished(grace_s) for session in sessions))

    def session_for(self, transport: asyncio.Transport) -> Http1Session | Http2Session:
        """The protocol handler the client and we agreed on during the handshake."""
        ssl_object = transport.get_extra_info("ssl_object")
        agreed = ssl_object.selected_alpn_protocol() if ssl_object is not None else None
        assert self._dispatch is not None
        session: Http1Session | Http2Session
        if agreed == H2 and self._http2 is not None:
            session = Http2Session(
                self._dispatch,
                self._http2,
                on_close=self.sessions.discard,
            )
            self._on_connection(H2)
        else:
            session = Http1Session(
                self._dispatch,
                self._http1,
                on_refused=self._on_refused,
                on_close=self.sessions.discard,
            )
            self._on_connection(HTTP1)
        self.sessions.add(session)
        return session

    # -- per connection ------------------------------------------------------------------------

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _accept(self, listening: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        while True:
            try:
                connection, address = await loop.sock_accept(listening)
            except OSError as exc:
                # Out of descriptors or buffers: the kernel's backlog holds the callers while
                # this waits, rather than spinning on a failing accept.
                log.warning("accept failed", error=str(exc) or type(exc).__name__)
                await asyncio.sleep(ACCEPT_RETRY_S)
                continue
            if self.active >= self.limits.max_connections:
                self._on_refused("connection-cap")
                _reset(connection)  # before any TLS buffer exists
                continue
            try:
                connection.setblocking(False)
                connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except OSError:  # the peer is already gone; nothing may end this accept loop
                connection.close()
                continue
            self.active += 1
            self._spawn(self._serve(connection, address))

    async def _serve(self, connection: socket.socket, address: Any = None) -> None:
        """Hand an admitted socket to the loop: after the TLS handshake (or at once, plain) the
        `_Connection` attaches the session and the header deadline starts."""
        loop = asyncio.get_running_loop()
        counted = _Connection(self)
        try:
            if self._ssl is None:
                await loop.connect_accepted_socket(lambda: counted, connection)
            else:
                await loop.connect_accepted_socket(
                    lambda: counted,
                    connection,
                    ssl=self._ssl(),
                    ssl_handshake_timeout=self.limits.handshake_timeout_s,
                )
        except asyncio.CancelledError:  # the listener is stopping: the socket goes with it
            counted.closed()
            connection.close()
            raise
        except Exception as exc:  # whatever ended the handshake, it is refused
            # The loop has closed the socket; the connection never reached a session.
            reason = handshake_refusal(exc) if self._gate is not None else None
            if self._gate is not None and reason is not None:
                self._gate.refused(reason, _peer(address), str(exc) or type(exc).__name__)
            else:
                self._on_refused("handshake")
                log.debug("TLS handshake failed", error=str(exc) or type(exc).__name__)
            counted.closed()

    def refuses(self, transport: asyncio.Transport) -> bool:
        """Whether a connection just past its handshake is refused by the client gate (its
        certificate names no allowed identity); the caller then closes it unread."""
        if self._gate is None:
            return False
        refusal = self._gate.name_refusal(transport.get_extra_info("ssl_object"))
        if refusal is None:
            return False
        reason, detail = refusal
        self._gate.refused(reason, _peer(transport.get_extra_info("peername")), detail)
        return True

    def release(self) -> None:
        self.active -= 1

    def header_deadline(self, transport: asyncio.Transport, counted: _Connection) -> None:
        if transport.is_closing() or counted.requested:
            return
        self._on_refused("header-timeout")
        transport.abort()


def _listening_sockets(host: str, port: int, backlog: int) -> list[socket.socket]:
    """Bound, listening, non-blocking sockets for every address `host` resolves to (as the
    loop's ``create_server`` would bind them)."""
    infos = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    sockets: list[socket.socket] = []
    seen: set[tuple[int, Any]] = set()
    try:
        for family, kind, proto, _, address in infos:
            if (family, address) in seen:
                continue
            seen.add((family, address))
            listening = socket.socket(family, kind, proto)
            sockets.append(listening)
            listening.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                # One socket per family, as create_server binds them.
                listening.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            listening.bind(address)
            listening.listen(backlog)
            listening.setblocking(False)
    except OSError:
        for listening in sockets:
            listening.close()
        raise
    return sockets


def _peer(address: Any) -> str:
    """The peer's IP address (its port changes with every connection), for the refusal log."""
    if isinstance(address, tuple) and address:
        return str(address[0])
    return str(address) if address else "unknown"


def _reset(connection: socket.socket) -> None:
    """Close with a TCP reset (linger 0): the refused client learns at once, and no
    TIME-WAIT or buffers are kept for it."""
    with contextlib.suppress(OSError):
        connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    connection.close()


class _Connection(asyncio.Protocol):
    """One admitted connection as the loop sees it: counted from accept to close; once the
    handshake is done (or at once, plain) it attaches the session chosen for it and forwards
    everything to it."""

    def __init__(self, listener: GuardedListener) -> None:
        self._listener = listener
        self._counted = True
        self._handler: Http1Session | Http2Session | None = None

    @property
    def requested(self) -> bool:
        """Whether the session has received a complete request header block."""
        return self._handler is not None and self._handler.requested

    def closed(self) -> None:
        if self._counted:
            self._counted = False
            self._listener.release()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # A stream transport (uvloop's are not asyncio.Transport subclasses, hence the cast).
        stream = cast(asyncio.Transport, transport)
        if self._listener.refuses(stream):
            stream.abort()  # no session: not a byte of it is read, reviewed or logged
            return
        self._handler = self._listener.session_for(stream)
        self._handler.connection_made(stream)
        asyncio.get_running_loop().call_later(
            self._listener.limits.header_timeout_s, self._listener.header_deadline, stream, self
        )

    def data_received(self, data: bytes) -> None:
        if self._handler is not None:
            self._handler.data_received(data)

    def eof_received(self) -> bool | None:
        if self._handler is not None:
            return self._handler.eof_received()
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed()
        if self._handler is not None:
            with contextlib.suppress(Exception):
                self._handler.connection_lost(exc)

    def pause_writing(self) -> None:
        if self._handler is not None:
            self._handler.pause_writing()

    def resume_writing(self) -> None:
        if self._handler is not None:
            self._handler.resume_writing()
