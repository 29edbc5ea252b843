"""HTTP/2 on the admission port (ALPN "h2"), beside HTTP/1.1 (`http1.py`).

Opt-in (``--http2``). kube-apiserver's webhook client speaks HTTP/2 to a webhook that offers it
over ALPN and then multiplexes its calls over one connection per API server, where over HTTP/1.1
it keeps one connection per call in flight. It is off by default: on the bench machine the
pure-Python protocol cost the webhook 0.2-0.5 ms more CPU per review, which raised latency at
low load, while at 32 concurrent admissions it gave more throughput (bench/NOTES.md, "HTTP/2").
The protocol itself is the `h2` library's (a sans-I/O state machine: framing, HPACK, flow
control, stream states, SETTINGS and PING); this module connects it to the listener's TLS
transport and to the same request handling as HTTP/1.1 (`Dispatch`), so a review is answered the
same way whichever protocol carried it.

What one connection may cost stays bounded, as `http1.py` bounds HTTP/1.1:

* at most `Http2Limits.max_streams` requests are worked on at once per connection, advertised as
  SETTINGS_MAX_CONCURRENT_STREAMS. A stream the client resets keeps its place until its review
  finishes (the answer is then dropped), so resetting streams and opening new ones (the "rapid
  reset" attack, CVE-2023-44487) cannot start more work than that: a new stream over the limit
  is refused (RST_STREAM REFUSED_STREAM), and a client that has reset more than `max_resets`
  streams, more than it let finish, is sent GOAWAY ENHANCE_YOUR_CALM and disconnected;
* header blocks are limited by SETTINGS_MAX_HEADER_LIST_SIZE (a larger one ends the connection);
* request bodies: the server's size limit and its shared in-flight byte budget apply as on
  HTTP/1.1, and a body longer than its declared content-length is refused. A request's data is
  acknowledged (its flow-control window reopened) only once the request holds its share of the
  budget, so what a connection can make the webhook hold without budget is one flow-control
  window (64 KiB) for the whole connection;
* a body that has not ended `body_timeout_s` after the request began is answered 408;
* a connection with no open stream for `idle_timeout_s` is closed with GOAWAY, and the
  listener's header deadline closes one whose first request never arrives;
* a client that stops reading its answers is not read from until it does (the transport's
  write buffer high-water mark), so answers cannot pile up in memory whatever windows it grants.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import cast

import h2.config
import h2.connection
import h2.errors
import h2.events
import h2.exceptions
import h2.settings
import structlog

from exportgate_webhook.exchange import (
    BodyTimeout,
    Dispatch,
    Reply,
    RequestGone,
    reply_to,
)
from exportgate_webhook.review import MalformedReview

log = structlog.get_logger("exportgate.webhook.http2")

ALPN = "h2"


@dataclass(frozen=True, slots=True)
class Http2Limits:
    max_streams: int = 100
    """Requests worked on at once per connection (reset ones included until they finish)."""

    max_header_bytes: int = 16 * 1024
    """SETTINGS_MAX_HEADER_LIST_SIZE: the API server sends a few hundred bytes of headers."""

    max_body_bytes: int = 8 * 1024 * 1024
    body_timeout_s: float = 10.0
    idle_timeout_s: float = 30.0
    max_resets: int = 200
    """Streams a client may reset before resets outnumbering finished requests disconnect it."""


@dataclass(eq=False)
class _Stream:
    id: int
    method: str
    path: str
    content_length: int | None
    body: bytearray = field(default_factory=bytearray)
    ended: asyncio.Event = field(default_factory=asyncio.Event)
    budgeted: bool = False
    """The request holds its share of the body budget: its data is acknowledged as it comes."""
    unacknowledged: int = 0
    refusal: str | None = None
    """Why the body is refused (over the limit, or longer than its content-length)."""
    reset: bool = False
    done: bool = False
    """Its handler has finished (the stream stays known while its answer is being sent)."""
    outgoing: bytes = b""
    """Response bytes waiting for the client's flow-control window."""


