"""The decision cache: reused for repeated questions, bounded in size and time, and emptied of a
tenant's entries the moment that tenant changes.

The end-to-end tests go through the real sidecar (files source, Unix socket); the bounds are
checked on `DecisionCache` itself, with a clock the test moves (cachetools' own timer hook)
instead of sleeping through a real TTL.
"""

from __future__ import annotations

from datetime import timedelta

from exportgate_sidecar import CacheConfig, SidecarServer

from exportgate.core.engine import PolicyEngine
from exportgate.service.cache import DecisionCache
from exportgate.wire.client import PolicyClient
from exportgate.world.snapshot import Snapshot, TenantEntry
from tests.core.builders import make_tenant, pinned, workload
from tests.sidecar.builders import (
    NOW,
    SidecarFiles,
    actions,
    ask_one,
    default_tenants,
    gpu_item,
    tenant_doc,
)


def counters(server: SidecarServer) -> tuple[float, float]:
    m = server.metrics
    return m.cache_hits._value.get(), m.cache_misses._value.get()


async def test_replicas_share_one_cached_decision_each_restamped(
    client: PolicyClient, sidecar: SidecarServer
) -> None:
    first = await ask_one(client, gpu_item("berlin", name="replica-0"), at=NOW)
    assert counters(sidecar) == (0, 1)
    second = await ask_one(client, gpu_item("berlin", name="replica-1"), at=NOW)
    assert counters(sidecar) == (1, 1)
    # Same answer, but its own log record: every admission is recorded, cached or not.
    assert (second.action, second.rule, second.message) == (first.action, first.rule, first.message)
    assert second.decision_id != first.decision_id


async def test_a_tenant_change_reaches_the_very_next_decision(
    client: PolicyClient, sidecar: SidecarServer, files: SidecarFiles
) -> None:
    for name in ("a", "b"):
        await ask_one(client, gpu_item("acme", name=name), at=NOW)
        await ask_one(client, gpu_item("berlin", name=name), at=NOW)
    assert counters(sidecar) == (2, 2)
    assert len(sidecar.cache) == 2

    # KYC revokes acme: rewrite its record, and have the sidecar re-read now (what SIGHUP does;
    # the poll would find it within the poll interval anyway).
    others = [d for d in default_tenants() if d["metadata"]["name"] != "acme"]
    files.write_tenants(tenant_doc("acme", incorporation="SG", state="Revoked"), *others)
    await sidecar.reload()

    # acme's entry is gone, berlin's is untouched.
    assert len(sidecar.cache) == 1
    decision = await ask_one(client, gpu_item("acme", name="c"), at=NOW)
    assert actions([decision]) == ["ACTION_DENY"]
    assert decision.verification == "Revoked"
    await ask_one(client, gpu_item("berlin", name="c"), at=NOW)
    assert counters(sidecar) == (3, 3)


async def test_a_policy_change_empties_the_cache(
    client: PolicyClient, sidecar: SidecarServer, files: SidecarFiles
) -> None:
    from tests.sidecar.builders import policy_doc

    before = await ask_one(client, gpu_item("berlin"), at=NOW)
    files.write_policies(policy_doc("2.0.0", action="deny"))
    await sidecar.reload()
    assert len(sidecar.cache) == 0
    after = await ask_one(client, gpu_item("berlin"), at=NOW)
    assert actions([before, after]) == ["ACTION_WARN", "ACTION_DENY"]
    assert after.policy_version != before.policy_version
    assert after.policy_versions["test-policy"] == "2.0.0"


async def test_a_cached_allow_never_outlives_the_tenants_verification(
    client: PolicyClient, sidecar: SidecarServer
) -> None:
    expiry = NOW.replace(year=2027, month=1, day=1, hour=0)  # acme's expiresAt
    ok = await ask_one(client, gpu_item("acme"), at=expiry - timedelta(seconds=1))
    late = await ask_one(client, gpu_item("acme"), at=expiry)
    assert actions([ok, late]) == ["ACTION_ALLOW", "ACTION_DENY"]
    assert counters(sidecar) == (0, 2)


# --- the cache object's bounds --------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _snapshot() -> Snapshot:
    engine = PolicyEngine.build()
    acme = make_tenant("acme")
    return Snapshot(
        engine=engine,
        tenants={"acme": TenantEntry(acme, "test", 1)},
        policy_count=0,
        generation=1,
        loaded_at=NOW,
    )


def test_entries_expire_after_the_ttl() -> None:
    clock = Clock()
    cache = DecisionCache(CacheConfig(max_entries=10, ttl=30), timer=clock)
    snap = _snapshot()
    w = workload(pinned("NVIDIA-H100-80GB-HBM3"))
    tenant = snap.tenants["acme"].tenant
    key = cache.key(snap, "acme", 1, w)
    cache.put(key, snap.engine.evaluate(w, tenant, NOW), tenant, NOW)
    clock.now += 29
    assert cache.get(key, w, NOW) is not None
    clock.now += 2
    assert cache.get(key, w, NOW) is None


def test_the_cache_is_bounded() -> None:
    cache = DecisionCache(CacheConfig(max_entries=3, ttl=60))
    snap = _snapshot()
    tenant = snap.tenants["acme"].tenant
    for i in range(10):
        w = workload(pinned("NVIDIA-H100-80GB-HBM3"), namespace=f"ns-{i}")
        cache.put(cache.key(snap, "acme", 1, w), snap.engine.evaluate(w, tenant, NOW), tenant, NOW)
    assert len(cache) == 3


def test_size_zero_disables_the_cache() -> None:
    cache = DecisionCache(CacheConfig(max_entries=0, ttl=60))
    snap = _snapshot()
    w = workload(pinned("NVIDIA-H100-80GB-HBM3"))
    tenant = snap.tenants["acme"].tenant
    key = cache.key(snap, "acme", 1, w)
    cache.put(key, snap.engine.evaluate(w, tenant, NOW), tenant, NOW)
    assert cache.get(key, w, NOW) is None and len(cache) == 0


def test_a_key_is_equal_to_the_same_question_and_hashed_once() -> None:
    snap = _snapshot()
    w = workload(pinned("NVIDIA-H100-80GB-HBM3"))
    again = workload(pinned("NVIDIA-H100-80GB-HBM3"))
    key = DecisionCache.key(snap, "acme", 1, w)
    assert key == DecisionCache.key(snap, "acme", 1, again)
    assert hash(key) == hash(DecisionCache.key(snap, "acme", 1, again))
    assert key != DecisionCache.key(snap, "acme", 2, w)  # another tenant revision
    assert key != DecisionCache.key(snap, "other", 1, w)
    assert key.tenant == "acme"
    assert key != key.parts  # only keys compare equal to keys


def test_a_tenant_change_drops_only_that_tenants_entries() -> None:
    cache = DecisionCache(CacheConfig(max_entries=10, ttl=60))
    snap = _snapshot()
    tenant = snap.tenants["acme"].tenant
    w = workload(pinned("NVIDIA-H100-80GB-HBM3"))
    for name in ("acme", "other"):
        cache.put(cache.key(snap, name, 1, w), snap.engine.evaluate(w, tenant, NOW), tenant, NOW)
    assert cache.invalidate_tenants(["acme"]) == 1
    assert cache.get(cache.key(snap, "acme", 1, w), w, NOW) is None
    assert cache.get(cache.key(snap, "other", 1, w), w, NOW) is not None
