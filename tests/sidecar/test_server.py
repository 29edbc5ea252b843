"""The gRPC server as callers and probes see it: health, reflection, Unix socket, mutual TLS.

Certificates are real (ECDSA, issued with `cryptography` by `tests.cluster.certs`), the TCP
listener is real, and a client without a certificate, or with one from another CA, must not get
an answer.
"""

from __future__ import annotations

import asyncio
import dataclasses
import stat
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
from exportgate_sidecar import ConfigError, ListenConfig, SidecarServer, serve_in_background
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (
    ProtoReflectionDescriptorDatabase,
)

from exportgate.v1 import policy_pb2 as pb
from exportgate.wire.client import PolicyClient, PolicyUnavailable, client_credentials
from tests.cluster.certs import CertificateAuthority
from tests.sidecar.builders import NOW, SidecarFiles, gpu_item, plain_item, policy_doc


async def test_health_is_serving_for_the_server_and_the_policy_service(
    client: PolicyClient,
) -> None:
    assert await client.health("") == "SERVING"
    assert await client.health() == "SERVING"


async def test_health_is_not_serving_until_every_file_reads(files: SidecarFiles) -> None:
    (files.policies / "policies.yaml").write_text("apiVersion: [broken\n")
    server = SidecarServer(files.config())
    await server.start()
    try:
        async with PolicyClient(server.unix_target, timeout=5) as client:
            await asyncio.sleep(0.3)  # several polls of the files
            assert await client.health() == "NOT_SERVING"
            with pytest.raises(PolicyUnavailable) as raised:
                await client.evaluate_wire([gpu_item("acme")])
            assert raised.value.code is grpc.StatusCode.UNAVAILABLE
            assert "no policy snapshot loaded yet" in raised.value.detail
            # The refused file is named with the reason, for the operator reading the log.
            assert any("policies.yaml" in k for k in server.store.errors)
            files.write_policies(policy_doc())
            await client.wait_serving(timeout=10)
            assert len((await client.evaluate_wire([gpu_item("acme")], at=NOW)).decisions) == 1
    finally:
        await server.stop(grace=0)
    assert not files.decision_records() or all(
        r["requestUid"] is None for r in files.decision_records()
    )


async def test_reflection_lists_the_policy_and_health_services(sidecar: SidecarServer) -> None:
    # grpc_reflection's client database is synchronous: give it a synchronous channel, and run
    # it in a thread so the server on this event loop can answer.
    with grpc.insecure_channel(sidecar.unix_target) as sync_channel:
        database = ProtoReflectionDescriptorDatabase(sync_channel)
        services = await asyncio.to_thread(database.get_services)
        assert "exportgate.v1.PolicyService" in services
        assert "grpc.health.v1.Health" in services
        described = await asyncio.to_thread(
            database.FindFileContainingSymbol, "exportgate.v1.PolicyService"
        )
        assert described.name == "exportgate/v1/policy.proto"


async def test_the_unix_socket_is_replaced_if_stale_and_removed_on_stop(
    files: SidecarFiles,
) -> None:
    import socket

    stale = socket.socket(socket.AF_UNIX)
    stale.bind(str(files.socket))  # what a crashed previous run leaves behind
    stale.close()
    async with serve_in_background(files.config()) as server:
        assert stat.S_ISSOCK(files.socket.stat().st_mode)
        async with PolicyClient(server.unix_target) as client:
            assert await client.health() == "SERVING"
    assert not files.socket.exists()


async def test_it_will_not_delete_a_file_that_is_not_a_socket(files: SidecarFiles) -> None:
    files.socket.write_text("precious")
    with pytest.raises(ConfigError, match="is not a socket"):
        async with serve_in_background(files.config()):
            pass
    assert files.socket.read_text() == "precious"


# --- TCP with mutual TLS ----------------------------------------------------------------------


@dataclass
class Pki:
    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path
    stranger_cert: Path  # a client certificate from a CA the sidecar does not trust
    stranger_key: Path


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    root = tmp_path_factory.mktemp("sidecar-pki")
    ca = CertificateAuthority("exportgate-sidecar-test-ca")
    (root / "ca.crt").write_bytes(ca.cert_pem)
    server_cert, server_key = ca.issue_loopback_server("exportgate-sidecar").write(root, "server")
    client_cert, client_key = ca.issue("exportgate-webhook", client=True).write(root, "client")
    other = CertificateAuthority("someone-else")
    stranger_cert, stranger_key = other.issue("intruder", client=True).write(root, "stranger")
    return Pki(
        root / "ca.crt",
        server_cert,
        server_key,
        client_cert,
        client_key,
        stranger_cert,
        stranger_key,
    )


@pytest.fixture
async def tls_sidecar(files: SidecarFiles, pki: Pki) -> AsyncIterator[SidecarServer]:
    listen = ListenConfig(
        unix_socket=None,
        tcp_address="127.0.0.1:0",
        tls_cert=pki.server_cert,
        tls_key=pki.server_key,
        tls_client_ca=pki.ca,
    )
    async with serve_in_background(files.config(listen=listen)) as server:
        yield server


