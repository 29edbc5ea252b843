"""HTTP/1.1 on the admission port (`http1.Http1Session`): framing as the standard says, and
what one connection may cost bounded (header size and time, bodies, pipelining, idle time,
shutdown).

The listener is driven over real TLS with raw bytes, so every framing case is exactly what is
sent; its dispatcher's answers are the test's, so requests can be held open deterministically.
The webhook's own answers over HTTP/1.1 are what every other test in tests/webhook checks.
"""

from __future__ import annotations

import asyncio
import itertools
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

import pytest
from exportgate_webhook.exchange import ReadBody, Reply
from exportgate_webhook.http1 import Http1Limits
from exportgate_webhook.listener import ConnectionLimits, GuardedListener
from exportgate_webhook.review import MalformedReview
from exportgate_webhook.tls import server_context

from tests.cluster.certs import ServingCert
from tests.webhook.conftest import client_context

# The listener and sessions meet the loop here: every test runs on the stdlib loop and on
# uvloop (the webhook's default, exportgate/eventloop.py).
pytestmark = pytest.mark.both_loops


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes


class Conn:
    """A raw HTTP/1.1 client connection over TLS."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def answer(self, *, head: bool = False) -> Answer:
        async with asyncio.timeout(5):
            status_line = await self.reader.readuntil(b"\r\n")
            status = int(status_line.split()[1])
            headers: dict[str, str] = {}
            while (line := await self.reader.readuntil(b"\r\n")) != b"\r\n":
                name, _, value = line.decode().partition(":")
                headers[name.strip().lower()] = value.strip()
            length = 0 if head or status == 100 else int(headers.get("content-length", "0"))
            body = await self.reader.readexactly(length)
        return Answer(status, headers, body)

    async def closed(self, within: float = 3.0) -> bool:
        """The server closed the connection (EOF or reset) within `within` seconds."""
        try:
            async with asyncio.timeout(within):
                while await self.reader.read(4096):
                    pass
                return True
        except ConnectionError:
            return True
        except TimeoutError:
            return False

    def close(self) -> None:
        self.writer.close()


def post(path: str, body: bytes, *extra: str) -> bytes:
    head = [f"POST {path} HTTP/1.1", "Host: webhook", f"Content-Length: {len(body)}", *extra]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


@dataclass
class Served:
    listener: GuardedListener
    port: int
    cert: ServingCert
    gate: asyncio.Event = field(default_factory=asyncio.Event)
    refused: list[str] = field(default_factory=list)
    bodies_read: int = 0

    async def connect(self) -> Conn:
        reader, writer = await asyncio.open_connection(
            "127.0.0.1", self.port, ssl=client_context(self.cert), server_hostname="127.0.0.1"
        )
        return Conn(reader, writer)


Serve = Callable[..., Awaitable[Served]]


@pytest.fixture
async def serve(serving_cert: ServingCert) -> AsyncIterator[Serve]:
    """`await serve(limits[, connection_limits])`: a listener whose dispatcher echoes bodies
    (``/echo``), holds requests until the gate opens (``/slow``) or answers without reading
    (``/ignore``); stopped after the test."""
    opened: list[Served] = []

    async def start(
        limits: Http1Limits | None = None, connection: ConnectionLimits | None = None
    ) -> Served:
        served: Served

        async def dispatch(method: str, path: str, length: int | None, read: ReadBody) -> Reply:
            if path == "/slow":
                await served.gate.wait()
                return Reply(200, b"slow\n", "text/plain")
            if path == "/ignore":
                return Reply(403, b"not read\n", "text/plain")
            try:
                body = await read()
            except MalformedReview as exc:
                return Reply(400, exc.reason.encode(), "text/plain")
            served.bodies_read += 1
            return Reply(200, f"{method} {path} ".encode() + body, "text/plain")

        listener = GuardedListener(
            server_context(serving_cert.cert_path, serving_cert.key_path),
            connection or ConnectionLimits(),
            on_refused=lambda reason: served.refused.append(reason),
        )
        port = await listener.start(dispatch, "127.0.0.1", 0, http1=limits or Http1Limits())
        served = Served(listener, port, serving_cert)
        opened.append(served)
        return served

    yield start
    for served in opened:
        served.gate.set()
        await served.listener.stop(grace_s=1.0)


async def test_keep_alive_answers_in_order_on_one_connection(serve: Serve) -> None:
    served = await serve()
    conn = await served.connect()
    for i in range(3):
        await conn.send(post("/echo?timeout=10s", f"body {i}".encode()))
        answer = await conn.answer()
        assert answer.status == 200 and answer.body == f"POST /echo?timeout=10s body {i}".encode()
        assert answer.headers["content-type"] == "text/plain"
        assert "date" in answer.headers and "connection" not in answer.headers
    assert len(served.listener.sessions) == 1
    conn.close()


async def test_pipelined_requests_are_answered_in_order(serve: Serve) -> None:
    served = await serve()
    conn = await served.connect()
    await conn.send(post("/slow", b"") + post("/echo", b"second") + post("/echo", b"third"))
    await asyncio.sleep(0.1)
    assert served.bodies_read == 0  # nothing after the held request was worked on yet
    served.gate.set()
    assert (await conn.answer()).body == b"slow\n"
    assert (await conn.answer()).body == b"POST /echo second"
    assert (await conn.answer()).body == b"POST /echo third"
    conn.close()


async def test_connection_close_and_http10_end_the_connection_after_the_answer(
    serve: Serve,
) -> None:
    served = await serve()
    conn = await served.connect()
    await conn.send(post("/echo", b"last", "Connection: close") + post("/echo", b"never"))
    answer = await conn.answer()
    assert answer.body == b"POST /echo last" and answer.headers["connection"] == "close"
    assert await conn.closed()
    old = await served.connect()
    await old.send(b"POST /echo HTTP/1.0\r\nContent-Length: 2\r\n\r\nhi")
    assert (await old.answer()).body == b"POST /echo hi"
    assert await old.closed()
    assert served.bodies_read == 2


async def test_chunked_bodies_and_expect_continue(serve: Serve) -> None:
    served = await serve()
    conn = await served.connect()
    await conn.send(
        b"POST /echo HTTP/1.1\r\nHost: w\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"
    )
    assert (await conn.answer()).body == b"POST /echo hello world"
    await conn.send(
        b"POST /echo HTTP/1.1\r\nHost: w\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n"
    )
    assert (await conn.answer()).status == 100  # asked for once the body is read
    await conn.send(b"body")
    assert (await conn.answer()).body == b"POST /echo body"
    conn.close()


@pytest.mark.parametrize(
    "raw",
    [
        b"\x00\x01garbage\r\n\r\n",
        b"POST /echo HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
        # Request smuggling: a length and chunked framing at once.
        b"POST /echo HTTP/1.1\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        b"POST /echo HTTP/1.1\r\nContent-Length: -1\r\n\r\n",
        b"POST /echo HTTP/1.1\r\nBad Header\r\n\r\n",
    ],
    ids=["not-http", "two-lengths", "length-and-chunked", "negative-length", "no-colon"],
)
async def test_what_is_not_http_gets_400_and_the_connection_closes(
    serve: Serve, raw: bytes
) -> None:
    served = await serve()
    conn = await served.connect()
    await conn.send(raw)
    answer = await conn.answer()
    assert answer.status == 400 and answer.body.startswith(b"malformed HTTP request: ")
    assert answer.headers["connection"] == "close"
    assert await conn.closed()
    assert served.bodies_read == 0


async def test_a_bad_chunk_is_answered_by_the_request_it_belongs_to(serve: Serve) -> None:
    served = await serve()
    conn = await served.connect()
    await conn.send(b"POST /echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n")
    answer = await conn.answer()
    assert answer.status == 400 and answer.body.startswith(b"malformed request body: ")
    assert await conn.closed()


async def test_header_limits_get_431(serve: Serve) -> None:
    served = await serve(Http1Limits(max_header_bytes=1024, max_headers=10))
    big = await served.connect()
    await big.send(post("/echo", b"x", "X-Pad: " + "p" * 2000))
    answer = await big.answer()
    assert answer.status == 431 and b"exceed 1024 bytes" in answer.body
    assert await big.closed()
    many = await served.connect()
    await many.send(post("/echo", b"x", *(f"X-{i}: v" for i in range(12))))
    answer = await many.answer()
    assert answer.status == 431 and b"more than 10 header fields" in answer.body
    assert await many.closed()
    assert served.refused.count("header-size") == 2


async def test_bodies_over_the_limit_are_refused_without_keeping_them(serve: Serve) -> None:
    served = await serve(Http1Limits(max_body_bytes=1000))
    chunked = await served.connect()
    chunk = b"400\r\n" + b"y" * 0x400 + b"\r\n"
    await chunked.send(b"POST /echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n" + chunk * 3)
    answer = await chunked.answer()
    assert answer.status == 400 and answer.body == b"body exceeds the limit of 1000 bytes"
    assert answer.headers["connection"] == "close"  # the rest of that body is never framed
    assert await chunked.closed()
    # Answered without reading (here a refusal on its path): closed after the answer.
    ignored = await served.connect()
    await ignored.send(b"POST /ignore HTTP/1.1\r\nContent-Length: 100000\r\n\r\n" + b"z" * 10)
    answer = await ignored.answer()
    assert answer.status == 403 and answer.headers["connection"] == "close"
    assert await ignored.closed()


async def test_a_body_that_does_not_arrive_gets_408(serve: Serve) -> None:
    served = await serve(Http1Limits(body_timeout_s=0.3))
    conn = await served.connect()
    await conn.send(b"POST /echo HTTP/1.1\r\nContent-Length: 100\r\n\r\n" + b"a" * 10)
    answer = await conn.answer()
    assert answer.status == 408 and b"did not arrive within 0.3s" in answer.body
    assert await conn.closed()


async def test_slow_headers_on_a_kept_alive_connection_are_cut(serve: Serve) -> None:
    served = await serve(Http1Limits(header_timeout_s=0.3))
    conn = await served.connect()
    await conn.send(post("/echo", b"first"))
    assert (await conn.answer()).status == 200
    await conn.send(b"POST /echo HTTP/1.1\r\nHost: x\r\n")  # and then nothing
    assert await conn.closed(within=2.0)
    assert "header-timeout" in served.refused


async def test_an_idle_connection_is_closed(serve: Serve) -> None:
    served = await serve(Http1Limits(idle_timeout_s=0.3))
    conn = await served.connect()
    await conn.send(post("/echo", b"once"))
    assert (await conn.answer()).status == 200
    assert await conn.closed(within=2.0)
    async with asyncio.timeout(2):  # the TLS shutdown ends before the session is forgotten
        while served.listener.sessions:
            await asyncio.sleep(0.02)


async def test_pipelined_bodies_beyond_the_unbudgeted_share_are_refused(serve: Serve) -> None:
    served = await serve(Http1Limits(max_unbudgeted_bytes=1000))
    conn = await served.connect()
    await conn.send(post("/slow", b"") + post("/echo", b"small") + post("/echo", b"b" * 2000))
    served.gate.set()
    assert (await conn.answer()).body == b"slow\n"
    assert (await conn.answer()).body == b"POST /echo small"
    refused = await conn.answer()
    assert refused.status == 413 and refused.headers["connection"] == "close"
    assert await conn.closed()


async def test_an_unbudgeted_body_is_not_read_past_its_share(serve: Serve) -> None:
    """A request whose handler has not asked for its body yet (it waits for budget) makes the
    connection hold at most `max_unbudgeted_bytes` of it: reading pauses."""
    served = await serve(Http1Limits(max_unbudgeted_bytes=4096))
    conn = await served.connect()
    conn.writer.write(b"POST /slow HTTP/1.1\r\nContent-Length: 4000000\r\n\r\n")
    conn.writer.write(b"q" * 4_000_000)
    await asyncio.sleep(0.3)
    (session,) = served.listener.sessions
    assert session._serving is not None
    # Held by the session: at most one TLS read past the share (asyncio reads 256 KiB at most).
    assert len(session._serving.body) < 4096 + 256 * 1024
    conn.writer.transport.abort()


async def test_head_and_shutdown(serve: Serve) -> None:
    served = await serve()
    busy = await served.connect()
    idle = await served.connect()
    await idle.send(b"HEAD /echo HTTP/1.1\r\nHost: w\r\n\r\n")
    head = await idle.answer(head=True)
    assert head.status == 200 and head.headers["content-length"] == str(len(b"HEAD /echo "))
    await busy.send(post("/slow", b""))
    await asyncio.sleep(0.1)
    stopping = asyncio.create_task(served.listener.stop(grace_s=3.0))
    assert await idle.closed(within=1.0)  # idle: closed at once
    assert not stopping.done()  # the held request is still being worked on
    served.gate.set()
    answer = await busy.answer()
    assert answer.body == b"slow\n" and answer.headers["connection"] == "close"
    await stopping
    assert await busy.closed()


async def test_an_upgrade_request_is_answered_plainly_and_the_connection_closed(
    serve: Serve,
) -> None:
    served = await serve()
    conn = await served.connect()
    await conn.send(
        b"POST /echo HTTP/1.1\r\nHost: w\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n"
        b"Content-Length: 2\r\n\r\nhi" + b"\x00\x00\x12\x04 not HTTP any more"
    )
    answer = await conn.answer()
    assert answer.status == 200 and answer.headers["connection"] == "close"
    assert await conn.closed()


async def test_a_pipelined_request_whose_body_is_still_coming_is_read_in_its_turn(
    serve: Serve,
) -> None:
    served = await serve()
    conn = await served.connect()
    await conn.send(post("/slow", b"") + b"POST /echo HTTP/1.1\r\nContent-Length: 6\r\n\r\nhal")
    await asyncio.sleep(0.1)
    served.gate.set()
    assert (await conn.answer()).body == b"slow\n"
    await conn.send(b"ves")
    assert (await conn.answer()).body == b"POST /echo halves"
    conn.close()


async def test_answers_do_not_depend_on_how_the_bytes_are_split(serve: Serve) -> None:
    """TLS delivers a stream in whatever pieces the client's writes and records make: every
    split of the same pipelined requests (chunked framing included) gets the same answers."""
    served = await serve()
    stream = (
        post("/echo", b"one")
        + b"POST /echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\ntwo\r\n0\r\n\r\n"
        + post("/echo?x=%C3%A9", "thr\u00e9e".encode(), "X-Long: " + "l" * 300)
    )
    expected = [b"POST /echo one", b"POST /echo two", "POST /echo?x=%C3%A9 thr\u00e9e".encode()]
    rng = random.Random(20261130)
    for _ in range(25):
        cuts = sorted(rng.sample(range(1, len(stream)), rng.randint(1, 12)))
        conn = await served.connect()
        for start, end in itertools.pairwise([0, *cuts, len(stream)]):
            await conn.send(stream[start:end])
            await asyncio.sleep(0)
        assert [(await conn.answer()).body for _ in expected] == expected
        conn.close()


async def test_mangled_requests_are_answered_or_closed_and_the_server_carries_on(
    serve: Serve,
) -> None:
    """Requests with bytes flipped, cut or repeated: each connection gets answers or a 4xx and
    is closed within the deadlines (idle, header or body), and a good request on a new
    connection is answered after."""
    served = await serve(Http1Limits(header_timeout_s=0.5, body_timeout_s=0.5, idle_timeout_s=0.5))
    base = post("/echo", b'{"apiVersion": "admission.k8s.io/v1"}', "Content-Type: x")
    rng = random.Random(7)
    for _ in range(30):
        mangled = bytearray(base * 2)
        for _ in range(rng.randint(1, 6)):
            at = rng.randrange(len(mangled))
            choice = rng.random()
            if choice < 0.4:
                mangled[at] = rng.randrange(256)
            elif choice < 0.7:
                del mangled[at : at + rng.randint(1, 20)]
            else:
                mangled[at:at] = mangled[at : at + rng.randint(1, 20)]
        conn = await served.connect()
        await conn.send(bytes(mangled))
        try:
            async with asyncio.timeout(3):
                while True:
                    answer = await conn.answer()
                    assert answer.status in (200, 400, 404, 408, 413, 431), answer
        except (asyncio.IncompleteReadError, ConnectionError):
            pass  # closed by the server: what was not HTTP ends the connection
        conn.close()
    good = await served.connect()
    await good.send(post("/echo", b"fine"))
    assert (await good.answer()).body == b"POST /echo fine"


async def test_a_large_body_that_arrives_whole_leaves_the_connection_readable(
    serve: Serve,
) -> None:
    """Past the unbudgeted share, reading pauses until the handler asks for the body; when the
    whole body came with the headers, the next request on the connection is still read (the
    API server reuses its connections)."""
    served = await serve(Http1Limits(max_unbudgeted_bytes=1024))
    conn = await served.connect()
    for i in range(3):
        await conn.send(post("/echo", b"%d" % i + b"b" * 5000))
        answer = await conn.answer()
        assert answer.status == 200 and len(answer.body) == len(b"POST /echo 0") + 5000
    conn.close()


async def test_a_large_body_answered_unread_leaves_the_connection_readable(serve: Serve) -> None:
    """A request answered without its body being asked for (here a refusal on its path) whose
    body had nevertheless all arrived: the connection stays usable for the next request."""
    served = await serve(Http1Limits(max_unbudgeted_bytes=1024))
    conn = await served.connect()
    await conn.send(post("/ignore", b"n" * 5000))
    answer = await conn.answer()
    assert answer.status == 403 and "connection" not in answer.headers
    await conn.send(post("/echo", b"after"))
    assert (await conn.answer()).body == b"POST /echo after"
    conn.close()


async def test_pipelined_requests_past_the_queue_bound_get_429(serve: Serve) -> None:
    """One TLS read can carry thousands of tiny requests: those within `max_pipelined` are
    answered in order, the next gets 429, and the connection ends (the rest are never read)."""
    served = await serve(Http1Limits(max_pipelined=4))
    conn = await served.connect()
    tiny = b"GET /echo HTTP/1.1\r\nHost: w\r\n\r\n"
    await conn.send(post("/slow", b"") + tiny * 2000)
    await asyncio.sleep(0.1)
    (session,) = served.listener.sessions
    assert len(session._queue) == 4
    served.gate.set()
    assert (await conn.answer()).body == b"slow\n"
    for _ in range(4):
        assert (await conn.answer()).body == b"GET /echo "
    refused = await conn.answer()
    assert refused.status == 429 and refused.headers["connection"] == "close"
    assert b"more than 4 requests pipelined" in refused.body
    assert await conn.closed()
    assert "pipeline" in served.refused
