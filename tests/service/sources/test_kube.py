"""The Kubernetes source against a real kube-apiserver (tests/cluster): the sidecar lists and
watches Tenant and ExportPolicy custom resources, using the operator's generated CRDs and the
generated `exportgate-policy-reader` ClusterRole, authenticated by its own client certificate.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from exportgate_sidecar import SidecarConfig, SidecarServer, serve_in_background

from exportgate.v1 import policy_pb2 as pb
from exportgate.wire.client import PolicyClient
from tests.cluster.local_cluster import LocalCluster
from tests.sidecar.builders import NOW, SidecarFiles, ask_one, gpu_item, policy_doc, tenant_doc

pytestmark = pytest.mark.cluster

REPO = Path(__file__).resolve().parents[3]
CRDS = [
    REPO / "operator" / "crds" / "exportgate.dev_tenants.yaml",
    REPO / "operator" / "crds" / "exportgate.dev_exportpolicies.yaml",
]
READER_ROLE = REPO / "operator" / "rbac" / "policy-reader-clusterrole.yaml"
SIDECAR_USER = "exportgate-sidecar-test"


@pytest.fixture(scope="module")
def cluster(kube_cluster: LocalCluster) -> Iterator[LocalCluster]:
    kube_cluster.install_crds(CRDS)
    kube_cluster.apply(READER_ROLE)
    yield kube_cluster
    # The API server is shared by the whole session: a ClusterRole left behind without Helm's
    # ownership labels makes `helm install` of the chart (tests/charts) refuse to adopt it.
    kube_cluster.delete("clusterrole", "exportgate-policy-reader")


def grant_reader(cluster: LocalCluster, user: str) -> None:
    cluster.apply(
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": f"{user}-reads-policies"},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": "exportgate-policy-reader",
            },
            "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": user}],
        }
    )


@dataclass
class Objects:
    """Cluster-scoped objects of one test, with unique names, deleted afterwards."""

    cluster: LocalCluster
    suffix: str
    created: list[tuple[str, str]] = dataclasses.field(default_factory=list)

    def name(self, base: str) -> str:
        return f"{base}-{self.suffix}"

    def apply(self, doc: dict[str, Any]) -> None:
        self.cluster.apply(doc)
        kind = {"Tenant": "tenants.exportgate.dev", "ExportPolicy": "exportpolicies.exportgate.dev"}
        entry = (kind[doc["kind"]], doc["metadata"]["name"])
        if entry not in self.created:
            self.created.append(entry)

    def delete(self, kind: str, name: str) -> None:
        self.cluster.delete(kind, name, wait=True)


@pytest.fixture
def objects(cluster: LocalCluster) -> Iterator[Objects]:
    found = Objects(cluster, uuid.uuid4().hex[:6])
    yield found
    for kind, name in found.created:
        cluster.delete(kind, name)


def kube_config(files: SidecarFiles, kubeconfig: Path) -> SidecarConfig:
    config = files.config()
    return dataclasses.replace(
        config,
        source=dataclasses.replace(
            config.source,
            kind="kube",
            tenant_paths=(),
            policy_paths=(),
            kubeconfig=kubeconfig,
            retry_backoff=0.2,
            retry_backoff_max=1.0,
        ),
    )


@pytest.fixture
async def kube_sidecar(
    cluster: LocalCluster, files: SidecarFiles, objects: Objects
) -> AsyncIterator[tuple[SidecarServer, PolicyClient]]:
    grant_reader(cluster, SIDECAR_USER)
    objects.apply(tenant_doc(objects.name("berlin"), incorporation="DE"))
    objects.apply(policy_doc("1.0.0", name=objects.name("policy")))
    config = kube_config(files, cluster.user_kubeconfig(SIDECAR_USER))
    async with (
        serve_in_background(config, ready_timeout=60) as server,
        PolicyClient(server.unix_target, timeout=10) as client,
    ):
        yield server, client


async def eventually(check: Callable[[], Awaitable[bool]], timeout: float = 20.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not await check():
        assert asyncio.get_running_loop().time() < deadline, "condition not reached in time"
        await asyncio.sleep(0.05)


async def test_tenants_and_policies_come_from_the_custom_resources(
    kube_sidecar: tuple[SidecarServer, PolicyClient], objects: Objects
) -> None:
    _, client = kube_sidecar
    tenant = objects.name("berlin")
    decision = await ask_one(client, gpu_item(tenant), at=NOW)
    assert pb.Action.Name(decision.action) == "ACTION_WARN"
    assert decision.rule == "test-de-h100" and decision.verification == "Verified"
    assert decision.policy_versions[objects.name("policy")] == "1.0.0"
    status = await client.status()
    assert status.tenants >= 1 and status.policies >= 1


async def test_a_tenant_change_in_the_cluster_changes_the_next_decisions(
    kube_sidecar: tuple[SidecarServer, PolicyClient], objects: Objects
) -> None:
    server, client = kube_sidecar
    tenant = objects.name("berlin")
    # Warm the cache, so that a stale entry would show.
    for i in range(2):
        await ask_one(client, gpu_item(tenant, name=f"w{i}"), at=NOW)
    assert server.metrics.cache_hits._value.get() >= 1

    objects.apply(tenant_doc(tenant, incorporation="DE", state="Revoked"))

    async def revoked() -> bool:
        decision = await ask_one(client, gpu_item(tenant), at=NOW)
        return decision.verification == "Revoked"

    await eventually(revoked)
    decision = await ask_one(client, gpu_item(tenant), at=NOW)
    assert pb.Action.Name(decision.action) == "ACTION_DENY"
    assert decision.rule == "kyc-unverified-accelerator"

    objects.delete("tenants.exportgate.dev", tenant)

    async def unbound() -> bool:
        return (await ask_one(client, gpu_item(tenant), at=NOW)).verification == "Unbound"

    await eventually(unbound)


async def test_a_policy_change_in_the_cluster_is_a_new_policy_version(
    kube_sidecar: tuple[SidecarServer, PolicyClient], objects: Objects, files: SidecarFiles
) -> None:
    _, client = kube_sidecar
    tenant = objects.name("berlin")
    before = await ask_one(client, gpu_item(tenant), at=NOW)
    objects.apply(policy_doc("2.0.0", action="deny", name=objects.name("policy")))

    async def updated() -> bool:
        status = await client.status()
        return bool(status.policy_versions.get(objects.name("policy")) == "2.0.0")

    await eventually(updated)
    after = await ask_one(client, gpu_item(tenant), at=NOW)
    assert pb.Action.Name(after.action) == "ACTION_DENY" and after.rule == "test-de-h100"
    assert after.policy_version != before.policy_version
    assert after.policy_versions[objects.name("policy")] == "2.0.0"
    # The decision log records when the new version came into force.
    switches = [r for r in files.log_records() if r["type"] == "policy-snapshot"]
    assert any(
        r["previousPolicyVersion"] == before.policy_version
        and r["policyVersion"] == after.policy_version
        for r in switches
    )


async def test_without_read_access_it_does_not_serve_until_granted(
    cluster: LocalCluster, files: SidecarFiles, objects: Objects
) -> None:
    user = f"sidecar-without-rbac-{objects.suffix}"
    config = kube_config(files, cluster.user_kubeconfig(user))
    server = SidecarServer(config)
    await server.start()
    try:
        async with PolicyClient(server.unix_target, timeout=5) as client:
            await asyncio.sleep(1.0)  # several refused list attempts
            assert await client.health() == "NOT_SERVING"
            grant_reader(cluster, user)
            await client.wait_serving(timeout=30)
            assert (await client.status()).policy_version
    finally:
        await server.stop(grace=0)
        cluster.delete("clusterrolebinding", f"{user}-reads-policies")


async def test_a_status_update_by_the_operator_keeps_the_cached_decisions(
    kube_sidecar: tuple[SidecarServer, PolicyClient], objects: Objects, cluster: LocalCluster
) -> None:
    server, client = kube_sidecar
    tenant = objects.name("berlin")
    await ask_one(client, gpu_item(tenant, name="a"), at=NOW)
    generation = server.metrics.snapshot_generation._value.get()
    # The operator writes status often; it bumps resourceVersion but changes no decision.
    cluster.kubectl(
        "patch", "tenants.exportgate.dev", tenant, "--subresource=status", "--type=merge",
        "-p", '{"status": {"verification": "Verified", "observedGeneration": 1}}',
    )  # fmt: skip
    # A later spec change proves the watch delivered the status event before it.
    other = objects.name("marker")
    objects.apply(tenant_doc(other, incorporation="FR"))

    async def marker_seen() -> bool:
        return (await ask_one(client, gpu_item(other), at=NOW)).verification == "Verified"

    await eventually(marker_seen)
    assert server.metrics.snapshot_generation._value.get() > generation
    hits = server.metrics.cache_hits._value.get()
    await ask_one(client, gpu_item(tenant, name="b"), at=NOW)
    assert server.metrics.cache_hits._value.get() == hits + 1


async def test_a_stored_tenant_that_does_not_parse_is_denied_by_every_replica_and_the_operator(
    cluster: LocalCluster, files: SidecarFiles, objects: Objects
) -> None:
    """Fail closed, never stale (issue 11). The edit passes the CRD's schema (its date-time
    format takes year 0, which the parser cannot represent) but not the parser, as a record
    stored while the webhook was off would. The running replica stops using the superseded
    record, a replica restarted mid-test reaches the same verdict from the stored object alone,
    and so does the operator's re-audit (same core function, from the object the API server
    returns)."""
    from exportgate_operator.world import World

    from exportgate.core.records import INVALID_RECORD_RULE, invalid_record_decision
    from exportgate.wire.convert import item_to_workload

    grant_reader(cluster, SIDECAR_USER)
    tenant = objects.name("solo")
    objects.apply(tenant_doc(tenant, incorporation="SG"))
    objects.apply(policy_doc("1.0.0", name=objects.name("policy")))
    config = kube_config(files, cluster.user_kubeconfig(SIDECAR_USER))

    async def verdict(client: PolicyClient) -> tuple[str, str, str]:
        decision = await ask_one(client, gpu_item(tenant), at=NOW)
        return pb.Action.Name(decision.action), decision.rule, decision.message

    async with (
        serve_in_background(config, ready_timeout=60) as first,
        PolicyClient(first.unix_target, timeout=10) as client,
    ):

        async def allowed() -> bool:
            return (await verdict(client))[0] == "ACTION_ALLOW"

        await eventually(allowed)
        licence = {"id": "L-1", "covers": ["3A090.a"], "countries": ["SG"],
                   "expiresAt": "0000-01-01T00:00:00Z"}  # fmt: skip
        objects.apply(tenant_doc(tenant, incorporation="SG", licences=[licence]))

        async def invalid() -> bool:
            return (await verdict(client))[1] == INVALID_RECORD_RULE

        await eventually(invalid)
        running = await verdict(client)
    # The replica restarts: it never saw the good version.
    async with (
        serve_in_background(config, ready_timeout=60) as second,
        PolicyClient(second.unix_target, timeout=10) as client,
    ):
        restarted = await verdict(client)
    assert running[0] == restarted[0] == "ACTION_DENY"
    assert running[1] == restarted[1] == INVALID_RECORD_RULE
    assert f"Tenant record '{tenant}' is invalid" in restarted[2]
    assert "0000-01-01T00:00:00Z" in restarted[2]

    # The operator, from the same stored object, through its own world snapshot.
    stored = cluster.kubectl("get", "tenant", tenant, "-o", "json")
    world = World()
    world.set_tenant(json.loads(stored.stdout))
    snapshot = world.snapshot
    assert tenant not in snapshot.tenants
    workload = item_to_workload(gpu_item(tenant))
    decision = invalid_record_decision(
        snapshot.engine, workload, tenant, snapshot.invalid_tenants[tenant], NOW
    )
    assert (decision.action.value, decision.rule_id) == ("deny", INVALID_RECORD_RULE)
