"""What the admission port's protocols share: a request handed to `Dispatch`, and its `Reply`.

HTTP/1.1 (`http1.Http1Session`) and HTTP/2 (`http2.Http2Session`) each turn their framing into
one call of a `Dispatch` (the webhook server's router) and write the `Reply` it returns, so a
review is answered the same way whichever protocol carried it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import structlog

log = structlog.get_logger("exportgate.webhook.exchange")

TEXT = "text/plain; charset=utf-8"


@dataclass(frozen=True, slots=True)
class Reply:
    """One HTTP answer, whichever protocol carries it."""

    status: int
    body: bytes
    content_type: str = "application/json"


ReadBody = Callable[[], Awaitable[bytes]]
Dispatch = Callable[[str, str, "int | None", ReadBody], Awaitable[Reply]]
"""(method, path with query, declared content length, read the body) -> the reply. Reading the
body raises `MalformedReview` when it exceeds the limit, and `BodyTimeout` or `RequestGone`
when it does not arrive."""


class BodyTimeout(Exception):
    """The request body did not arrive in time: the protocol answers 408."""


class RequestGone(Exception):
    """The client went away (or reset the stream) before the body was read: nothing to answer."""


async def reply_to(
    dispatch: Dispatch,
    method: str,
    path: str,
    content_length: int | None,
    read: ReadBody,
    *,
    protocol: str,
) -> Reply | None:
    """What a protocol sends for one request: the dispatcher's reply; 408 for a body that did
    not arrive; nothing when the client went away; 500 for a bug (the API server then fails
    closed), which ends that request, not the connection."""
    try:
        return await dispatch(method, path, content_length, read)
    except RequestGone:
        return None
    except BodyTimeout as exc:
        return Reply(408, str(exc).encode() + b"\n", TEXT)
    except Exception:
        log.exception("request failed", protocol=protocol, path=path)
        return Reply(500, b"internal error\n", TEXT)
