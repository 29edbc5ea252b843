"""Operational logging of every exportgate program (sidecar, webhook, operator): one setup.

structlog events and the standard-library records of the libraries underneath (kopf, grpc, the
Kubernetes client, aiohttp) go through the same processors and renderer to stderr, so each
program's log is one stream in one format: a JSON object per line for log collectors, or
coloured text for a terminal (`json=False`, the one switch; `--log-format console`).

structlog's own events are written straight to stderr, not through the standard library's
handlers: a denial that is logged must not wait on the logging module's locks (the webhook
answers sixteen reviews at once within a few hundred milliseconds, and measurably slower
otherwise). Only the libraries' records take the standard-library path.

(The decision log is something else: an audit record written by `exportgate.decisionlog`.)
"""

from __future__ import annotations

import logging
import sys
from typing import Any

import structlog

LEVELS = ("debug", "info", "warning", "error")

# Libraries that narrate routine work at INFO (kopf: every handler run); their warnings and
# errors still come through.
QUIET_LIBRARIES = ("kopf", "kubernetes", "urllib3", "grpc", "aiohttp.access")

def _add_logger_name(
    logger: Any, method_name: str, event_dict: structlog.typing.EventDict
) -> structlog.typing.EventDict:
    """The name a logger was asked for (`get_logger(name)`), or the library logger's name."""
    record = event_dict.get("_record")
    name = record.name if record is not None else getattr(logger, "name", None)
    if name:
        event_dict.setdefault("logger", name)
    return event_dict


_SHARED: list[structlog.typing.Processor] = [
    structlog.contextvars.merge_contextvars,
    structlog.processors.add_log_level,
    _add_logger_name,
    structlog.processors.TimeStamper(fmt="iso", utc=True),
]


def _stderr_logger(*args: Any) -> structlog.PrintLogger:
    logger = structlog.PrintLogger(sys.stderr)
    logger.name = str(args[0]) if args else None  # type: ignore[attr-defined]
    return logger


def configure_logging(level: str = "info", *, json: bool = True) -> None:
    """Route structlog and the standard library's loggers to stderr at `level`."""
    numeric = logging.getLevelNamesMapping().get(level.upper())
    if numeric is None:
        raise ValueError(f"unknown log level {level!r}; use {', '.join(LEVELS)}")
    renderer: structlog.typing.Processor = (
        structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer()
    )
    structlog.configure(
        processors=[*_SHARED, structlog.processors.format_exc_info, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=_stderr_logger,
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=_SHARED,
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(numeric)
    for name in QUIET_LIBRARIES:
        logging.getLogger(name).setLevel(max(numeric, logging.WARNING))


def get_logger(name: str) -> structlog.stdlib.BoundLogger:
    logger: structlog.stdlib.BoundLogger = structlog.stdlib.get_logger(name)
    return logger
