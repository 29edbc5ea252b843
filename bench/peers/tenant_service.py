"""The closest thing a peer has to exportgate's sidecar: a service the policy engine calls on
each admission to learn about the tenant, here for Kyverno's `apiCall` (the `kyverno-apicall`
row of B2).

POST /tenant with {"namespace": NS} answers {"restricted": true|false} from
--namespace-tenant NS=TENANT and --restricted TENANT. It is deliberately thin (aiohttp over TLS,
a dict lookup, as the no-op webhook is): the row then shows what the extra hop costs a peer,
not what a real KYC service would.

    python -m bench.peers.tenant_service --port 9444 --cert tls.crt --key tls.key \
        --namespace-tenant bench-nimbus=nimbus --restricted nimbus
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import ssl
import sys

from aiohttp import web


def _app(restricted_namespaces: frozenset[str]) -> web.Application:
    async def tenant(request: web.Request) -> web.Response:
        try:
            namespace = json.loads(await request.read())["namespace"]
        except (ValueError, KeyError, TypeError):
            return web.Response(status=400, text='expected {"namespace": ...}\n')
        body = {"restricted": namespace in restricted_namespaces}
        return web.Response(body=json.dumps(body).encode(), content_type="application/json")

    app = web.Application()
    app.router.add_post("/tenant", tenant)
    return app


async def _serve(args: argparse.Namespace) -> None:
    pairs = dict(item.split("=", 1) for item in args.namespace_tenant)
    restricted = frozenset(ns for ns, t in pairs.items() if t in set(args.restricted))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(args.cert, args.key)
    runner = web.AppRunner(_app(restricted), access_log=None, handle_signals=False)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", args.port, ssl_context=context, backlog=1024).start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await runner.cleanup()


def main() -> int:
    p = argparse.ArgumentParser(prog="python -m bench.peers.tenant_service")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--cert", required=True)
    p.add_argument("--key", required=True)
    p.add_argument("--namespace-tenant", action="append", default=[], metavar="NS=TENANT")
    p.add_argument("--restricted", action="append", default=[], metavar="TENANT")
    asyncio.run(_serve(p.parse_args()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
