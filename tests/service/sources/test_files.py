"""The files source: polls, reloads on change, and survives how files really get replaced.

No explicit reload here: the sidecar has to notice by itself (poll interval 50 ms in tests).
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from exportgate_sidecar import SidecarServer, serve_in_background

from exportgate.v1 import policy_pb2 as pb
from exportgate.wire.client import PolicyClient
from tests.sidecar.builders import (
    NOW,
    SidecarFiles,
    ask_one,
    default_tenants,
    gpu_item,
    policy_doc,
    tenant_doc,
    write_yaml,
)


async def eventually(check: Callable[[], Awaitable[bool]], timeout: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not await check():
        assert asyncio.get_running_loop().time() < deadline, "condition not reached in time"
        await asyncio.sleep(0.02)


async def verification(client: PolicyClient, tenant: str) -> str:
    return (await ask_one(client, gpu_item(tenant), at=NOW)).verification


def _pending_verified() -> list[dict[str, Any]]:
    """The default tenants with "pending" verified (in SG)."""
    others = [d for d in default_tenants() if d["metadata"]["name"] != "pending"]
    return [*others, tenant_doc("pending", incorporation="SG")]


async def _verify_pending(client: PolicyClient, files: SidecarFiles) -> None:
    """Write the tenants with "pending" verified and wait until the sidecar serves it so."""
    files.write_tenants(*_pending_verified())

    async def verified() -> bool:
        return await verification(client, "pending") == "Verified"

    await eventually(verified)


async def test_an_edited_tenant_file_is_picked_up_without_a_nudge(
    client: PolicyClient, files: SidecarFiles
) -> None:
    assert await verification(client, "pending") == "Pending"
    await _verify_pending(client, files)


async def test_a_file_removed_from_a_watched_directory_takes_its_tenants_away(
    client: PolicyClient, sidecar: SidecarServer, files: SidecarFiles
) -> None:
    extra = write_yaml(files.tenants / "extra.yaml", [tenant_doc("zeta", incorporation="JP")])

    async def known() -> bool:
        return (await client.status()).tenants == 4

    await eventually(known)
    assert await verification(client, "zeta") == "Verified"
    extra.unlink()

    async def gone() -> bool:
        return (await client.status()).tenants == 3

    await eventually(gone)
    assert await verification(client, "zeta") == "Unbound"


async def test_hidden_and_foreign_files_in_a_directory_are_ignored(
    client: PolicyClient, files: SidecarFiles
) -> None:
    (files.tenants / ".tmp-editor-swap.yaml").write_text("not: [valid\n")
    (files.tenants / "README.txt").write_text("notes")
    await asyncio.sleep(0.3)
    assert (await client.status()).tenants == 3


async def test_a_configmap_style_symlink_swap_is_seen(files: SidecarFiles, tmp_path: Path) -> None:
    # Kubernetes mounts a ConfigMap as <dir>/tenants.yaml -> ..data/tenants.yaml, with
    # ..data -> ..<timestamp>; an update writes a new timestamped dir and swaps ..data.
    mount = tmp_path / "configmap"
    first = mount / "..2026_01_01"
    first.mkdir(parents=True)
    write_yaml(first / "tenants.yaml", default_tenants())
    (mount / "..data").symlink_to(first.name)
    (mount / "tenants.yaml").symlink_to("..data/tenants.yaml")

    config = files.config()
    config = dataclasses.replace(
        config, source=dataclasses.replace(config.source, tenant_paths=(mount,))
    )
    async with serve_in_background(config) as server, PolicyClient(server.unix_target) as client:
        assert await verification(client, "pending") == "Pending"
        second = mount / "..2026_01_02"
        second.mkdir()
        write_yaml(second / "tenants.yaml", _pending_verified())
        tmp_link = mount / "..data_tmp"
        tmp_link.symlink_to(second.name)
        os.replace(tmp_link, mount / "..data")

        async def verified() -> bool:
            return await verification(client, "pending") == "Verified"

        await eventually(verified)


async def test_a_policy_file_broken_then_fixed_is_served_again(
    client: PolicyClient, sidecar: SidecarServer, files: SidecarFiles
) -> None:
    (files.policies / "policies.yaml").write_text("apiVersion: exportgate.dev/v1alpha1\n[")

    async def refused() -> bool:
        return bool(sidecar.store.errors)

    await eventually(refused)
    # Still deciding with the last good policy meanwhile.
    assert (await ask_one(client, gpu_item("berlin"), at=NOW)).rule == "test-de-h100"
    files.write_policies(policy_doc("9.9.9"))

    async def accepted() -> bool:
        status = await client.status()
        return not sidecar.store.errors and status.policy_versions["test-policy"] == "9.9.9"

    await eventually(accepted)


async def _action(client: PolicyClient, tenant: str) -> tuple[str, str]:
    decision = await ask_one(client, gpu_item(tenant), at=NOW)
    return pb.Action.Name(decision.action), decision.message


async def test_a_broken_tenant_file_denies_its_tenants_and_only_them(
    client: PolicyClient, sidecar: SidecarServer, files: SidecarFiles
) -> None:
    """Fail closed, never stale: a revocation in a broken edit must not leave the old
    permissions in force, and other files keep being served."""
    write_yaml(files.tenants / "solo.yaml", [tenant_doc("solo", incorporation="SG")])

    async def solo_allowed() -> bool:
        return (await _action(client, "solo"))[0] == "ACTION_ALLOW"

    await eventually(solo_allowed)
    # The edit sets an invalid country code: the record does not parse.
    bad = tenant_doc("solo", incorporation="XX")
    write_yaml(files.tenants / "solo.yaml", [bad])

    async def solo_denied() -> bool:
        action, message = await _action(client, "solo")
        return action == "ACTION_DENY" and "Tenant record 'solo' is invalid" in message

    await eventually(solo_denied)
    assert "'XX' is not an assigned" in (await _action(client, "solo"))[1]
    assert any("solo.yaml" in origin for origin in sidecar.store.errors)
    # Other tenants, in this and other files, still change and serve.
    await _verify_pending(client, files)


async def test_a_deeply_nested_tenant_file_is_refused_without_freezing_the_others(
    client: PolicyClient, sidecar: SidecarServer, files: SidecarFiles
) -> None:
    (files.tenants / "deep.yaml").write_text("a: " + "[" * 5000 + "]" * 5000 + "\n")

    async def reported() -> bool:
        return any("MAX_DEPTH" in m for m in sidecar.store.errors.values())

    await eventually(reported)
    await _verify_pending(client, files)


async def test_the_sidecar_starts_with_a_broken_tenant_file(files: SidecarFiles) -> None:
    (files.tenants / "broken.yaml").write_text("a: " + "[" * 5000 + "]" * 5000 + "\n")
    async with (
        serve_in_background(files.config(), ready_timeout=20) as server,
        PolicyClient(server.unix_target, timeout=5.0) as c,
    ):
        assert (await _action(c, "acme"))[0] == "ACTION_ALLOW"
