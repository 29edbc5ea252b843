"""A real policy sidecar and a real webhook, wired together over real sockets.

* The sidecar is `exportgate_sidecar.SidecarServer` on a Unix socket, reading the example
  tenants plus a small rollout policy (one `warn` rule, one `dryrun` rule) from files, and writing
  a real decision log.
* The webhook is `build_server(...)` from `exportgate_webhook.assemble` (what the command line
  runs) on 127.0.0.1 over TLS with a throwaway CA; namespaces come from a static map, so these
  tests need no API server (tests/webhook/test_cluster_e2e.py uses the real one).

Nothing here is a mock. Unix socket paths are limited to ~107 bytes, so sockets live in a short
directory under /tmp rather than in pytest's (long) tmp_path.
"""

from __future__ import annotations

import asyncio
import dataclasses
import inspect
import json
import shutil
import ssl
import tempfile
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import uvloop
from exportgate_sidecar.server import SidecarServer, serve_in_background
from exportgate_webhook.assemble import build_server
from exportgate_webhook.config import (
    GuardConfig,
    ListenConfig,
    NamespaceConfig,
    SidecarConfig,
    TLSConfig,
    WebhookConfig,
)
from exportgate_webhook.metrics import WebhookMetrics
from exportgate_webhook.server import WebhookServer

from exportgate.service.config import ListenConfig as SidecarListen
from exportgate.service.config import SidecarConfig as SidecarServerConfig
from exportgate.service.config import SourceConfig
from exportgate.service.local import TARGET as EMBEDDED
from exportgate.service.local import LocalPolicyClient
from tests.cluster.certs import ServingCert, loopback_serving_cert
from tests.webhook.helpers import NAMESPACES, PLATFORM_GROUP, PLATFORM_USER

REPO = Path(__file__).resolve().parents[2]
EXAMPLE_TENANTS = REPO / "examples" / "tenants.yaml"

ROLLOUT_POLICY = """\
apiVersion: exportgate.dev/v1alpha1
kind: ExportPolicy
metadata:
  name: webhook-test-rollout
spec:
  version: "wh-test-1"
  title: Rollout rules the webhook tests use for warn and dryrun decisions
  enforcementAction: warn
  rules:
    - id: l4-review-sg
      citation: "Internal rollout note WH-1 (test fixture)"
      effective: "2024-01-01"
      match:
        accelerators:
          products: [nvidia-l4]
      jurisdictions:
        anyIn: [SG]
      message: "L4 use by {tenant} is under review."
      remedy: "Nothing to do now; the platform team will contact you."
    - id: l40s-observe-sg
      citation: "Internal rollout note WH-2 (test fixture)"
      effective: "2024-01-01"
      enforcementAction: dryrun
      match:
        accelerators:
          products: [nvidia-l40s]
      jurisdictions:
        anyIn: [SG]
      message: "L40S use by {tenant} is observed."
"""


