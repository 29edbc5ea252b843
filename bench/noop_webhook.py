"""The B1 baseline: a webhook that admits everything, on the same framework as exportgate's.

aiohttp over TLS with the same server settings (keep-alive, no access log), reading the review,
parsing its JSON and answering `allowed: true` with the request's uid: the least any correct
webhook does. Run as its own process so it is measured exactly like the real one:

    python -m bench.noop_webhook --port 9443 --cert tls.crt --key tls.key
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import ssl
import sys

from aiohttp import web


async def _review(request: web.Request) -> web.Response:
    review = json.loads(await request.read())
    answer = {
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "response": {"uid": review["request"]["uid"], "allowed": True},
    }
    return web.Response(body=json.dumps(answer).encode(), content_type="application/json")


async def _serve(port: int, cert: str, key: str) -> None:
    app = web.Application()
    app.router.add_post("/validate", _review)
    app.router.add_post("/mutate", _review)
    app.router.add_get("/healthz", lambda _: _ok())
    await serve_tls(app, port, cert, key)


async def serve_tls(app: web.Application, port: int, cert: str, key: str) -> None:
    """Serve `app` over TLS on loopback `port` until SIGTERM or SIGINT, with the server
    settings exportgate's webhook uses (keep-alive, no access log); every bench server does."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(cert, key)
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port, ssl_context=context, backlog=1024).start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await runner.cleanup()


async def _ok() -> web.Response:
    return web.Response(text="ok\n")


def main() -> int:
    p = argparse.ArgumentParser(prog="python -m bench.noop_webhook")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--cert", required=True)
    p.add_argument("--key", required=True)
    args = p.parse_args()
    asyncio.run(_serve(args.port, args.cert, args.key))
    return 0


if __name__ == "__main__":
    sys.exit(main())
