"""HTTP/2 on the admission port: reviews, probes and refusals answered as over HTTP/1.1, and
what one connection may cost bounded (streams, resets, bodies, idle time, shutdown).

The first half drives the real webhook (both homes of the policy service, conftest) with an
HTTP/2 client over real TLS; the second half drives the listener with a dispatcher whose
answers the test controls, so that streams can be held open and reset deterministically.
tests/webhook/test_cluster_e2e.py shows the real kube-apiserver choosing HTTP/2.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

import h2.errors
import pytest
from exportgate_webhook.exchange import ReadBody, Reply
from exportgate_webhook.http2 import Http2Limits
from exportgate_webhook.listener import ConnectionLimits, GuardedListener
from exportgate_webhook.review import MalformedReview
from exportgate_webhook.tls import server_context

from tests.cluster.certs import ServingCert
from tests.webhook.conftest import Webhook, client_context
from tests.webhook.h2client import Answer, H2Client
from tests.webhook.helpers import ACME_NS, NIMBUS_NS, gpu_pod, review_for

# The listener and sessions meet the loop here: every test runs on the stdlib loop and on
# uvloop (the webhook's default, exportgate/eventloop.py).
pytestmark = pytest.mark.both_loops

# -- the webhook over HTTP/2 ------------------------------------------------------------------


@pytest.fixture
async def h2c(webhook: Webhook, serving_cert: ServingCert) -> AsyncIterator[H2Client]:
    assert webhook.server.port is not None
    client = await H2Client.connect(webhook.server.port, client_context(serving_cert))
    try:
        yield client
    finally:
        await client.close()


def _body(obj: dict[str, object]) -> bytes:
    return json.dumps(obj).encode()


async def test_a_review_over_h2_is_answered_as_over_http1(webhook: Webhook, h2c: H2Client) -> None:
    for pod, allowed in ((gpu_pod("h", NIMBUS_NS), False), (gpu_pod("t", ACME_NS), True)):
        review = review_for(pod)
        answer = await h2c.request("/validate?timeout=10s", _body(review))
        assert answer.status == 200 and answer.headers["content-type"] == "application/json"
        over_h2 = json.loads(answer.body)["response"]
        review["request"]["uid"] += "-http1"
        over_http1 = await webhook.review("/validate", review)
        assert over_h2["allowed"] is over_http1["allowed"] is allowed
        status_h2, status_http1 = over_h2.get("status", {}), over_http1.get("status", {})
        assert status_h2.get("code") == status_http1.get("code")
        assert status_h2.get("reason") == status_http1.get("reason")
        for key in ("decision", "rule", "tenant"):
            assert over_h2["auditAnnotations"].get(key) == over_http1["auditAnnotations"].get(key)
        webhook.logged_decision(over_h2["auditAnnotations"]["decision-id"])  # durably logged
    assert webhook.metrics.connections.labels("h2")._value.get() == 1


async def test_concurrent_reviews_share_one_connection(webhook: Webhook, h2c: H2Client) -> None:
    reviews = [review_for(gpu_pod(f"p{i}", NIMBUS_NS)) for i in range(24)]
    answers = await asyncio.gather(*(h2c.request("/validate", _body(r)) for r in reviews))
    uids = [json.loads(a.body)["response"]["uid"] for a in answers]
    assert uids == [r["request"]["uid"] for r in reviews]
    assert all(json.loads(a.body)["response"]["allowed"] is False for a in answers)
    assert webhook.metrics.connections.labels("h2")._value.get() == 1


async def test_probes_and_wrong_paths_over_h2(h2c: H2Client) -> None:
    assert (await h2c.request("/healthz", method="GET")).body == b"ok\n"
    ready = await h2c.request("/readyz", method="GET")
    assert ready.status == 200 and ready.body.startswith(b"ok: policy ")
    metrics = await h2c.request("/metrics", method="GET")
    assert metrics.status == 200 and metrics.headers["content-type"].startswith("text/plain")
    assert b'exportgate_webhook_connections_total{protocol="h2"}' in metrics.body
    missing = await h2c.request("/nope", method="GET")
    assert missing.status == 404 and "serves /validate and /mutate" in missing.json_text()
    wrong = await h2c.request("/validate", method="GET")
    assert wrong.status == 405


async def test_malformed_and_oversized_bodies_get_400_over_h2(
    webhook: Webhook, h2c: H2Client
) -> None:
    broken = await h2c.request("/validate", b"{not json")
    assert broken.status == 400 and "body is not valid JSON" in broken.json_text()
    limit = webhook.server.config.listen.max_body_bytes
    declared = await h2c.request("/validate", b"x" * (limit + 1))
    assert declared.status == 400 and f"exceeds the limit of {limit} bytes" in declared.json_text()
    undeclared = await h2c.request("/validate", b"x" * (limit + 1), length=False)
    assert undeclared.status == 400 and "exceeds the limit" in undeclared.json_text()
    # The connection carries on: a good review after the refusals.
    good = await h2c.request("/validate", _body(review_for(gpu_pod("g", ACME_NS))))
    assert json.loads(good.body)["response"]["allowed"] is True


async def test_a_body_larger_than_a_flow_control_window_is_read(
    webhook: Webhook, h2c: H2Client
) -> None:
    pod = gpu_pod("big", ACME_NS)
    pod["metadata"]["annotations"] = {"example.com/blob": "y" * 150_000}  # > 64 KiB window
    answer = await h2c.request("/validate", _body(review_for(pod)))
    assert answer.status == 200 and json.loads(answer.body)["response"]["allowed"] is True


# -- the listener's bounds, with a dispatcher the test controls ------------------------------


@dataclass
class _Served:
    listener: GuardedListener
    port: int
    gate: asyncio.Event
    cert: ServingCert

    async def client(self) -> H2Client:
        return await H2Client.connect(self.port, client_context(self.cert))


async def _serve(
    cert: ServingCert, limits: Http2Limits, connection: ConnectionLimits | None = None
) -> _Served:
    gate = asyncio.Event()

    async def dispatch(method: str, path: str, length: int | None, read: ReadBody) -> Reply:
        if path == "/slow":
            await gate.wait()
            return Reply(200, b"slow\n", "text/plain")
        if path == "/big":
            return Reply(200, b"z" * 200_000, "text/plain")
        try:
            return Reply(200, await read(), "application/octet-stream")
        except MalformedReview as exc:
            return Reply(400, exc.reason.encode(), "text/plain")

    listener = GuardedListener(
        server_context(cert.cert_path, cert.key_path, http2=True), connection or ConnectionLimits()
    )
    port = await listener.start(dispatch, "127.0.0.1", 0, http2=limits)
    return _Served(listener, port, gate, cert)


Connect = Callable[..., Awaitable[tuple[_Served, H2Client]]]


@pytest.fixture
async def connect(serving_cert: ServingCert) -> AsyncIterator[Connect]:
    """`await connect(limits[, connection_limits])`: a listener serving the test dispatcher and
    an HTTP/2 client connected to it, both closed after the test."""
    opened: list[tuple[_Served, H2Client]] = []

    async def open_pair(
        limits: Http2Limits, connection: ConnectionLimits | None = None
    ) -> tuple[_Served, H2Client]:
        served = await _serve(serving_cert, limits, connection)
        client = await served.client()
        opened.append((served, client))
        return served, client

    yield open_pair
    for served, client in reversed(opened):
        await client.close()
        served.gate.set()
        await served.listener.stop(grace_s=1.0)


async def test_reset_streams_count_until_their_work_is_done(
    connect: Connect,
) -> None:
    served, client = await connect(Http2Limits(max_streams=2))
    held = [client.start("/slow", method="GET", end=True) for _ in range(2)]
    await asyncio.sleep(0.1)
    for sid in held:
        client.reset(sid)  # closed for HTTP/2, but the work they started is still running
    refused = client.start("/slow", method="GET", end=True)
    assert (await client.answer(refused)).reset == h2.errors.ErrorCodes.REFUSED_STREAM
    served.gate.set()
    await asyncio.sleep(0.1)
    fine = await client.request("/echo", b"after")
    assert fine.status == 200 and fine.body == b"after"


async def test_a_client_that_only_resets_is_disconnected(
    connect: Connect,
) -> None:
    _served, client = await connect(Http2Limits(max_streams=100, max_resets=5))
    for _ in range(10):
        if client.closed.is_set():
            break
        client.reset(client.start("/slow", method="GET", end=True))
        await asyncio.sleep(0.02)
    async with asyncio.timeout(5):
        await client.closed.wait()
    assert client.goaway == h2.errors.ErrorCodes.ENHANCE_YOUR_CALM


async def test_a_large_answer_follows_the_clients_window(
    connect: Connect,
) -> None:
    _served, client = await connect(Http2Limits())
    answer = await client.request("/big", method="GET")
    assert answer.status == 200 and len(answer.body) == 200_000


async def test_a_body_that_never_ends_is_answered_408(
    connect: Connect,
) -> None:
    _served, client = await connect(Http2Limits(body_timeout_s=0.3))
    sid = client.start("/echo", content_length=10)
    await client.send_body(sid, b"12345", end=False)
    answer = await client.answer(sid, timeout=5)
    assert answer.status == 408 and b"did not arrive within 0.3s" in answer.body


async def test_an_idle_connection_is_closed_with_goaway(
    connect: Connect,
) -> None:
    _served, client = await connect(Http2Limits(idle_timeout_s=0.3))
    assert (await client.request("/echo", b"x")).status == 200
    async with asyncio.timeout(5):
        await client.closed.wait()
    assert client.goaway == h2.errors.ErrorCodes.NO_ERROR


async def test_a_connection_without_a_request_meets_the_header_deadline(
    connect: Connect,
) -> None:
    _served, client = await connect(Http2Limits(), ConnectionLimits(header_timeout_s=0.3))
    async with asyncio.timeout(5):
        await client.closed.wait()


async def test_stopping_answers_the_streams_in_flight_and_takes_no_new_ones(
    connect: Connect,
) -> None:
    served, client = await connect(Http2Limits())
    in_flight = client.start("/slow", method="GET", end=True)
    await asyncio.sleep(0.1)
    stopping = asyncio.create_task(served.listener.stop(grace_s=5.0))
    await asyncio.sleep(0.1)
    late = client.start("/echo", method="GET", end=True)
    # Refused streams are retried on another connection by clients (the API server too).
    assert (await client.answer(late)).reset == h2.errors.ErrorCodes.REFUSED_STREAM
    assert not stopping.done() and not client.closed.is_set()
    served.gate.set()
    answer = await client.answer(in_flight)
    assert answer.status == 200 and answer.body == b"slow\n"
    async with asyncio.timeout(5):
        await stopping
        await client.closed.wait()
    assert client.goaway == h2.errors.ErrorCodes.NO_ERROR


async def test_http2_is_not_offered_unless_asked_for(serving_cert: ServingCert) -> None:
    listener = GuardedListener(
        server_context(serving_cert.cert_path, serving_cert.key_path), ConnectionLimits()
    )

    async def http1(method: str, path: str, length: int | None, read: ReadBody) -> Reply:
        return Reply(200, b"http/1.1\n", "text/plain")

    port = await listener.start(http1, "127.0.0.1", 0)
    try:
        with pytest.raises(AssertionError, match="did not agree on h2"):
            await H2Client.connect(port, client_context(serving_cert))
    finally:
        await listener.stop(grace_s=1.0)


async def test_an_oversized_header_block_ends_the_connection(
    connect: Connect,
) -> None:
    _served, client = await connect(Http2Limits(max_header_bytes=1024))
    sid = client.h2.get_next_available_stream_id()
    client.answers[sid] = Answer()
    headers = [(":method", "GET"), (":scheme", "https"), (":authority", "x"), (":path", "/echo")]
    client.h2.send_headers(sid, [*headers, ("x-padding", "p" * 4096)], end_stream=True)
    client.flush()
    async with asyncio.timeout(5):
        await client.closed.wait()
    assert client.goaway is not None and client.goaway != h2.errors.ErrorCodes.NO_ERROR


async def test_a_client_that_does_not_read_stops_being_read(
    connect: Connect,
) -> None:
    """It grants huge windows and sends requests for large answers without reading them: the
    server's write buffer stays near the transport's high-water mark instead of growing."""
    served, client = await connect(Http2Limits(max_streams=100))
    assert client._reader_task is not None
    client._reader_task.cancel()  # never read again
    client.h2.increment_flow_control_window(2**30)  # the connection window
    client.flush()
    for _ in range(60):  # 60 x 200 kB of answers asked for
        sid = client.start("/big", method="GET", end=True)
        client.h2.increment_flow_control_window(2**30, stream_id=sid)
        client.flush()
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.5)
    (session,) = served.listener.sessions
    transport = session._transport
    assert transport is not None
    buffered = transport.get_write_buffer_size()
    # Measured: about 0.6 MB with the pause, 5.6 MB and growing with every request without it.
    assert buffered < 2 * 1024 * 1024, buffered
