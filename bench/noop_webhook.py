"""The B1 baseline: a webhook that admits everything, on the same HTTP layer as exportgate's.

exportgate's own listener and HTTP/1.1 session (`exportgate_webhook.listener`, `http1`) over TLS
with the same limits, on the same event loop (`exportgate.eventloop`), reading the review,
parsing its JSON with the same codec (orjson) and answering `allowed: true` with the request's
uid: the least any correct webhook does on that stack, so that the ratio against it measures
exportgate's own work. Run as its own process so it is measured exactly like the real one:

    python -m bench.noop_webhook --port 9443 --cert tls.crt --key tls.key
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import ssl
import sys
from pathlib import Path

import orjson
from aiohttp import web
from exportgate_webhook.exchange import ReadBody, Reply
from exportgate_webhook.listener import ConnectionLimits, GuardedListener
from exportgate_webhook.tls import server_context

from exportgate import eventloop

_NOT_FOUND = Reply(404, b"not found\n", "text/plain")


async def _dispatch(method: str, path: str, length: int | None, read: ReadBody) -> Reply:
    route = path.split("?", 1)[0]
    if route == "/healthz":
        return Reply(200, b"ok\n", "text/plain")
    if route not in ("/validate", "/mutate"):
        return _NOT_FOUND
    review = orjson.loads(await read())
    answer = {
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "response": {"uid": review["request"]["uid"], "allowed": True},
    }
    return Reply(200, orjson.dumps(answer))


async def _serve(port: int, cert: str, key: str) -> None:
    listener = GuardedListener(server_context(Path(cert), Path(key)), ConnectionLimits())
    await listener.start(_dispatch, "127.0.0.1", port)
    await _until_stopped()
    await listener.stop()


async def _until_stopped() -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()


async def serve_tls(app: web.Application, port: int, cert: str, key: str) -> None:
    """Serve an aiohttp `app` over TLS on loopback `port` until SIGTERM or SIGINT (keep-alive,
    no access log): the bench's helper services (e.g. the peers' tenant service)."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(cert, key)
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port, ssl_context=context, backlog=1024).start()
    await _until_stopped()
    await runner.cleanup()


def main() -> int:
    p = argparse.ArgumentParser(prog="python -m bench.noop_webhook")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--cert", required=True)
    p.add_argument("--key", required=True)
    args = p.parse_args()
    eventloop.run(_serve(args.port, args.cert, args.key))
    return 0


if __name__ == "__main__":
    sys.exit(main())
