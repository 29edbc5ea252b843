"""A small HTTP/2 client for the tests: the `h2` state machine (client side) over a real TLS
connection that offers only "h2" over ALPN, with the request steps exposed one by one (send the
headers, hold the body, reset the stream) so that a test can misbehave on purpose."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from dataclasses import dataclass, field

import h2.config
import h2.connection
import h2.errors
import h2.events
import h2.exceptions


@dataclass
class Answer:
    status: int = 0
    headers: dict[str, str] = field(default_factory=dict)
    body: bytearray = field(default_factory=bytearray)
    reset: int | None = None
    """The error code of a RST_STREAM the server sent instead of (or during) the answer."""
    done: asyncio.Event = field(default_factory=asyncio.Event)

    def json_text(self) -> str:
        return self.body.decode()


class H2Client:
    def __init__(self) -> None:
        self.h2 = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
        self.answers: dict[int, Answer] = {}
        self.goaway: int | None = None
        self.closed = asyncio.Event()
        self._writer: asyncio.StreamWriter | None = None
        self._reader_task: asyncio.Task[None] | None = None
        self._opened = asyncio.Event()

    @classmethod
    async def connect(cls, port: int, context: ssl.SSLContext) -> H2Client:
        context.set_alpn_protocols(["h2"])
        reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=context)
        ssl_object = writer.get_extra_info("ssl_object")
        assert ssl_object.selected_alpn_protocol() == "h2", "the server did not agree on h2"
        client = cls()
        client._writer = writer
        client.h2.initiate_connection()
        client.flush()
        client._reader_task = asyncio.create_task(client._read(reader))
        # The server's SETTINGS (its stream limit among them) before the first request.
        async with asyncio.timeout(10):
            await client._opened.wait()
        return client

    async def _read(self, reader: asyncio.StreamReader) -> None:
        try:
            while data := await reader.read(65536):
                for event in self.h2.receive_data(data):
                    self._event(event)
                self.flush()
        except (ConnectionError, ssl.SSLError, h2.exceptions.ProtocolError):
            pass
        finally:
            self.closed.set()
            for answer in self.answers.values():
                answer.done.set()

    def _event(self, event: h2.events.Event) -> None:
        if isinstance(event, h2.events.RemoteSettingsChanged):
            self._opened.set()
        elif isinstance(event, h2.events.ResponseReceived):
            answer = self.answers[event.stream_id]
            answer.headers = {k.decode(): v.decode() for k, v in event.headers or ()}
            answer.status = int(answer.headers[":status"])
        elif isinstance(event, h2.events.DataReceived):
            self.answers[event.stream_id].body += event.data or b""
            self.h2.acknowledge_received_data(event.flow_controlled_length or 0, event.stream_id)
        elif isinstance(event, h2.events.StreamEnded):
            self.answers[event.stream_id].done.set()
        elif isinstance(event, h2.events.StreamReset):
            answer = self.answers.get(event.stream_id)
            if answer is not None:
                answer.reset = event.error_code
                answer.done.set()
        elif isinstance(event, h2.events.ConnectionTerminated):
            self.goaway = event.error_code

    def flush(self) -> None:
        assert self._writer is not None
        data = self.h2.data_to_send()
        if data and not self._writer.is_closing():
            self._writer.write(data)

    # -- requests, step by step ------------------------------------------------------------

    def start(
        self,
        path: str,
        *,
        method: str = "POST",
        content_length: int | None = None,
        end: bool = False,
    ) -> int:
        """Send a request's headers; returns its stream id."""
        sid = self.h2.get_next_available_stream_id()
        headers = [
            (":method", method),
            (":scheme", "https"),
            (":authority", "127.0.0.1"),
            (":path", path),
            ("content-type", "application/json"),
        ]
        if content_length is not None:
            headers.append(("content-length", str(content_length)))
        self.answers[sid] = Answer()
        self.h2.send_headers(sid, headers, end_stream=end)
        self.flush()
        return sid

    async def send_body(self, sid: int, body: bytes, *, end: bool = True) -> None:
        """Send `body` as the server's flow-control windows allow."""
        while body:
            window = min(self.h2.local_flow_control_window(sid), self.h2.max_outbound_frame_size)
            if window <= 0:
                await asyncio.sleep(0.01)  # the reader applies WINDOW_UPDATEs meanwhile
                continue
            chunk, body = body[:window], body[window:]
            self.h2.send_data(sid, chunk)
            self.flush()
        if end:
            self.h2.end_stream(sid)
            self.flush()

    def reset(self, sid: int) -> None:
        self.h2.reset_stream(sid, h2.errors.ErrorCodes.CANCEL)
        self.flush()

    async def answer(self, sid: int, timeout: float = 15.0) -> Answer:
        answer = self.answers[sid]
        async with asyncio.timeout(timeout):
            await answer.done.wait()
        return answer

    async def request(
        self, path: str, body: bytes = b"", *, method: str = "POST", length: bool = True
    ) -> Answer:
        """One whole request and its answer."""
        sid = self.start(
            path,
            method=method,
            content_length=len(body) if length and method == "POST" else None,
            end=not body,
        )
        if body:
            await self.send_body(sid, body)
        return await self.answer(sid)

    async def close(self) -> None:
        with contextlib.suppress(h2.exceptions.ProtocolError):
            self.h2.close_connection()
            self.flush()
        if self._writer is not None:
            self._writer.close()
            with contextlib.suppress(ConnectionError, ssl.SSLError):
                await self._writer.wait_closed()
        if self._reader_task is not None:
            self._reader_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader_task
