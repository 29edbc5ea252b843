"""A listener in a process of its own, with few file descriptors (tests/webhook/test_listener.py).

Run as ``python -m tests.webhook.listener_child LOOP SPARE_FDS``: serves plain HTTP on an
ephemeral port, answering every request 200 "ok", prints the port, and runs until killed. Its
descriptor limit leaves it SPARE_FDS beyond those open at start, so a few connections exhaust it
and accept fails with EMFILE, as a webhook out of descriptors would.
"""

from __future__ import annotations

import asyncio
import os
import resource
import sys

from exportgate_webhook.exchange import ReadBody, Reply
from exportgate_webhook.listener import ConnectionLimits, GuardedListener

from exportgate import eventloop
from exportgate.logsetup import configure_logging


async def _ok(method: str, path: str, length: int | None, read: ReadBody) -> Reply:
    await read()
    return Reply(200, b"ok\n", "text/plain")


async def _serve(spare: int) -> None:
    listener = GuardedListener(None, ConnectionLimits())
    port = await listener.start(_ok, "127.0.0.1", 0)
    opened = len(os.listdir("/proc/self/fd"))
    resource.setrlimit(resource.RLIMIT_NOFILE, (opened + spare, opened + spare))
    print(port, flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    configure_logging("info", json=True)  # on stderr, where the test reads it
    os.environ[eventloop.ENV] = sys.argv[1]
    eventloop.run(_serve(int(sys.argv[2])))
