"""Mutual TLS at the admission port (`--client-ca`, `--client-name`): only the API server's
client certificate gets a review decided and logged.

Everything is real: certificates from throwaway CAs (`tests.cluster.certs`), the webhook built
the way the command builds it, a real sidecar writing a real decision log, and clients that
connect over TLS with or without a client certificate, over HTTP/1.1 and over HTTP/2. A caller
without an acceptable certificate is refused in the TLS handshake (or, for a name that is not
allowed, right after it, before any request byte is read): no answer, no decision record, one
count in ``exportgate_webhook_client_certificates_refused_total``.

tests/webhook/test_client_auth_cluster.py drives the same through a real kube-apiserver.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import json
import os
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from exportgate_sidecar.server import SidecarServer
from exportgate_webhook.clientauth import (
    EXPIRED,
    LOG_INTERVAL_S,
    MISSING,
    NAME,
    UNTRUSTED,
    ClientGate,
    handshake_refusal,
    identities,
)
from exportgate_webhook.config import ClientAuthConfig
from exportgate_webhook.metrics import WebhookMetrics

from tests.cluster.certs import CertificateAuthority, KeyPair, ServingCert
from tests.webhook.conftest import (
    Webhook,
    client_context,
    start_webhook,
    stop_webhook,
    webhook_config,
)
from tests.webhook.h2client import H2Client
from tests.webhook.helpers import ACME_NS, NIMBUS_NS, gpu_pod, review_for

# The handshake and the check after it meet the loop here: run on the stdlib loop and uvloop.
pytestmark = pytest.mark.both_loops

API_SERVER = "kube-apiserver"  # the identity the allowlist accepts


@dataclass
class ClientPKI:
    ca: CertificateAuthority  # signs the API server's client certificate
    other: CertificateAuthority  # a CA the webhook does not trust
    ca_file: Path  # what --client-ca points at
    directory: Path

    def write_ca(self, *cas: CertificateAuthority) -> None:
        # Like a Secret or ConfigMap volume update: the file is replaced whole.
        temporary = self.ca_file.with_suffix(".tmp")
        temporary.write_bytes(b"".join(ca.cert_pem for ca in cas))
        os.replace(temporary, self.ca_file)

    def context(self, serving: ServingCert, pair: KeyPair | None) -> ssl.SSLContext:
        """A client that trusts the webhook's serving CA and presents `pair` (if any)."""
        context = client_context(serving)
        if pair is not None:
            stem = f"client-{abs(hash(pair.cert_pem))}"
            context.load_cert_chain(*pair.write(self.directory, stem))
        return context


@pytest.fixture
def pki(tmp_path: Path) -> ClientPKI:
    pki = ClientPKI(
        CertificateAuthority("apiserver-client-ca"),
        CertificateAuthority("other-ca"),
        tmp_path / "client-ca" / "ca.crt",
        tmp_path / "clients",
    )
    pki.ca_file.parent.mkdir()
    pki.write_ca(pki.ca)
    return pki


@pytest.fixture
async def mtls(
    sidecar: SidecarServer, serving_cert: ServingCert, pki: ClientPKI
) -> AsyncIterator[Webhook]:
    """The webhook with --client-ca, --client-name kube-apiserver and a probe port."""
    config = webhook_config(serving_cert, sidecar.unix_target)
    config = dataclasses.replace(
        config,
        tls=dataclasses.replace(
            config.tls, client_auth=ClientAuthConfig(pki.ca_file, frozenset({API_SERVER}))
        ),
        listen=dataclasses.replace(config.listen, probe_host="127.0.0.1", probe_port=0),
    )
    hook = await start_webhook(config, serving_cert, sidecar.config.decision_log)
    try:
        yield hook
    finally:
        await stop_webhook(hook)


def _api_server(ca: CertificateAuthority) -> KeyPair:
    # What kube-apiserver presents: a client certificate (and, in many PKIs, its DNS name).
    return ca.issue(API_SERVER, dns_names=("apiserver.example",), client=True)


async def _post(port: int, context: ssl.SSLContext, body: dict[str, Any]) -> dict[str, Any]:
    """POST a review over HTTP/1.1; the AdmissionReview response, or an error."""
    connector = aiohttp.TCPConnector(ssl=context, force_close=True)
    timeout = aiohttp.ClientTimeout(total=10)
    async with (
        aiohttp.ClientSession(connector=connector, timeout=timeout) as http,
        http.post(f"https://127.0.0.1:{port}/validate", json=body) as response,
    ):
        assert response.status == 200
        answer: dict[str, Any] = (await response.json())["response"]
        return answer


async def _post_h2(port: int, context: ssl.SSLContext, body: dict[str, Any]) -> dict[str, Any]:
    client = await H2Client.connect(port, context)
    try:
        answer = await client.request("/validate", json.dumps(body).encode())
        assert answer.status == 200, answer.json_text()
        response: dict[str, Any] = json.loads(answer.body)["response"]
        return response
    finally:
        await client.close()


