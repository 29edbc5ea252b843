"""The gRPC server as callers and probes see it: health, reflection, Unix socket, mutual TLS.

Certificates are real (ECDSA, issued with `cryptography` by `tests.cluster.certs`), the TCP
listener is real, and a client without a certificate, or with one from another CA, must not get
an answer.
"""

from __future__ import annotations

import asyncio
import stat

import grpc
import pytest
from exportgate_sidecar import ConfigError, ListenConfig, SidecarServer, serve_in_background
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (
    ProtoReflectionDescriptorDatabase,
)

from exportgate.wire.client import PolicyClient, PolicyUnavailable
from tests.sidecar.builders import NOW, SidecarFiles, gpu_item, policy_doc


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
                await client.evaluate([gpu_item("acme")])
            assert raised.value.code is grpc.StatusCode.UNAVAILABLE
            assert "no policy snapshot loaded yet" in raised.value.detail
            # The refused file is named with the reason, for the operator reading the log.
            assert any("policies.yaml" in k for k in server.store.errors)
            files.write_policies(policy_doc())
            await client.wait_serving(timeout=10)
            assert len(await client.evaluate([gpu_item("acme")], at=NOW)) == 1
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


def test_a_sidecar_without_a_socket_is_a_configuration_error(files: SidecarFiles) -> None:
    config = files.config(listen=ListenConfig(unix_socket=None))
    config.validate()  # the service itself needs no socket (embedded in the webhook)
    with pytest.raises(ConfigError, match="nothing to listen on"):
        SidecarServer(config)
