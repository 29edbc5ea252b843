"""Snapshots swap atomically: under a stream of policy and tenant changes, every response is
decided by exactly one snapshot, and every decision (and its log record) names that snapshot.
"""

from __future__ import annotations

import asyncio

from exportgate_sidecar import SidecarServer

from exportgate.v1 import policy_pb2 as pb
from exportgate.wire.client import PolicyClient
from tests.sidecar.builders import (
    NOW,
    SidecarFiles,
    ask_one,
    default_tenants,
    gpu_item,
    plain_item,
    policy_doc,
    tenant_doc,
)


async def test_no_response_mixes_policy_versions_while_policies_change(
    client: PolicyClient, sidecar: SidecarServer, files: SidecarFiles
) -> None:
    responses: list[pb.EvaluateResponse] = []
    stop = asyncio.Event()

    async def change_policies() -> None:
        for n in range(1, 16):
            files.write_policies(policy_doc(f"1.0.{n}", action="warn" if n % 2 else "deny"))
            # Tenants change too, so both kinds of swap happen under load.
            state = "Verified" if n % 2 else "Pending"
            others = [d for d in default_tenants() if d["metadata"]["name"] != "berlin"]
            files.write_tenants(tenant_doc("berlin", incorporation="DE", state=state), *others)
            await sidecar.reload()
            await asyncio.sleep(0.01)
        stop.set()

    async def ask(worker: int) -> None:
        i = 0
        while not stop.is_set():
            items = [
                gpu_item(t, name=f"w{worker}-{i}-{j}")
                for j, t in enumerate(["acme", "berlin", "pending", "nobody"] * 5)
            ] + [plain_item("berlin", name=f"p{worker}-{i}")]
            responses.append(await client.evaluate_wire(items, at=NOW))
            i += 1

    await asyncio.gather(change_policies(), *(ask(w) for w in range(4)))

    seen_versions = set()
    pack_of: dict[str, str] = {}
    for response in responses:
        assert {d.policy_version for d in response.decisions} == {response.policy_version}
        packs = {d.policy_versions["test-policy"] for d in response.decisions}
        assert len(packs) == 1, f"one response, several packs: {packs}"
        # The digest identifies one policy set: never two pack versions under one digest.
        assert pack_of.setdefault(response.policy_version, packs.pop()) in {
            d.policy_versions["test-policy"] for d in response.decisions
        }
        seen_versions.add(response.policy_version)
    assert len(responses) > 4 and len(seen_versions) > 1, "the test must span several swaps"

    logged = {r["id"]: r for r in files.decision_records()}
    for response in responses:
        assert {logged[d.decision_id]["policyVersion"] for d in response.decisions} == {
            response.policy_version
        }


async def test_a_broken_change_keeps_the_last_good_snapshot(
    client: PolicyClient, sidecar: SidecarServer, files: SidecarFiles
) -> None:
    before = await client.status()
    (files.policies / "policies.yaml").write_text("kind: ExportPolicy\nspec: [\n")
    await sidecar.reload()
    after = await client.status()
    assert after.policy_version == before.policy_version
    assert any("policies.yaml" in origin for origin in sidecar.store.errors)
    assert "still using the last good version" in next(iter(sidecar.store.errors.values()))
    decision = await ask_one(client, gpu_item("berlin"), at=NOW)
    assert decision.rule == "test-de-h100"

    files.write_policies(policy_doc("3.0.0"))
    await sidecar.reload()
    assert not sidecar.store.errors
    assert (await client.status()).policy_versions["test-policy"] == "3.0.0"


async def test_a_tenant_defined_twice_is_denied_alone_and_the_others_carry_on(
    client: PolicyClient, sidecar: SidecarServer, files: SidecarFiles
) -> None:
    from tests.sidecar.builders import write_yaml

    write_yaml(files.tenants / "more.yaml", [tenant_doc("acme", incorporation="CN")])
    await sidecar.reload()
    assert any("defined twice" in m for m in sidecar.store.errors.values())
    decision = await ask_one(client, gpu_item("acme"), at=NOW)
    assert pb.Action.Name(decision.action) == "ACTION_DENY"  # neither definition is trusted
    assert "Tenant record 'acme' is invalid" in decision.message
    assert "defined twice" in decision.message
    # Another tenant's change in the same reload is served.
    others = [d for d in default_tenants() if d["metadata"]["name"] != "berlin"]
    files.write_tenants(tenant_doc("berlin", incorporation="DE", state="Pending"), *others)
    await sidecar.reload()
    berlin = await ask_one(client, gpu_item("berlin"), at=NOW)
    assert "verif" in berlin.message.lower()

    (files.tenants / "more.yaml").unlink()
    await sidecar.reload()
    assert not any("defined twice" in m for m in sidecar.store.errors.values())
    again = await ask_one(client, gpu_item("acme"), at=NOW)
    assert pb.Action.Name(again.action) == "ACTION_ALLOW"