async def _refused(port: int, context: ssl.SSLContext, alpn: str) -> None:
    """Connect offering `alpn` and send a request: the server must answer nothing.

    Under TLS 1.3 the client's side of the handshake completes before the server has checked
    the client's certificate, so the refusal shows as an alert or a close on the first read."""
    context.set_alpn_protocols([alpn])
    request = (
        b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
        if alpn == "h2"
        else b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
    )
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=context)
    except (ssl.SSLError, ConnectionError):
        return  # refused during the handshake itself (TLS 1.2, or an early alert)
    try:
        writer.write(request)
        async with asyncio.timeout(10):
            data = await reader.read(65536)
        assert data == b"", f"the server answered a refused client: {data[:80]!r}"
    except (ssl.SSLError, ConnectionError):
        pass  # the alert or reset the refusal sends
    finally:
        writer.close()


def _refusals(hook: Webhook) -> dict[str, float]:
    counts: dict[str, float] = {}
    for line in hook.metrics.exposition().decode().splitlines():
        prefix = 'exportgate_webhook_client_certificates_refused_total{reason="'
        if line.startswith(prefix):
            reason, _, value = line[len(prefix) :].partition('"} ')
            counts[reason] = float(value)
    return counts


async def test_the_api_servers_certificate_is_answered_over_both_protocols(
    mtls: Webhook, pki: ClientPKI, serving_cert: ServingCert
) -> None:
    assert mtls.server.port is not None
    client = _api_server(pki.ca)
    body = review_for(gpu_pod("train", NIMBUS_NS))
    answer = await _post(mtls.server.port, pki.context(serving_cert, client), body)
    assert answer["allowed"] is False  # a real decision: the restricted tenant's H100
    answer2 = await _post_h2(
        mtls.server.port, pki.context(serving_cert, client), review_for(gpu_pod("t", ACME_NS))
    )
    assert answer2["allowed"] is True
    await _until(lambda: len(mtls.logged()) >= 2)
    assert _refusals(mtls) == {}


@pytest.mark.parametrize("alpn", ["http/1.1", "h2"])
@pytest.mark.parametrize(
    ("caller", "reason"),
    [
        ("no certificate", MISSING),
        ("another CA", UNTRUSTED),
        ("expired", EXPIRED),
        ("name not allowed", NAME),
    ],
)
async def test_a_caller_without_an_acceptable_certificate_is_refused_unlogged(
    mtls: Webhook,
    pki: ClientPKI,
    serving_cert: ServingCert,
    caller: str,
    reason: str,
    alpn: str,
) -> None:
    pairs = {
        "no certificate": None,
        "another CA": _api_server(pki.other),
        "expired": pki.ca.issue(
            API_SERVER, client=True, not_after=dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
        ),
        "name not allowed": pki.ca.issue("tenant-pod", dns_names=("evil.example",), client=True),
    }
    assert mtls.server.port is not None
    before = len(mtls.logged())
    await _refused(mtls.server.port, pki.context(serving_cert, pairs[caller]), alpn)
    # And a whole review posted the ordinary way gets no answer either.
    with pytest.raises((aiohttp.ClientError, ssl.SSLError, ConnectionError)):
        await _post(
            mtls.server.port,
            pki.context(serving_cert, pairs[caller]),
            review_for(gpu_pod("flood", NIMBUS_NS)),
        )
    await _until(lambda: _refusals(mtls).get(reason, 0) >= 2)
    assert set(_refusals(mtls)) == {reason}
    await asyncio.sleep(0.3)  # a record would have been written by now
    assert len(mtls.logged()) == before, "a refused caller's review reached the decision log"
    # The API server is still served.
    answer = await _post(
        mtls.server.port,
        pki.context(serving_cert, _api_server(pki.ca)),
        review_for(gpu_pod("ok", ACME_NS)),
    )
    assert answer["allowed"] is True


async def test_probes_stay_reachable_without_a_certificate(mtls: Webhook) -> None:
    # kubelet has no client certificate: the plain probe port serves it.
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"http://127.0.0.1:{mtls.server.probe_port}/healthz") as response,
    ):
        assert response.status == 200


async def test_a_new_ca_bundle_is_picked_up_and_the_old_ca_dropped(
    mtls: Webhook, pki: ClientPKI, serving_cert: ServingCert
) -> None:
    assert mtls.server.port is not None
    new_ca = CertificateAuthority("apiserver-client-ca-2")
    old_client, new_client = _api_server(pki.ca), _api_server(new_ca)
    body = review_for(gpu_pod("t", ACME_NS))
    # Rotation, step 1: both CAs in the bundle; both clients are served.
    pki.write_ca(pki.ca, new_ca)
    await _until_answered(mtls, pki.context(serving_cert, new_client), body)
    assert (await _post(mtls.server.port, pki.context(serving_cert, old_client), body))["allowed"]
    # Step 2: the old CA leaves the bundle; its certificates are refused from then on.
    pki.write_ca(new_ca)
    await _until(lambda: _reloads(mtls) >= 2)
    untrusted = _refusals(mtls).get(UNTRUSTED, 0)  # the new client's tries before step 1 took
    await _refused(mtls.server.port, pki.context(serving_cert, old_client), "http/1.1")
    await _until(lambda: _refusals(mtls).get(UNTRUSTED, 0) == untrusted + 1)
    assert (await _post(mtls.server.port, pki.context(serving_cert, new_client), body))["allowed"]


