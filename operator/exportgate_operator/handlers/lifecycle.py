"""Operator start-up and shutdown: kopf settings, API login, priming, liveness probes."""

from __future__ import annotations

import asyncio
from typing import Any

import kopf

from exportgate_operator.app import App
from exportgate_operator.settings import apply_kopf_settings


def connection_info(app: App) -> kopf.ConnectionInfo:
    """kopf's credentials, taken from the very ApiClient the operator's own calls use, so both
    talk to the same server as the same identity (--kubeconfig / in-cluster)."""
    conf = app.kube.api.configuration
    token = None
    authorization = (conf.api_key or {}).get("authorization") or (conf.api_key or {}).get(
        "BearerToken"
    )
    if authorization:
        token = str(authorization).removeprefix("Bearer ").strip()
    return kopf.ConnectionInfo(
        server=conf.host,
        ca_path=conf.ssl_ca_cert,
        insecure=not conf.verify_ssl,
        certificate_path=conf.cert_file,
        private_key_path=conf.key_file,
        token=token,
        username=conf.username or None,
        password=conf.password or None,
    )


def register(registry: kopf.OperatorRegistry, app: App) -> None:
    @kopf.on.startup(registry=registry)
    async def configure(settings: kopf.OperatorSettings, **_: Any) -> None:
        apply_kopf_settings(settings, app.config)
        await asyncio.to_thread(app.prime)

    @kopf.on.login(registry=registry)
    def login(**_: Any) -> kopf.ConnectionInfo:
        return connection_info(app)

    @kopf.on.cleanup(registry=registry)
    async def close(**_: Any) -> None:
        await app.timers.stop_all()
        await app.aclose()  # bounded: a hung disk does not hold kopf's shutdown

    @kopf.on.probe(id="tenants", registry=registry)
    def tenants(**_: Any) -> int:
        return len(app.world.tenant_names())

    @kopf.on.probe(id="policyVersion", registry=registry)
    def policy_version(**_: Any) -> str:
        return app.world.engine.version