class Http2Session(asyncio.Protocol):
    """One HTTP/2 connection: the `h2` state machine over the listener's TLS transport."""

    def __init__(
        self,
        dispatch: Dispatch,
        limits: Http2Limits,
        *,
        on_close: Callable[[Http2Session], None] = lambda session: None,
    ) -> None:
        self._dispatch = dispatch
        self.limits = limits
        self.requested = False
        """Whether a complete request header block has arrived (the listener's header deadline)."""
        self._on_close = on_close
        # Header validation and normalisation off: they were a third of h2's CPU per request
        # (bench/NOTES.md, "HTTP/2"), and the webhook reads only :method, :path and
        # content-length, forwards no header anywhere, and bounds the body itself (`_data`).
        # Framing, HPACK, flow control, stream states and the content-length check are h2's.
        config = h2.config.H2Configuration(
            client_side=False,
            header_encoding=None,
            validate_inbound_headers=False,
            normalize_inbound_headers=False,
            validate_outbound_headers=False,
            normalize_outbound_headers=False,
        )
        self._h2 = h2.connection.H2Connection(config=config)
        self._transport: asyncio.Transport | None = None
        self._streams: dict[int, _Stream] = {}
        self._working = 0  # handlers running, reset streams included
        self._finished = 0
        self._resets = 0
        self._closing = False
        self._idle: asyncio.TimerHandle | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._quiet = asyncio.Event()
        self._quiet.set()

    # -- asyncio.Protocol --------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # A stream transport (uvloop's are not asyncio.Transport subclasses, hence the cast).
        self._transport = cast(asyncio.Transport, transport)
        self._h2.local_settings = h2.settings.Settings(
            client=False,
            initial_values={
                h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS: self.limits.max_streams,
                h2.settings.SettingCodes.MAX_HEADER_LIST_SIZE: self.limits.max_header_bytes,
                h2.settings.SettingCodes.ENABLE_PUSH: 0,
            },
        )
        # h2 applies a header-list limit only when a changed setting is acknowledged; the one
        # advertised from the start is set on the HPACK decoder here (a larger block is then a
        # connection error: GOAWAY, closed).
        self._h2.decoder.max_header_list_size = self.limits.max_header_bytes
        self._h2.initiate_connection()
        self._flush()
        self._arm_idle()

    def data_received(self, data: bytes) -> None:
        try:
            events = self._h2.receive_data(data)
        except h2.exceptions.ProtocolError as exc:
            # h2 has queued the GOAWAY that says why; send it, then hang up.
            log.info("HTTP/2 protocol error; closing the connection", error=str(exc))
            self._flush()
            self._close()
            return
        for event in events:
            if isinstance(event, h2.events.RequestReceived):
                self._request(event)
            elif isinstance(event, h2.events.DataReceived):
                self._data(event)
            elif isinstance(event, h2.events.StreamEnded):
                stream = self._streams.get(event.stream_id)
                if stream is not None:
                    stream.ended.set()
            elif isinstance(event, h2.events.StreamReset):
                self._stream_reset(event)
            elif isinstance(event, h2.events.WindowUpdated):
                self._window_opened(event.stream_id)
            elif isinstance(event, h2.events.ConnectionTerminated):
                self._flush()
                self._close()
                return
        self._flush()

    def pause_writing(self) -> None:
        # The client is not reading its answers (its flow-control windows may be huge): read no
        # more requests from it until it does, so answers cannot pile up in our write buffer.
        if self._transport is not None:
            self._transport.pause_reading()

    def resume_writing(self) -> None:
        if self._transport is not None:
            self._transport.resume_reading()

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None
        self._closing = True
        for stream in self._streams.values():
            stream.reset = True
            stream.ended.set()  # a reader waiting for the body finds it incomplete
        if self._idle is not None:
            self._idle.cancel()
        self._on_close(self)

    # -- shutting down -----------------------------------------------------------------------

    def go_away(self) -> None:
        """Take no new streams: they are refused (REFUSED_STREAM, which a client retries on
        another connection); once the open ones are answered, send GOAWAY and close. (`h2`
        sends nothing more after its GOAWAY, so that comes last.)"""
        if self._closing or self._transport is None:
            return
        self._closing = True
        self._close_when_done()

    async def finished(self, timeout: float) -> None:
        """Wait (bounded) until no request is being worked on, then close."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                await self._quiet.wait()
        self._goodbye()

    def _close_when_done(self) -> None:
        if self._closing and not self._streams and self._working == 0:
            self._goodbye()

    def _goodbye(self, code: h2.errors.ErrorCodes = h2.errors.ErrorCodes.NO_ERROR) -> None:
        self._closing = True
        with contextlib.suppress(h2.exceptions.ProtocolError):
            self._h2.close_connection(code)
        self._flush()
        self._close()

    # -- requests ----------------------------------------------------------------------------

    def _request(self, event: h2.events.RequestReceived) -> None:
        sid = event.stream_id
        if self._closing or self._working >= self.limits.max_streams:
            self._refuse(sid, h2.errors.ErrorCodes.REFUSED_STREAM)
            return
        # Names and values stay bytes; only three are read. h2 checks content-length itself
        # (digits only, and the data must match it, or the connection ends).
        headers = dict(event.headers or ())
        length_text = headers.get(b"content-length")
        length = int(length_text) if length_text is not None and length_text.isdigit() else None
        method = headers.get(b":method", b"").decode("ascii", "replace")
        path = headers.get(b":path", b"").decode("utf-8", "replace")
        stream = _Stream(sid, method, path, length)
        self._streams[sid] = stream
        if event.stream_ended is not None:
            stream.ended.set()
        self.requested = True
        if self._idle is not None:
            self._idle.cancel()
            self._idle = None
        self._working += 1
        self._quiet.clear()
        task = asyncio.get_running_loop().create_task(self._serve(stream))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _data(self, event: h2.events.DataReceived) -> None:
        stream = self._streams.get(event.stream_id)
        size = event.flow_controlled_length or 0
        if stream is None or stream.reset:
            self._acknowledge(event.stream_id, size)
            return
        data = event.data or b""
        received = len(stream.body) + len(data)
        if stream.refusal is None and received > self.limits.max_body_bytes:
            stream.refusal = f"body exceeds the limit of {self.limits.max_body_bytes} bytes"
        elif stream.refusal is None and (
            stream.content_length is not None and received > stream.content_length
        ):
            # The budget was taken for the declared length: more is never read.
            stream.refusal = f"body is longer than its content-length of {stream.content_length}"
        if stream.refusal is not None:
            stream.body.clear()  # what is refused is never kept
            self._acknowledge(event.stream_id, size)
            return
        stream.body += data
        if stream.budgeted:
            self._acknowledge(event.stream_id, size)
        else:
            stream.unacknowledged += size

    async def _read(self, stream: _Stream) -> bytes:
        """The body, once the request holds its budget: reopen its window and wait for the end."""
        stream.budgeted = True
        if stream.unacknowledged:
            self._acknowledge(stream.id, stream.unacknowledged)
            stream.unacknowledged = 0
            self._flush()
        try:
            async with asyncio.timeout(self.limits.body_timeout_s):
                await stream.ended.wait()
        except TimeoutError:
            raise BodyTimeout(
                f"request body did not arrive within {self.limits.body_timeout_s:g}s"
            ) from None
        if stream.refusal is not None:
            raise MalformedReview(stream.refusal)
        if stream.reset:
            raise RequestGone()
        return bytes(stream.body)

    async def _serve(self, stream: _Stream) -> None:
        try:
            reply = await reply_to(
                self._dispatch,
                stream.method,
                stream.path,
                stream.content_length,
                lambda: self._read(stream),
                protocol=ALPN,
            )
        finally:
            self._working -= 1
            self._finished += 1
            stream.done = True
        if reply is not None and not stream.reset and self._transport is not None:
            self._respond(stream, reply)
        else:
            self._forget(stream)
        if self._working == 0:
            self._quiet.set()
            self._close_when_done()
            if not self._closing:
                self._arm_idle()

    def _respond(self, stream: _Stream, reply: Reply) -> None:
        headers = [
            (":status", str(reply.status)),
            ("content-type", reply.content_type),
            ("content-length", str(len(reply.body))),
        ]
        try:
            self._h2.send_headers(stream.id, headers, end_stream=not reply.body)
        except h2.exceptions.ProtocolError:  # the stream closed meanwhile (reset, GOAWAY)
            self._forget(stream)
            return
        stream.outgoing = reply.body
        self._send_pending(stream)
        self._flush()

    def _send_pending(self, stream: _Stream) -> None:
        """Send what the client's flow-control windows allow; the rest waits for WINDOW_UPDATE."""
        try:
            while stream.outgoing:
                window = min(
                    self._h2.local_flow_control_window(stream.id), self._h2.max_outbound_frame_size
                )
                if window <= 0:
                    return
                chunk, stream.outgoing = stream.outgoing[:window], stream.outgoing[window:]
                self._h2.send_data(stream.id, chunk, end_stream=not stream.outgoing)
        except h2.exceptions.ProtocolError:
            pass  # the stream closed meanwhile: nothing more to send
        self._forget(stream)

    def _window_opened(self, stream_id: int) -> None:
        # A connection-level update (stream 0) may unblock any stream.
        waiting = (
            [s for s in self._streams.values() if s.outgoing]
            if stream_id == 0
            else [s for s in (self._streams.get(stream_id),) if s is not None and s.outgoing]
        )
        for stream in waiting:
            self._send_pending(stream)

    def _stream_reset(self, event: h2.events.StreamReset) -> None:
        stream = self._streams.get(event.stream_id)
        if stream is not None:
            stream.reset = True
            stream.outgoing = b""
            stream.ended.set()
            if stream.done:  # else its handler forgets it when it finishes
                self._forget(stream)
        if event.remote_reset:
            self._resets += 1
            if self._resets > self.limits.max_resets and self._resets > self._finished:
                log.warning(
                    "HTTP/2 client resets more streams than it lets finish; disconnecting",
                    resets=self._resets,
                    finished=self._finished,
                )
                self._goodbye(h2.errors.ErrorCodes.ENHANCE_YOUR_CALM)

    # -- plumbing ----------------------------------------------------------------------------

    def _forget(self, stream: _Stream) -> None:
        if not stream.outgoing:
            self._streams.pop(stream.id, None)
            if stream.unacknowledged:  # never budgeted: give the connection window back
                self._acknowledge(stream.id, stream.unacknowledged)
                stream.unacknowledged = 0
            if stream.done:
                self._close_when_done()

    def _refuse(self, stream_id: int, code: h2.errors.ErrorCodes) -> None:
        with contextlib.suppress(h2.exceptions.ProtocolError):
            self._h2.reset_stream(stream_id, code)

    def _acknowledge(self, stream_id: int, size: int) -> None:
        if size:
            with contextlib.suppress(h2.exceptions.ProtocolError):
                self._h2.acknowledge_received_data(size, stream_id)

    def _flush(self) -> None:
        data = self._h2.data_to_send()
        if data and self._transport is not None and not self._transport.is_closing():
            self._transport.write(data)

    def _arm_idle(self) -> None:
        if self._idle is not None:
            self._idle.cancel()
        if self._transport is not None:
            loop = asyncio.get_running_loop()
            self._idle = loop.call_later(self.limits.idle_timeout_s, self._idle_due)

    def _idle_due(self) -> None:
        self._idle = None
        if not self._streams and self._working == 0 and self._transport is not None:
            self._goodbye()

    def _close(self) -> None:
        if self._transport is not None and not self._transport.is_closing():
            self._transport.close()
