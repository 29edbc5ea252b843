"""The serving certificate is reloaded when its files change, without dropping a request.

Rotation is real: new files from a different CA are written over the mounted ones while two
clients keep sending reviews, one opening a new TLS connection per request and one reusing a
keep-alive connection. Every request must succeed, and new handshakes must present the new
certificate within a few reload intervals.
"""

from __future__ import annotations

import asyncio
import os
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest
from cryptography import x509
from exportgate_sidecar.server import SidecarServer

from tests.cluster.certs import CertificateAuthority, KeyPair, ServingCert
from tests.webhook.conftest import Webhook, start_webhook, stop_webhook, webhook_config
from tests.webhook.helpers import ACME_NS, gpu_pod, plain_pod, review_for

# The listener and sessions meet the loop here: every test runs on the stdlib loop and on
# uvloop (the webhook's default, exportgate/eventloop.py).
pytestmark = pytest.mark.both_loops


@dataclass
class Rotation:
    cert_path: Path
    key_path: Path
    trust: Path  # both CAs: clients trust the old and the new issuer during the rotation
    old: KeyPair
    new: KeyPair

    def write(self, pair: KeyPair) -> None:
        # Like a Secret volume update: each file is replaced whole, never seen half-written.
        for path, data in ((self.key_path, pair.key_pem), (self.cert_path, pair.cert_pem)):
            temporary = path.with_suffix(".tmp")
            temporary.write_bytes(data)
            os.replace(temporary, path)


@pytest.fixture
def rotation(tmp_path: Path) -> Rotation:
    old_ca, new_ca = CertificateAuthority("old-ca"), CertificateAuthority("new-ca")
    old, new = old_ca.issue_loopback_server(), new_ca.issue_loopback_server()
    trust = tmp_path / "trust.pem"
    trust.write_bytes(old_ca.cert_pem + new_ca.cert_pem)
    cert_path, key_path = old.write(tmp_path / "mounted", "tls")
    return Rotation(cert_path, key_path, trust, old, new)


@pytest.fixture
async def rotating_webhook(sidecar: SidecarServer, rotation: Rotation) -> AsyncIterator[Webhook]:
    cert = ServingCert(b"", rotation.trust, rotation.cert_path, rotation.key_path)
    hook = await start_webhook(webhook_config(cert, sidecar.unix_target), cert)
    try:
        yield hook
    finally:
        await stop_webhook(hook)


async def _served_certificate(port: int, trust: Path) -> bytes:
    context = ssl.create_default_context(cafile=str(trust))
    _, writer = await asyncio.open_connection("127.0.0.1", port, ssl=context)
    try:
        ssl_object = writer.get_extra_info("ssl_object")
        der: bytes = ssl_object.getpeercert(binary_form=True)
        return der
    finally:
        writer.close()


def _der(pair: KeyPair) -> bytes:
    from cryptography.hazmat.primitives.serialization import Encoding

    return x509.load_pem_x509_certificate(pair.cert_pem).public_bytes(Encoding.DER)


async def test_rotation_under_load_drops_nothing(
    rotating_webhook: Webhook, rotation: Rotation
) -> None:
    port = rotating_webhook.server.port
    assert port is not None
    assert await _served_certificate(port, rotation.trust) == _der(rotation.old)

    context = ssl.create_default_context(cafile=str(rotation.trust))
    stop = asyncio.Event()
    results: dict[str, list[bool]] = {"fresh": [], "kept": []}

    async def client(name: str, force_close: bool) -> None:
        connector = aiohttp.TCPConnector(ssl=context, force_close=force_close)
        async with aiohttp.ClientSession(connector=connector) as http:
            n = 0
            while not stop.is_set():
                n += 1
                body = review_for(gpu_pod(f"{name}-{n}", ACME_NS) if n % 2 else plain_pod())
                try:
                    async with http.post(
                        rotating_webhook.base + "/validate", json=body
                    ) as response:
                        answer = await response.json()
                        results[name].append(
                            response.status == 200 and answer["response"]["allowed"] is True
                        )
                except aiohttp.ClientError:
                    results[name].append(False)

    clients = [
        asyncio.create_task(client("fresh", force_close=True)),
        asyncio.create_task(client("kept", force_close=False)),
    ]
    await asyncio.sleep(0.5)
    rotation.write(rotation.new)
    deadline = asyncio.get_running_loop().time() + 5
    while await _served_certificate(port, rotation.trust) != _der(rotation.new):
        assert asyncio.get_running_loop().time() < deadline, "new certificate never served"
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.5)  # keep the load on after the switch too
    stop.set()
    await asyncio.gather(*clients)

    for name, outcomes in results.items():
        assert len(outcomes) > 5, f"{name} client made only {len(outcomes)} requests"
        assert all(outcomes), f"{name}: {outcomes.count(False)} of {len(outcomes)} failed"
    exposition = rotating_webhook.metrics.exposition().decode()
    assert 'exportgate_webhook_certificate_reloads_total{result="success"} 1.0' in exposition


async def test_broken_new_pair_keeps_the_old_one(
    rotating_webhook: Webhook, rotation: Rotation
) -> None:
    port = rotating_webhook.server.port
    assert port is not None
    # A certificate whose key does not match: refused, the old pair stays in service.
    rotation.cert_path.write_bytes(rotation.new.cert_pem)
    await asyncio.sleep(0.5)
    assert await _served_certificate(port, rotation.trust) == _der(rotation.old)
    exposition = rotating_webhook.metrics.exposition().decode()
    assert 'exportgate_webhook_certificate_reloads_total{result="failure"} 1.0' in exposition
    response = await rotating_webhook.review("/validate", review_for(plain_pod()))
    assert response["allowed"] is True
    # Once the key arrives too, the new pair is served.
    rotation.key_path.write_bytes(rotation.new.key_pem)
    await asyncio.sleep(0.5)
    assert await _served_certificate(port, rotation.trust) == _der(rotation.new)
