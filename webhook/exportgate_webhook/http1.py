"""HTTP/1.1 on the admission port: the `httptools` parser (llhttp, Node's) under the listener.

kube-apiserver calls a webhook over HTTP/1.1 unless both sides offer HTTP/2, keeping one
connection per call in flight and reusing it. Each connection here is one `Http1Session`: it
feeds the bytes TLS delivers to llhttp, hands each request to the same `Dispatch` as HTTP/2, and
writes the `Reply` back. It replaced aiohttp's web stack on this port because that stack's
per-request machinery (request and response objects, streams, routing, middleware) cost more
than twice a whole no-op review: a no-op server over TLS spent 0.29-0.33 ms of CPU per request
with it and 0.11-0.15 ms with this shape (bench/NOTES.md, "HTTP/1.1 on llhttp"). Parsing is
llhttp's in C; framing decisions (chunked bodies, keep-alive, request smuggling through
conflicting Content-Length and Transfer-Encoding, which llhttp refuses) are the parser's.

What one connection may cost stays bounded, as `listener.py` and `http2.py` bound theirs:

* the request line and headers of one request: `Http1Limits.max_header_bytes` bytes and
  `max_headers` fields (past either: 431, then closed), arriving within `header_timeout_s`
  of the request's first byte (else the connection is aborted; the listener's own deadline
  covers the first request);
* one request is worked on at a time. Requests a client sends before its previous answer
  (pipelining) are queued in arrival order; once a second one begins, the connection is not
  read from until the queue is empty; at most `max_pipelined` wait (one TLS read could hold
  thousands of tiny ones: past it 429, then closed), holding at most `max_unbudgeted_bytes`
  of body between them (beyond it 413, then closed);
* request bodies: the server's size limit (past it the body is dropped as it arrives and the
  request answered 400) and the shared in-flight byte budget apply; a body held without its
  share of the budget is at most `max_unbudgeted_bytes` (the connection is not read from
  until the request holds its share); a body that has not arrived `body_timeout_s` after its
  reading began is answered 408;
* a connection with no request for `idle_timeout_s` after its last answer is closed;
* a client that stops reading its answers is not read from until it does.

A request that is not HTTP gets 400 and the connection is closed; a request whose body was not
read to its end (refused early, or timed out) is answered and the connection closed, since what
follows on it cannot be framed.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import http
import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import cast

import httptools

from exportgate_webhook.exchange import (
    TEXT,
    BodyTimeout,
    Dispatch,
    Reply,
    RequestGone,
    reply_to,
)
from exportgate_webhook.review import MalformedReview

PROTOCOL = "http/1.1"


@dataclass(frozen=True, slots=True)
class Http1Limits:
    max_header_bytes: int = 16 * 1024
    """Request line plus header fields: the API server sends a few hundred bytes."""

    max_headers: int = 100
    max_pipelined: int = 16
    """Requests queued behind the one in progress (pipelining); past it: 429, then closed."""

    max_body_bytes: int = 8 * 1024 * 1024
    max_unbudgeted_bytes: int = 64 * 1024
    """Body bytes a connection may make the webhook hold before the request holds its share of
    the in-flight budget (the HTTP/1.1 form of HTTP/2's first flow-control window)."""

    header_timeout_s: float = 10.0
    body_timeout_s: float = 10.0
    idle_timeout_s: float = 30.0


class _Request:
    __slots__ = (
        "body",
        "complete",
        "content_length",
        "dispatched",
        "expect_continue",
        "keep_alive",
        "method",
        "path",
        "refusal",
        "url",
        "waiter",
    )

    def __init__(self) -> None:
        self.method = ""
        self.path = ""
        self.url = b""  # the request target as it arrives (possibly in pieces)
        self.content_length: int | None = None
        self.expect_continue = False
        self.body = bytearray()
        self.complete = False
        self.keep_alive = False
        self.dispatched = False
        self.refusal: str | None = None
        """Why the body is refused (over the limit, or malformed framing)."""
        self.waiter: asyncio.Future[None] | None = None
        """Set while the handler waits for the rest of the body."""

    def wake(self) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(None)


class _HeaderLimit(Exception):
    pass


class _PipelineFull(Exception):
    """Raised from a parser callback to stop parsing: the answer is already decided."""


_CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
_STATUS_LINES = {
    status.value: f"HTTP/1.1 {status.value} {status.phrase}\r\n".encode()
    for status in http.HTTPStatus
}


class _Clock:
    """The Date header, formatted once a second (RFC 9110 asks an origin server for one)."""

    second = -1
    text = b""

    @classmethod
    def date(cls) -> bytes:
        now = int(time.time())
        if now != cls.second:
            cls.second = now
            cls.text = email.utils.formatdate(now, usegmt=True).encode()
        return cls.text


class Http1Session(asyncio.Protocol):
    """One HTTP/1.1 connection: llhttp's parser over the listener's TLS transport."""

    def __init__(
        self,
        dispatch: Dispatch,
        limits: Http1Limits,
        *,
        on_refused: Callable[[str], None] = lambda reason: None,
        on_close: Callable[[Http1Session], None] = lambda session: None,
    ) -> None:
        self._dispatch = dispatch
        self.limits = limits
        self.requested = False
        """Whether a complete request header block has arrived (the listener's header deadline)."""
        self._on_refused = on_refused
        self._on_close = on_close
        self._parser = httptools.HttpRequestParser(self)
        self._transport: asyncio.Transport | None = None
        self._loop = asyncio.get_running_loop()
        self._incoming: _Request | None = None  # the request the parser is filling
        self._serving: _Request | None = None  # the request being worked on
        self._queue: deque[_Request] = deque()  # complete header blocks waiting their turn
        self._header_bytes = 0
        self._headers = 0
        self._header_error: Reply | None = None
        self._broken: Reply | None = None  # the answer to bytes that were not HTTP, sent last
        self._discarding = False  # nothing more is parsed on this connection
        self._closing = False  # close once the requests received are answered
        self._stopping = False  # close once the request in progress is answered (drop the queue)
        self._paused = 0  # reasons not to read: bit 1 queue, bit 2 budget, bit 4 writing
        self._task: asyncio.Task[None] | None = None
        self._quiet = asyncio.Event()
        self._quiet.set()
        self._due = math.inf  # when the idle or header timer ends the connection
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = math.inf

    # -- asyncio.Protocol --------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # A stream transport (uvloop's are not asyncio.Transport subclasses, hence the cast).
        self._transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        if self._discarding:
            return
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            # The request is complete; what follows is another protocol, which is not spoken
            # here: it is answered as a plain request and the connection closed after it.
            self._discarding = True
            self._closing = True
        except httptools.HttpParserError as exc:
            self._malformed(exc)

    def eof_received(self) -> bool | None:
        # The client has sent all it will (over TLS, asyncio then closes the transport itself).
        self._closing = True
        if self._idle():
            self._close()
        return None

    def pause_writing(self) -> None:
        self._pause(4)

    def resume_writing(self) -> None:
        self._resume(4)

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None
        self._closing = True
        self._discarding = True
        for request in (self._incoming, self._serving, *self._queue):
            if request is not None:
                request.wake()  # a handler waiting for the body finds the connection gone
        self._queue.clear()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._on_close(self)

    # -- httptools callbacks -----------------------------------------------------------------

    def on_message_begin(self) -> None:
        self._incoming = _Request()
        self._header_bytes = 0
        self._headers = 0
        if self._serving is not None:
            self._pause(1)  # pipelined: read no further until the queue is worked off
        self._set_due(self._loop.time() + self.limits.header_timeout_s)

    def on_url(self, url: bytes) -> None:
        self._count_header_bytes(len(url))
        assert self._incoming is not None
        self._incoming.url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers += 1
        self._count_header_bytes(len(name) + len(value) + 4)
        if self._headers > self.limits.max_headers:
            self._header_error = _refusal(431, f"more than {self.limits.max_headers} header fields")
            raise _HeaderLimit
        request = self._incoming
        assert request is not None
        lower = name.lower()
        if lower == b"content-length":
            # llhttp has checked it (digits only; no second, different one; not with chunked).
            request.content_length = int(value)
        elif lower == b"expect" and value.lower() == b"100-continue":
            request.expect_continue = True

    def on_headers_complete(self) -> None:
        request = self._incoming
        assert request is not None
        request.method = self._parser.get_method().decode("ascii", "replace")
        request.path = request.url.decode("utf-8", "replace")
        request.dispatched = True
        self._set_due(math.inf)  # from here the body has its own deadline
        self.requested = True
        if self._serving is None:
            self._start(request)
        elif len(self._queue) >= self.limits.max_pipelined:
            # One TLS read can hold thousands of tiny requests: the queue is bounded, and the
            # requests before this one are answered, then this refusal, then the connection ends.
            self._broken = _refusal(
                429, f"more than {self.limits.max_pipelined} requests pipelined; send fewer"
            )
            self._incoming = None
            self._discarding = True
            self._closing = True
            self._on_refused("pipeline")
            raise _PipelineFull
        else:
            self._queue.append(request)

    def on_body(self, data: bytes) -> None:
        request = self._incoming
        assert request is not None
        if request.refusal is not None:
            return  # what is refused is never kept
        if len(request.body) + len(data) > self.limits.max_body_bytes:
            request.refusal = f"body exceeds the limit of {self.limits.max_body_bytes} bytes"
            request.body = bytearray()
            request.wake()
            return
        request.body += data
        if request is self._serving:
            if request.waiter is None and len(request.body) > self.limits.max_unbudgeted_bytes:
                self._pause(2)  # not budgeted yet: read on once it is (`_read`)
        elif sum(len(queued.body) for queued in self._queue) > self.limits.max_unbudgeted_bytes:
            # Pipelined bodies beyond what a request may hold unbudgeted: this one is refused
            # after the complete ones before it are answered, and nothing more is read.
            self._queue.remove(request)
            request.body = bytearray()
            self._broken = _refusal(413, "pipelined request bodies exceed the connection's share")
            self._discarding = True
            self._closing = True

    def on_message_complete(self) -> None:
        request = self._incoming
        assert request is not None
        self._incoming = None
        request.complete = True
        request.keep_alive = self._parser.should_keep_alive()
        request.wake()

    # -- requests ----------------------------------------------------------------------------

    def _count_header_bytes(self, size: int) -> None:
        self._header_bytes += size
        if self._header_bytes > self.limits.max_header_bytes:
            self._header_error = _refusal(
                431, f"request line and headers exceed {self.limits.max_header_bytes} bytes"
            )
            raise _HeaderLimit

    def _malformed(self, exc: Exception) -> None:
        """Bytes the parser refused: no more is read; the request they belong to is answered
        (400 or 431), after the requests before it, and the connection closed."""
        self._discarding = True
        self._closing = True
        if isinstance(exc.__context__, _PipelineFull):
            return  # the answer is decided (`on_headers_complete`); nothing more to do
        request = self._incoming
        if request is not None and request.dispatched:
            # The body's framing was wrong (e.g. a bad chunk): its own handler answers 400.
            if request.refusal is None:
                request.refusal = f"malformed request body: {_reason(exc)}"
            request.wake()
            return
        reply = self._header_error or _refusal(400, f"malformed HTTP request: {_reason(exc)}")
        if isinstance(exc.__context__, _HeaderLimit):
            self._on_refused("header-size")
        self._broken = reply
        if self._idle():
            self._finish()

    def _start(self, request: _Request) -> None:
        self._serving = request
        self._quiet.clear()
        self._task = self._loop.create_task(self._serve(request))

    async def _serve(self, request: _Request) -> None:
        reply = await reply_to(
            self._dispatch,
            request.method,
            request.path,
            request.content_length,
            lambda: self._read(request),
            protocol=PROTOCOL,
        )
        self._serving = None
        self._task = None
        if request.complete:
            self._resume(2)  # answered without asking for its body: nothing waits for budget
        if reply is not None and self._transport is not None:
            if not request.complete:
                # Answered before its body was read (refused, or it never came): what follows
                # on this connection cannot be framed.
                self._discarding = True
                self._stopping = True
            if not request.keep_alive:
                self._stopping = True  # HTTP/1.0, or `Connection: close`: it was the last
            close = self._stopping or (self._closing and not self._queue and self._broken is None)
            self._write(reply, request.method, close=close)
        self._next()

    async def _read(self, request: _Request) -> bytes:
        """The body, once the request holds its share of the budget."""
        self._resume(2)  # it holds its share now: read on (whether or not the body is all in)
        if not request.complete and request.refusal is None and self._transport is not None:
            if request.expect_continue and not request.body:
                self._transport.write(_CONTINUE)
            request.waiter = self._loop.create_future()
            try:
                async with asyncio.timeout(self.limits.body_timeout_s):
                    await request.waiter
            except TimeoutError:
                raise BodyTimeout(
                    f"request body did not arrive within {self.limits.body_timeout_s:g}s"
                ) from None
        if request.refusal is not None:
            raise MalformedReview(request.refusal)
        if not request.complete:
            raise RequestGone()
        return bytes(request.body)

    def _next(self) -> None:
        """The request in progress is answered: the next queued one, or wait for one."""
        if self._transport is None:
            self._quiet.set()
            return
        if self._queue and not self._stopping:
            request = self._queue.popleft()
            if not self._queue:
                self._resume(1)  # its body may still be on its way
            self._start(request)
            return
        self._queue.clear()
        self._quiet.set()
        if self._closing or self._stopping or self._broken is not None:
            self._finish()
            return
        self._resume(1 | 2)  # nothing is queued and nothing waits for budget: read the next
        if self._incoming is None:
            self._set_due(self._loop.time() + self.limits.idle_timeout_s)

    def _finish(self) -> None:
        """Send the answer to bytes that were not HTTP, if any, then close."""
        if self._broken is not None and self._transport is not None and not self._stopping:
            self._write(self._broken, "", close=True)
            self._broken = None
        self._close()

    # -- shutting down -----------------------------------------------------------------------

    def go_away(self) -> None:
        """Take no new requests: an idle connection closes now, a busy one after its answer."""
        self._stopping = True
        self._discarding = True
        if self._idle():
            self._close()

    async def finished(self, timeout: float) -> None:
        """Wait (bounded) until no request is being worked on, then close."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                await self._quiet.wait()
        self._close()

    # -- plumbing ----------------------------------------------------------------------------

    def _idle(self) -> bool:
        return self._serving is None and not self._queue

    def _write(self, reply: Reply, method: str, *, close: bool) -> None:
        assert self._transport is not None
        body = reply.body
        head = b"".join(
            (
                _STATUS_LINES.get(reply.status) or f"HTTP/1.1 {reply.status} \r\n".encode(),
                b"content-type: ",
                reply.content_type.encode(),
                b"\r\ncontent-length: ",
                str(len(body)).encode(),
                b"\r\ndate: ",
                _Clock.date(),
                b"\r\nconnection: close\r\n\r\n" if close else b"\r\n\r\n",
            )
        )
        self._transport.write(head if method == "HEAD" else head + body)

    def _pause(self, reason: int) -> None:
        if not self._paused and self._transport is not None:
            self._transport.pause_reading()
        self._paused |= reason

    def _resume(self, reason: int) -> None:
        """Clear the `reason` bits; read again once no reason is left."""
        if not self._paused & reason:
            return
        self._paused &= ~reason
        if not self._paused and self._transport is not None:
            self._transport.resume_reading()

    def _set_due(self, due: float) -> None:
        # One timer per connection, moved lazily: a later deadline only moves `_due` (the timer
        # re-arms itself when it fires early); only an earlier one re-arms it.
        self._due = due
        if due < self._timer_at and self._transport is not None:
            if self._timer is not None:
                self._timer.cancel()
            self._timer = self._loop.call_at(due, self._timer_fired)
            self._timer_at = due

    def _timer_fired(self) -> None:
        self._timer = None
        self._timer_at = math.inf
        if self._transport is None or self._due == math.inf:
            return
        if self._loop.time() < self._due:
            self._timer = self._loop.call_at(self._due, self._timer_fired)
            self._timer_at = self._due
            return
        if self._incoming is not None and not self._incoming.dispatched:
            self._on_refused("header-timeout")
            self._transport.abort()  # a request line or headers that never finish
        elif self._idle():
            self._close()

    def _close(self) -> None:
        if self._transport is not None and not self._transport.is_closing():
            self._transport.close()


def _refusal(status: int, message: str) -> Reply:
    return Reply(status, message.encode() + b"\n", TEXT)


def _reason(exc: Exception) -> str:
    """The parser's words for what was wrong (llhttp names the rule), else the error's type."""
    return str(exc) or type(exc).__name__