async def test_a_broken_ca_bundle_keeps_the_current_one(
    mtls: Webhook, pki: ClientPKI, serving_cert: ServingCert
) -> None:
    assert mtls.server.port is not None
    pki.ca_file.write_bytes(b"-----BEGIN CERTIFICATE-----\nnot a certificate\n")
    await _until(lambda: 'client_ca_reloads_total{result="failure"} 1.0' in _exposition(mtls))
    answer = await _post(
        mtls.server.port,
        pki.context(serving_cert, _api_server(pki.ca)),
        review_for(gpu_pod("t", ACME_NS)),
    )
    assert answer["allowed"] is True


async def test_without_client_ca_nothing_changes(webhook: Webhook, sidecar: SidecarServer) -> None:
    # The default: any TLS client is answered, and no mutual-TLS metric is exposed.
    response = await webhook.review("/validate", review_for(gpu_pod("t", ACME_NS)))
    assert response["allowed"] is True
    exposition = _exposition(webhook)
    assert "client_certificates_refused" not in exposition
    assert "client_ca_reloads" not in exposition


# -- the gate on its own -----------------------------------------------------------------------


class _Cert:
    def __init__(self, cert: dict[str, Any]) -> None:
        self.cert = cert

    def getpeercert(self) -> dict[str, Any]:
        return self.cert


APISERVER_CERT = {
    "subject": ((("organizationName", "system:masters"),), (("commonName", API_SERVER),)),
    "subjectAltName": (("DNS", "apiserver.example"), ("IP Address", "10.0.0.1")),
}


def test_identities_are_the_cn_and_the_dns_sans() -> None:
    assert identities(APISERVER_CERT) == [API_SERVER, "apiserver.example"]


@pytest.mark.parametrize(
    ("names", "refused"),
    [
        (frozenset(), False),  # no allowlist: any certificate the CA signed
        (frozenset({API_SERVER}), False),  # the CN
        (frozenset({"apiserver.example"}), False),  # a DNS SAN
        (frozenset({"10.0.0.1"}), True),  # IP SANs are no identity here
        (frozenset({"system:masters"}), True),  # nor is the organization
    ],
)
def test_the_allowlist_matches_cn_or_dns_san(names: frozenset[str], refused: bool) -> None:
    gate = ClientGate(names, WebhookMetrics().client_auth())
    refusal = gate.name_refusal(_Cert(APISERVER_CERT))  # type: ignore[arg-type]
    assert (refusal is not None) is refused
    if refusal is not None:
        assert refusal[0] == NAME


def test_refusals_are_all_counted_but_logged_once_per_peer_and_interval() -> None:
    metrics = WebhookMetrics()
    now = [0.0]
    gate = ClientGate(frozenset(), metrics.client_auth(), clock=lambda: now[0])
    assert gate.refused(MISSING, "10.1.1.1", "no certificate") is True
    assert gate.refused(MISSING, "10.1.1.1", "no certificate") is False
    assert gate.refused(UNTRUSTED, "10.1.1.1", "other CA") is False
    assert gate.refused(MISSING, "10.2.2.2", "no certificate") is True  # another peer
    now[0] = LOG_INTERVAL_S + 1
    assert gate.refused(MISSING, "10.1.1.1", "no certificate") is True
    exposition = metrics.exposition().decode()
    assert 'exportgate_webhook_client_certificates_refused_total{reason="missing"} 4.0' in (
        exposition
    )


def test_other_handshake_failures_are_not_client_refusals() -> None:
    assert handshake_refusal(TimeoutError()) is None
    assert handshake_refusal(ssl.SSLError(1, "[SSL: WRONG_VERSION_NUMBER] wrong version")) is None


# -- helpers -------------------------------------------------------------------------------------


def _exposition(hook: Webhook) -> str:
    return hook.metrics.exposition().decode()


def _reloads(hook: Webhook) -> float:
    for line in _exposition(hook).splitlines():
        if line.startswith('exportgate_webhook_client_ca_reloads_total{result="success"}'):
            return float(line.rpartition(" ")[2])
    return 0.0


async def _until(condition: Any, timeout: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "condition never met"
        await asyncio.sleep(0.05)


async def _until_answered(
    hook: Webhook, context: ssl.SSLContext, body: dict[str, Any], timeout: float = 5.0
) -> None:
    assert hook.server.port is not None
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        try:
            await _post(hook.server.port, context, body)
            return
        except (aiohttp.ClientError, ssl.SSLError, ConnectionError):
            assert asyncio.get_running_loop().time() < deadline, "new CA never trusted"
            await asyncio.sleep(0.1)
