"""The closest thing a peer has to exportgate's sidecar: a service the policy engine calls on
each admission to learn about the tenant: Kyverno's `apiCall` (the `kyverno-apicall` row of B2)
and Gatekeeper's external data provider (`gatekeeper-extdata`).

POST /tenant with {"namespace": NS} answers {"restricted": true|false} from
--namespace-tenant NS=TENANT and --restricted TENANT; POST /gatekeeper answers the same as a
Gatekeeper external data provider (keys: namespaces; values: "restricted" or "allowed"). It is
deliberately thin (aiohttp over TLS, a dict lookup, as the no-op webhook is): the rows then show
what the extra hop costs a peer, not what a real KYC service would.

    python -m bench.peers.tenant_service --port 9444 --cert tls.crt --key tls.key \
        --namespace-tenant bench-nimbus=nimbus --restricted nimbus
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import sys
from pathlib import Path

from aiohttp import web

from bench.harness import Proc, spawn, wait_until
from bench.noop_webhook import serve_tls
from bench.peers.cases import NAMESPACE_TENANTS, RESTRICTED_NS
from tests.cluster.certs import loopback_serving_cert
from tests.cluster.ports import free_port


def start(workdir: Path) -> tuple[Proc, str, bytes]:
    """Run the service for B2's namespaces; return it, its base URL and the CA that signs it."""
    tls = loopback_serving_cert(workdir / "tenant-service-tls", "tenant-service")
    port = free_port()
    argv = [
        sys.executable,
        "-m",
        "bench.peers.tenant_service",
        f"--port={port}",
        f"--cert={tls.cert_path}",
        f"--key={tls.key_path}",
        *(f"--namespace-tenant={ns}={t}" for ns, t in NAMESPACE_TENANTS.items()),
        f"--restricted={NAMESPACE_TENANTS[RESTRICTED_NS]}",
    ]
    proc = spawn("tenant-service", argv, workdir / "tenant-service.log")
    wait_until(lambda: _listening(port), 30, "the tenant service", proc)
    return proc, f"https://127.0.0.1:{port}", tls.ca_pem


def _listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def _app(restricted_namespaces: frozenset[str]) -> web.Application:
    async def tenant(request: web.Request) -> web.Response:
        try:
            namespace = json.loads(await request.read())["namespace"]
        except (ValueError, KeyError, TypeError):
            return web.Response(status=400, text='expected {"namespace": ...}\n')
        body = {"restricted": namespace in restricted_namespaces}
        return web.Response(body=json.dumps(body).encode(), content_type="application/json")

    async def gatekeeper(request: web.Request) -> web.Response:
        # Gatekeeper's external data protocol: ProviderRequest keys in, one item per key out.
        try:
            keys = json.loads(await request.read())["request"]["keys"]
        except (ValueError, KeyError, TypeError):
            return web.Response(status=400, text="expected a ProviderRequest\n")
        items = [
            {"key": k, "value": "restricted" if k in restricted_namespaces else "allowed"}
            for k in keys
        ]
        body = {
            "apiVersion": "externaldata.gatekeeper.sh/v1beta1",
            "kind": "ProviderResponse",
            "response": {"idempotent": True, "items": items},
        }
        return web.Response(body=json.dumps(body).encode(), content_type="application/json")

    app = web.Application()
    app.router.add_post("/tenant", tenant)
    app.router.add_post("/gatekeeper", gatekeeper)
    return app


async def _serve(args: argparse.Namespace) -> None:
    pairs = dict(item.split("=", 1) for item in args.namespace_tenant)
    restricted = frozenset(ns for ns, t in pairs.items() if t in set(args.restricted))
    await serve_tls(_app(restricted), args.port, args.cert, args.key)


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
