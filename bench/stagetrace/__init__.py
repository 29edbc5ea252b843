"""Where one review's time goes inside exportgate's webhook, stage by stage, in a real run.

`install()` wraps the functions that bound each stage of a review (below) with a clock, in the
webhook process only, and writes one JSON line per review when the process exits. It is loaded
by the `sitecustomize` in `bench/stagetrace/site`, so any run that starts the webhook with that
directory on its PYTHONPATH and ``EXPORTGATE_STAGE_TRACE=<file>`` in its environment is traced,
e.g. an A/B variant (bench/b2_ab.py):

    python -m bench.b2_ab --variant base --clients 1 --creates 1500 --variant \\
        'traced=pythonpath:bench/stagetrace/site;env:EXPORTGATE_STAGE_TRACE=/tmp/t.jsonl'
    python -m bench.stagetrace /tmp/t.jsonl

Stages of one review (`WebhookServer.answer`, the whole review after the request's headers):

* ``parse``: the AdmissionReview body checked and parsed (`review.parse_review`);
* ``extract``: what the object asks for (`AdapterRegistry.extract`);
* ``decide``: the decision, from the cache or the engine (`PolicyService._judge`);
* ``record``: the decision record rendered and appended (`DecisionLog.start_record_many`);
* ``durable``: waiting for the record's fsync (`DecisionJournal.write` less ``record``);
* ``encode``: the AdmissionReview response serialised (`review.encode`);
* ``rest``: the review less all of the above (body read, checks, messages, metrics, the hops
  between coroutines and the batcher's loop turns).

``wire`` is measured apart, per connection: from the first byte of a request to its reply being
handed to TLS, so it adds the HTTP parsing and the task start to ``total``.

The stages are attributed through a context variable set for each review, which the batcher's
call inherits from the review that started it: with several reviews in one batch, ``decide``,
``record`` and ``durable`` of the batch are charged to that first review. Trace one client for
per-review figures. The clock calls add about a microsecond per review.
"""

from __future__ import annotations

import atexit
import contextvars
import functools
import json
import os
import time
from collections.abc import Callable
from typing import Any

ENV = "EXPORTGATE_STAGE_TRACE"
STAGES = ("parse", "extract", "decide", "record", "durable", "encode")

_current: contextvars.ContextVar[dict[str, float] | None] = contextvars.ContextVar(
    "exportgate_stage_trace", default=None
)
_reviews: list[dict[str, float]] = []
_wire: list[float] = []
_clock = time.perf_counter


def _timed(stage: str, function: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        began = _clock()
        try:
            return function(*args, **kwargs)
        finally:
            _charge(stage, _clock() - began)

    return wrapper


def _timed_async(stage: str, function: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(function)
    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        began = _clock()
        try:
            return await function(*args, **kwargs)
        finally:
            _charge(stage, _clock() - began)

    return wrapper


def _charge(stage: str, seconds: float) -> None:
    review = _current.get()
    if review is not None:
        review[stage] = review.get(stage, 0.0) + seconds


def install(path: str) -> None:
    """Wrap the stage boundaries; write the reviews to `path` (JSON lines) at exit."""
    from exportgate_webhook import server
    from exportgate_webhook.http1 import Http1Session

    from exportgate.core.extract.registry import AdapterRegistry
    from exportgate.decisionlog.writer import DecisionLog
    from exportgate.service.evaluate import PolicyService
    from exportgate.service.journal import DecisionJournal

    server.parse_review = _timed("parse", server.parse_review)  # type: ignore[assignment]
    server.encode = _timed("encode", server.encode)  # type: ignore[assignment]
    AdapterRegistry.extract = _timed("extract", AdapterRegistry.extract)  # type: ignore[method-assign]
    PolicyService._judge = _timed_async("decide", PolicyService._judge)  # type: ignore[method-assign]
    DecisionLog.start_record_many = _timed("record", DecisionLog.start_record_many)  # type: ignore[method-assign]
    DecisionJournal.write = _timed_async("journal", DecisionJournal.write)  # type: ignore[method-assign]

    answer = server.WebhookServer.answer

    @functools.wraps(answer)
    async def traced_answer(*args: Any, **kwargs: Any) -> Any:
        review: dict[str, float] = {}
        token = _current.set(review)
        began = _clock()
        try:
            return await answer(*args, **kwargs)
        finally:
            review["total"] = _clock() - began
            _current.reset(token)
            _reviews.append(review)

    server.WebhookServer.answer = traced_answer  # type: ignore[method-assign]

    begin, write = Http1Session.on_message_begin, Http1Session._write

    def on_message_begin(self: Any) -> None:
        self._stage_trace_began = _clock()
        begin(self)

    def traced_write(self: Any, *args: Any, **kwargs: Any) -> None:
        write(self, *args, **kwargs)
        began = self.__dict__.pop("_stage_trace_began", None)
        if began is not None:
            _wire.append(_clock() - began)

    Http1Session.on_message_begin = on_message_begin  # type: ignore[method-assign]
    Http1Session._write = traced_write  # type: ignore[method-assign]
    atexit.register(_dump, path)


def _dump(path: str) -> None:
    with open(path, "w", encoding="utf-8") as out:
        for review in _reviews:
            out.write(json.dumps({"review": review}) + "\n")
        for seconds in _wire:
            out.write(json.dumps({"wire": seconds}) + "\n")


def install_from_environment() -> None:
    path = os.environ.get(ENV)
    if path:
        install(path)