async def test_a_client_with_a_certificate_from_the_ca_is_answered(
    tls_sidecar: SidecarServer, pki: Pki
) -> None:
    assert tls_sidecar.tcp_port and tls_sidecar.tcp_port > 0
    client = PolicyClient.mtls(
        tls_sidecar.tcp_target, ca=pki.ca, cert=pki.client_cert, key=pki.client_key, timeout=5
    )
    async with client:
        response = await client.evaluate_wire([gpu_item("acme"), gpu_item("pending")], at=NOW)
    assert [pb.Action.Name(d.action) for d in response.decisions] == ["ACTION_ALLOW", "ACTION_DENY"]


@pytest.mark.parametrize("who", ["no certificate", "certificate from another CA"])
async def test_a_client_without_a_trusted_certificate_is_refused(
    tls_sidecar: SidecarServer, pki: Pki, files: SidecarFiles, who: str
) -> None:
    if who == "no certificate":
        credentials = client_credentials(pki.ca)
    else:
        credentials = client_credentials(pki.ca, pki.stranger_cert, pki.stranger_key)
    async with PolicyClient(tls_sidecar.tcp_target, 3, credentials=credentials) as client:
        with pytest.raises(PolicyUnavailable) as raised:
            await client.evaluate_wire([plain_item("acme", name="intruder")])
    assert raised.value.code is grpc.StatusCode.UNAVAILABLE
    assert "intruder" not in {r["object"]["name"] for r in files.decision_records()}


async def test_a_client_that_does_not_trust_the_server_does_not_talk_to_it(
    tls_sidecar: SidecarServer, pki: Pki
) -> None:
    other = CertificateAuthority("not-the-sidecars-ca")
    wrong_trust = other.cert_pem
    credentials = grpc.ssl_channel_credentials(
        root_certificates=wrong_trust,
        private_key=pki.client_key.read_bytes(),
        certificate_chain=pki.client_cert.read_bytes(),
    )
    async with PolicyClient(tls_sidecar.tcp_target, 3, credentials=credentials) as client:
        with pytest.raises(PolicyUnavailable) as raised:
            await client.health()
    assert raised.value.code is grpc.StatusCode.UNAVAILABLE


async def test_the_serving_certificate_is_reloaded_when_its_files_change(
    files: SidecarFiles, pki: Pki, tmp_path: Path
) -> None:
    # The sidecar serves from copies so the test can rotate them (as cert-manager would).
    live = tmp_path / "live"
    live.mkdir()
    for p in (pki.ca, pki.server_cert, pki.server_key):
        (live / p.name).write_bytes(p.read_bytes())
    listen = ListenConfig(
        unix_socket=None,
        tcp_address="127.0.0.1:0",
        tls_cert=live / pki.server_cert.name,
        tls_key=live / pki.server_key.name,
        tls_client_ca=live / pki.ca.name,
    )
    async with serve_in_background(files.config(listen=listen)) as server:
        new_ca = CertificateAuthority("rotated-ca")
        new_cert, new_key = new_ca.issue_loopback_server("exportgate-sidecar").write(
            tmp_path / "new", "server"
        )
        new_client_cert, new_client_key = new_ca.issue("webhook", client=True).write(
            tmp_path / "new", "client"
        )
        (tmp_path / "new" / "ca.crt").write_bytes(new_ca.cert_pem)
        # Rotate: server key pair and client CA to the new CA, each file replaced atomically.
        for src, dst in (
            (new_cert, listen.tls_cert),
            (new_key, listen.tls_key),
            (tmp_path / "new" / "ca.crt", listen.tls_client_ca),
        ):
            assert dst is not None
            tmp = dst.with_suffix(".tmp")
            tmp.write_bytes(src.read_bytes())
            tmp.replace(dst)
        new_client = PolicyClient.mtls(
            server.tcp_target,
            ca=tmp_path / "new" / "ca.crt",
            cert=new_client_cert,
            key=new_client_key,
            timeout=3,
        )
        async with new_client:
            # gRPC asks for new credentials before each handshake, checked at most once a second.
            await new_client.wait_serving(timeout=10)


def test_tcp_without_mutual_tls_is_a_configuration_error(files: SidecarFiles, pki: Pki) -> None:
    config = files.config(
        listen=ListenConfig(unix_socket=None, tcp_address="127.0.0.1:0", tls_cert=pki.server_cert)
    )
    missing = "requires mutual TLS; missing --tls-key, --tls-client-ca"
    with pytest.raises(ConfigError, match=missing):
        config.validate()
    with pytest.raises(ConfigError, match="nothing to listen on"):
        dataclasses.replace(config, listen=ListenConfig(unix_socket=None)).validate()
