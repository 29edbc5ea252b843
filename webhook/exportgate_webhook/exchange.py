"""What the admission port's protocols share: a request handed to `Dispatch`, and its `Reply`.

HTTP/1.1 (`http1.Http1Session`) and HTTP/2 (`http2.Http2Session`) each turn their framing into
one call of a `Dispatch` (the webhook server's router) and write the `Reply` it returns, so a
review is answered the same way whichever protocol carried it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

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
