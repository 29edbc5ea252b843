"""Decision reuse over a real Unix socket: an admission's second phase gets the first phase's
decision (same id, no second log record) only for the very same question; any difference, and any
id the sidecar did not hand out itself, gets a fresh, logged decision."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from exportgate_sidecar import SidecarServer, serve_in_background

from exportgate.core.engine import PolicyEngine
from exportgate.service.recent import RecentDecisions
from exportgate.v1 import policy_pb2 as pb
from exportgate.wire.client import PolicyClient
from exportgate.wire.convert import item_to_question
from exportgate.world.snapshot import Snapshot, TenantEntry
from tests.core.builders import make_tenant
from tests.sidecar.builders import (
    NOW,
    SidecarFiles,
    actions,
    ask_one,
    default_tenants,
    gpu_item,
    policy_doc,
    tenant_doc,
    write_sidecar_files,
)


def again(item: pb.EvaluateItem, decision_id: str) -> pb.EvaluateItem:
    """The same item, naming `decision_id` for reuse (what the validating phase sends)."""
    copy = pb.EvaluateItem()
    copy.CopyFrom(item)
    copy.reuse_decision_id = decision_id
    return copy


def counted(sidecar: SidecarServer, name: str) -> float:
    value = sidecar.metrics.registry.get_sample_value(name)
    return value or 0.0


async def test_the_same_item_gets_the_same_decision_and_no_second_record(
    client: PolicyClient, sidecar: SidecarServer, files: SidecarFiles
) -> None:
    item = gpu_item("acme", name="one", request_uid="mutate-uid")
    first = await ask_one(client, item, at=NOW)
    second = await ask_one(client, again(item, first.decision_id), at=NOW)

    assert not first.reused and second.reused
    assert second.decision_id == first.decision_id
    assert actions([first, second]) == ["ACTION_ALLOW", "ACTION_ALLOW"]
    assert second.policy_version == first.policy_version
    assert second.accelerator_class == first.accelerator_class == "3A090.a"
    assert [r["id"] for r in files.decision_records()] == [first.decision_id]
    assert counted(sidecar, "exportgate_sidecar_decisions_reused_total") == 1


async def test_a_generate_name_object_keeps_its_decision_once_the_api_server_names_it(
    client: PolicyClient, files: SidecarFiles
) -> None:
    # The mutating phase sees "job-*" and no uid; the API server fills both in before the
    # validating phase.
    mutating = gpu_item("acme", name="job-*")
    first = await ask_one(client, mutating, at=NOW)
    validating = again(mutating, first.decision_id)
    validating.object.name = "job-x7k2p"
    validating.object.uid = "0b6f5b3e-uid"
    second = await ask_one(client, validating, at=NOW)
    assert second.reused and second.decision_id == first.decision_id

    other = again(mutating, first.decision_id)
    other.object.name = "other-x7k2p"  # not a name "job-*" can become
    third = await ask_one(client, other, at=NOW)
    assert not third.reused and third.decision_id != first.decision_id
    assert len(files.decision_records()) == 2


def _changes() -> list[tuple[str, pb.EvaluateItem]]:
    base = gpu_item("acme", name="one")
    cases: list[tuple[str, pb.EvaluateItem]] = []

    def case(label: str, item: pb.EvaluateItem) -> None:
        cases.append((label, item))

    case("another object", gpu_item("acme", name="two"))
    case("another namespace", gpu_item("acme", name="one", namespace="other"))
    case("another kind", gpu_item("acme", name="one", kind="Job"))
    case("another tenant", gpu_item("berlin", name="one"))
    case("another GPU (spec changed)", gpu_item("acme", name="one", label="NVIDIA-L4"))
    more = pb.EvaluateItem()
    more.CopyFrom(base)
    more.accelerators[0].count = 8
    case("more GPUs", more)
    model = pb.EvaluateItem()
    model.CopyFrom(base)
    model.models.add(reference="meta-llama/Llama-3.1-8B", source="spec.containers[0].args")
    case("a model added", model)
    user = pb.EvaluateItem()
    user.CopyFrom(base)
    user.user.username = "mallory"
    case("another user", user)
    update = pb.EvaluateItem()
    update.CopyFrom(base)
    update.operation = pb.OPERATION_UPDATE
    case("another operation", update)
    uid = pb.EvaluateItem()
    uid.CopyFrom(base)
    uid.object.uid = "someone-else"
    uid.operation = pb.OPERATION_UPDATE
    case("another uid", uid)
    return cases


@pytest.mark.parametrize(("label", "changed"), _changes(), ids=[c[0] for c in _changes()])
async def test_a_different_item_naming_the_id_gets_a_fresh_logged_decision(
    client: PolicyClient,
    sidecar: SidecarServer,
    files: SidecarFiles,
    label: str,
    changed: pb.EvaluateItem,
) -> None:
    base = gpu_item("acme", name="one")
    if changed.operation == pb.OPERATION_UPDATE and changed.object.uid:
        base.operation = pb.OPERATION_UPDATE
        base.object.uid = "the-real-uid"
    first = await ask_one(client, base, at=NOW)
    second = await ask_one(client, again(changed, first.decision_id), at=NOW)

    assert not second.reused, label
    assert second.decision_id != first.decision_id, label
    ids = [r["id"] for r in files.decision_records()]
    assert ids == [first.decision_id, second.decision_id], label
    assert counted(sidecar, "exportgate_sidecar_decision_reuse_refused_total") == 1


async def test_an_unknown_or_forged_id_gets_a_fresh_decision(
    client: PolicyClient, files: SidecarFiles
) -> None:
    item = again(gpu_item("pending", name="p"), "01a20808-e8d0-728f-9f0a-ed659f0dda57")
    decision = await ask_one(client, item, at=NOW)
    assert not decision.reused
    assert decision.decision_id != item.reuse_decision_id
    assert actions([decision]) == ["ACTION_DENY"]
    assert [r["id"] for r in files.decision_records()] == [decision.decision_id]


async def test_a_policy_change_in_between_gets_a_fresh_decision(
    client: PolicyClient, sidecar: SidecarServer, files: SidecarFiles
) -> None:
    item = gpu_item("berlin", name="b")
    first = await ask_one(client, item, at=NOW)
    files.write_policies(policy_doc("2.0.0", action="deny"))
    await sidecar.reload()
    second = await ask_one(client, again(item, first.decision_id), at=NOW)

    assert actions([first, second]) == ["ACTION_WARN", "ACTION_DENY"]
    assert not second.reused and second.decision_id != first.decision_id
    assert second.policy_version != first.policy_version
    assert len(sidecar.recent) == 1  # the old snapshot's entries were dropped


async def test_a_tenant_change_in_between_gets_a_fresh_decision(
    client: PolicyClient, sidecar: SidecarServer, files: SidecarFiles
) -> None:
    item = gpu_item("acme", name="a")
    first = await ask_one(client, item, at=NOW)
    tenants = [t for t in default_tenants() if t["metadata"]["name"] != "acme"]
    files.write_tenants(tenant_doc("acme", incorporation="SG", state="Revoked"), *tenants)
    await sidecar.reload()
    second = await ask_one(client, again(item, first.decision_id), at=NOW)

    assert actions([first, second]) == ["ACTION_ALLOW", "ACTION_DENY"]
    assert not second.reused and second.verification == "Revoked"


async def test_a_tenant_that_expired_in_between_gets_a_fresh_decision(
    client: PolicyClient, files: SidecarFiles
) -> None:
    expiry = NOW.replace(year=2027, month=1, day=1, hour=0)  # acme's expiresAt
    item = gpu_item("acme", name="a")
    first = await ask_one(client, item, at=expiry - timedelta(milliseconds=5))
    second = await ask_one(client, again(item, first.decision_id), at=expiry)

    assert actions([first, second]) == ["ACTION_ALLOW", "ACTION_DENY"]
    assert not second.reused and second.decision_id != first.decision_id
    assert second.verification == "Expired"
    assert len(files.decision_records()) == 2


async def test_another_replica_does_not_know_the_id_and_decides_afresh(
    client: PolicyClient, short_dir: Path, tmp_path: Path
) -> None:
    (tmp_path / "replica").mkdir()
    other = write_sidecar_files(tmp_path / "replica", socket=short_dir / "replica.sock")
    item = gpu_item("acme", name="r")
    first = await ask_one(client, item, at=NOW)
    async with (
        serve_in_background(other.config(), ready_timeout=20) as replica,
        PolicyClient(replica.unix_target, timeout=5.0) as replica_client,
    ):
        second = await ask_one(replica_client, again(item, first.decision_id), at=NOW)
    assert not second.reused and second.decision_id != first.decision_id
    assert [r["id"] for r in other.decision_records()] == [second.decision_id]


@pytest.fixture
async def no_reuse(files: SidecarFiles) -> AsyncIterator[PolicyClient]:
    async with (
        serve_in_background(files.config(reuse_window=0.0), ready_timeout=20) as server,
        PolicyClient(server.unix_target, timeout=5.0) as c,
    ):
        yield c


async def test_a_zero_reuse_window_always_decides_afresh(
    no_reuse: PolicyClient, files: SidecarFiles
) -> None:
    item = gpu_item("acme", name="z")
    first = await ask_one(no_reuse, item, at=NOW)
    second = await ask_one(no_reuse, again(item, first.decision_id), at=NOW)
    assert not second.reused and len(files.decision_records()) == 2


async def test_a_batch_mixes_reused_and_fresh_decisions_in_order(
    client: PolicyClient, files: SidecarFiles
) -> None:
    a, b = gpu_item("acme", name="a"), gpu_item("berlin", name="b")
    first = await client.evaluate_wire([a, b], at=NOW)
    ids = [d.decision_id for d in first.decisions]
    second = await client.evaluate_wire(
        [again(b, ids[1]), gpu_item("pending", name="c"), again(a, ids[0])], at=NOW
    )
    assert [d.reused for d in second.decisions] == [True, False, True]
    assert [second.decisions[0].decision_id, second.decisions[2].decision_id] == [ids[1], ids[0]]
    assert actions(second.decisions) == ["ACTION_WARN", "ACTION_DENY", "ACTION_ALLOW"]
    assert len(files.decision_records()) == 3


# --- the map's own bounds -------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _made(recent: RecentDecisions, decision_id: str, name: str) -> tuple[pb.EvaluateItem, Any]:
    engine = PolicyEngine.build()
    acme = make_tenant("acme")
    snapshot = Snapshot(
        engine=engine,
        tenants={"acme": TenantEntry(acme, "test", 1)},
        policy_count=0,
        generation=1,
        loaded_at=NOW,
    )
    item = gpu_item("acme", name=name)
    q = item_to_question(item)
    w = q.workload
    recent.remember(decision_id, q, engine.evaluate(w, acme, NOW), snapshot, acme, 1, NOW)
    return item, (w, snapshot)


def test_a_decision_is_forgotten_after_the_reuse_window() -> None:
    clock = Clock()
    recent = RecentDecisions(max_entries=10, ttl=10, timer=clock)
    item, (_, snapshot) = _made(recent, "d-1", "a")
    clock.now += 9
    assert recent.reusable("d-1", item_to_question(item), snapshot, 1, NOW) is not None
    clock.now += 2
    assert recent.reusable("d-1", item_to_question(item), snapshot, 1, NOW) is None


def test_the_map_is_bounded() -> None:
    recent = RecentDecisions(max_entries=3, ttl=60)
    for i in range(10):
        _made(recent, f"d-{i}", f"pod-{i}")
    assert len(recent) == 3