@pytest.fixture
def short_dir() -> Iterator[Path]:
    """A directory with a short path, for Unix sockets."""
    path = Path(tempfile.mkdtemp(prefix="egw-", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def policy_files(tmp_path: Path) -> tuple[Path, Path]:
    """(tenants, policies) files the sidecar reads."""
    policies = tmp_path / "policies"
    policies.mkdir()
    (policies / "rollout.yaml").write_text(ROLLOUT_POLICY)
    return EXAMPLE_TENANTS, policies


def sidecar_config(short_dir: Path, tenants: Path, policies: Path) -> SidecarServerConfig:
    return SidecarServerConfig(
        decision_log=short_dir / "decisions.jsonl",
        source=SourceConfig(tenant_paths=(tenants,), policy_paths=(policies,), poll_interval=0.2),
        listen=SidecarListen(unix_socket=short_dir / "policy.sock"),
    )


@pytest.fixture
async def sidecar(
    short_dir: Path, policy_files: tuple[Path, Path]
) -> AsyncIterator[SidecarServer]:
    async with serve_in_background(sidecar_config(short_dir, *policy_files)) as server:
        yield server


@pytest.fixture(scope="session")
def serving_cert(tmp_path_factory: pytest.TempPathFactory) -> ServingCert:
    return loopback_serving_cert(tmp_path_factory.mktemp("webhook-serving"))


def webhook_config(
    cert: ServingCert, target: str, *, budget_s: float = 2.0, **guard: Any
) -> WebhookConfig:
    return WebhookConfig(
        tls=TLSConfig(cert.cert_path, cert.key_path, reload_interval_s=0.1),
        # HTTP/2 offered (opt-in): tests/webhook/test_http2.py uses it, every other test's
        # client speaks HTTP/1.1 to the same listener.
        listen=ListenConfig(host="127.0.0.1", port=0, max_body_bytes=256 * 1024, http2=True),
        sidecar=SidecarConfig(target=target, budget_s=budget_s, ready_timeout_s=0.3),
        namespaces=NamespaceConfig(static_tenants=NAMESPACES),
        # The stamp is opt-in; most tests here cover both phases, so they opt in unless told.
        guard=GuardConfig(
            platform_users=frozenset({PLATFORM_USER}),
            platform_groups=frozenset({PLATFORM_GROUP, "system:masters"}),
            **{"mutate": True, **guard},
        ),
    )


@dataclass
class Webhook:
    """A running webhook and an HTTPS client that trusts its CA."""

    server: WebhookServer
    http: aiohttp.ClientSession
    metrics: WebhookMetrics
    decision_log: Path | None = None

    def logged(self) -> list[dict[str, Any]]:
        """The sidecar's decision records so far."""
        assert self.decision_log is not None
        if not self.decision_log.exists():
            return []
        records = read_decision_log(self.decision_log)
        return [r for r in records if r.get("type", "decision") == "decision" and r.get("id")]

    def logged_decision(self, decision_id: str) -> dict[str, Any]:
        found = [r for r in self.logged() if r["id"] == decision_id]
        assert len(found) == 1, f"decision {decision_id} not in the log exactly once"
        return found[0]

    @property
    def base(self) -> str:
        return f"https://127.0.0.1:{self.server.port}"

    async def post(self, path: str, body: Mapping[str, Any] | bytes) -> tuple[int, Any]:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        async with self.http.post(
            self.base + path, data=data, headers={"Content-Type": "application/json"}
        ) as response:
            return response.status, await response.json(content_type=None)

    async def review(self, path: str, body: Mapping[str, Any]) -> dict[str, Any]:
        """POST a review and return its `response`, checking the envelope on the way."""
        status, answer = await self.post(path, body)
        assert status == 200, answer
        assert answer["apiVersion"] == "admission.k8s.io/v1"
        assert answer["kind"] == "AdmissionReview"
        response: dict[str, Any] = answer["response"]
        assert response["uid"] == body["request"]["uid"]
        return response

    async def get(self, path: str) -> tuple[int, str]:
        async with self.http.get(self.base + path) as response:
            return response.status, await response.text()


def client_context(cert: ServingCert) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(cert.ca_path))
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


async def start_webhook(
    config: WebhookConfig,
    cert: ServingCert,
    decision_log: Path | None = None,
    *,
    service: SidecarServerConfig | None = None,
) -> Webhook:
    """`service`: embed the policy service with these settings (``--sidecar embedded``) and
    wait for its first snapshot, as /readyz would before the pod takes traffic."""
    metrics = WebhookMetrics()
    server = build_server(config, metrics=metrics, service=service)
    await server.start()
    if service is not None:
        assert isinstance(server.sidecar, LocalPolicyClient)
        await server.sidecar.host.wait_ready(30)
    http = aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(ssl=client_context(cert)),
        timeout=aiohttp.ClientTimeout(total=15),
    )
    return Webhook(server, http, metrics, decision_log)


async def stop_webhook(webhook: Webhook) -> None:
    await webhook.http.close()
    await webhook.server.stop()


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Every test of the `webhook` fixture runs against both homes of the policy service: the
    sidecar over its socket, and embedded in the webhook. A test that drives the sidecar itself
    (asks for the `sidecar` fixture: stops it, reads its state) runs with the sidecar only."""
    if "webhook" not in metafunc.fixturenames:
        return
    own = inspect.signature(metafunc.function).parameters
    metafunc.parametrize("policy_mode", ["sidecar"] if "sidecar" in own else POLICY_MODES)


POLICY_MODES = ["sidecar", EMBEDDED]


@pytest.fixture
def policy_mode() -> str:
    return "sidecar"


@pytest.fixture
async def webhook(
    policy_mode: str, sidecar: SidecarServer, serving_cert: ServingCert, short_dir: Path
) -> AsyncIterator[Webhook]:
    if policy_mode == EMBEDDED:
        # Its own log: the fixture's sidecar runs (idle) beside it and keeps its own.
        service = dataclasses.replace(
            sidecar.config,
            decision_log=short_dir / "embedded" / "decisions.jsonl",
            listen=SidecarListen(unix_socket=None),
        )
        hook = await start_webhook(
            webhook_config(serving_cert, EMBEDDED),
            serving_cert,
            service.decision_log,
            service=service,
        )
    else:
        hook = await start_webhook(
            webhook_config(serving_cert, sidecar.unix_target),
            serving_cert,
            sidecar.config.decision_log,
        )
    try:
        yield hook
    finally:
        await stop_webhook(hook)


def read_decision_log(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def pytest_asyncio_loop_factories(
    config: pytest.Config, item: pytest.Item
) -> dict[str, Callable[[], asyncio.AbstractEventLoop]]:
    """The stdlib loop for the webhook's in-process tests; both loops for those marked
    `both_loops`, where the listener and sessions meet the loop (the webhook process itself
    runs on uvloop by default: exportgate/eventloop.py)."""
    if item.get_closest_marker("both_loops"):
        return {"asyncio": asyncio.new_event_loop, "uvloop": uvloop.new_event_loop}
    return {"asyncio": asyncio.new_event_loop}
