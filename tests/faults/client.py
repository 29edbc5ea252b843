"""Send AdmissionReviews to a running webhook and keep what came back, for fault assertions."""

from __future__ import annotations

import asyncio
import json
import ssl
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import aiohttp

from bench.harness import Stack
from bench.reviews import MIX, review

Builder = Callable[[int], dict[str, Any]]
#: (label, builder) of the reviews the webhook asks the policy service about, and of the rest.
GUARDED: list[tuple[str, Builder]] = [(label, b) for label, _, b, guarded in MIX if guarded]
UNGUARDED: list[tuple[str, Builder]] = [(label, b) for label, _, b, guarded in MIX if not guarded]


@dataclass
class Answer:
    """One request's fate: an HTTP status and review response, or a transport error."""

    uid: str
    seconds: float
    status: int | None
    response: dict[str, Any] | None
    error: str | None = None

    @property
    def allowed(self) -> bool:
        return bool(self.response and self.response.get("allowed"))

    @property
    def message(self) -> str:
        return str(((self.response or {}).get("status") or {}).get("message", ""))

    @property
    def decision_id(self) -> str | None:
        audit = (self.response or {}).get("auditAnnotations") or {}
        value = audit.get("decision-id")
        return str(value) if value else None

    @property
    def policy_version(self) -> str | None:
        audit = (self.response or {}).get("auditAnnotations") or {}
        value = audit.get("policy-version")
        return str(value) if value else None


async def send_all(
    url: str,
    context: ssl.SSLContext,
    bodies: Sequence[bytes],
    *,
    concurrency: int = 8,
    timeout: float = 10.0,
    on_answer: Callable[[Answer], None] | None = None,
) -> list[Answer]:
    """Post every body once, `concurrency` at a time, over keep-alive connections;
    `on_answer` sees each answer as it arrives (on the event loop)."""
    answers: list[Answer] = []
    queue: asyncio.Queue[bytes] = asyncio.Queue()
    for body in bodies:
        queue.put_nowait(body)
    connector = aiohttp.TCPConnector(limit=concurrency, ssl=context)
    client_timeout = aiohttp.ClientTimeout(total=timeout)

    async def worker(session: aiohttp.ClientSession) -> None:
        while not queue.empty():
            body = queue.get_nowait()
            uid = json.loads(body).get("request", {}).get("uid", "") if body[:1] == b"{" else ""
            answer = await _post(session, url, body, uid, client_timeout)
            answers.append(answer)
            if on_answer is not None:
                on_answer(answer)

    async with aiohttp.ClientSession(connector=connector) as session:
        await asyncio.gather(*(worker(session) for _ in range(concurrency)))
    return answers


async def _post(
    session: aiohttp.ClientSession, url: str, body: bytes, uid: str, timeout: aiohttp.ClientTimeout
) -> Answer:
    began = time.perf_counter()
    try:
        async with session.post(
            url, data=body, headers={"Content-Type": "application/json"}, timeout=timeout
        ) as http:
            payload = await http.read()
            status = http.status
    except (TimeoutError, aiohttp.ClientError, OSError) as exc:
        return Answer(uid, time.perf_counter() - began, None, None, f"{type(exc).__name__}: {exc}")
    elapsed = time.perf_counter() - began
    try:
        response = json.loads(payload).get("response")
    except ValueError:
        response = None
    return Answer(uid, elapsed, status, response)


def review_bodies(kinds: Sequence[tuple[str, Builder]], count: int, start: int = 0) -> list[bytes]:
    """`count` encoded AdmissionReviews cycling through `kinds`, each object distinct."""
    return [
        json.dumps(review(kinds[i % len(kinds)][1](i))).encode()
        for i in range(start, start + count)
    ]


def send(
    stack: Stack,
    bodies: Sequence[bytes],
    *,
    concurrency: int = 8,
    timeout: float = 10.0,
    on_answer: Callable[[Answer], None] | None = None,
) -> list[Answer]:
    """`send_all` to the stack's /validate, from synchronous test code."""
    return asyncio.run(
        send_all(
            stack.url + "/validate",
            stack.client_ssl_context(),
            bodies,
            concurrency=concurrency,
            timeout=timeout,
            on_answer=on_answer,
        )
    )
