"""Compute accounting on the real API server: figures to the second, restart without double
counting, a run over two products, unidentified nodes, a threshold crossing with its Event,
report entry and log record, and the operator's own loop with `kubectl get computeruns`.

Time is injected (the accountant's clock), never slept: Pods carry kubelet-style start and
finish times, and each pass is run "at" a chosen instant.
"""

from __future__ import annotations

import asyncio
import json
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from exportgate_operator.accounting.accountant import Accountant
from exportgate_operator.accounting.handlers import build
from exportgate_operator.accounting.lease import Lease
from exportgate_operator.accounting.records import RUNS
from exportgate_operator.app import App
from exportgate_operator.kube import Kube
from exportgate_operator.runner import run_in_thread
from exportgate_operator.settings import OperatorConfig
from exportgate_operator.world import World
from prometheus_client import CollectorRegistry

from exportgate.core.catalogue import builtin_catalogue
from exportgate.core.compute import peak_ops_per_second
from exportgate.kubeapi import new_api_client
from tests.cluster.local_cluster import LocalCluster
from tests.cluster.ports import free_port
from tests.cluster.stand_in_crds import PYTORCHJOB_CRD
from tests.operator import accounting_builders as b
from tests.operator.accounting_builders import A100, H100, T0, Clock, at
from tests.operator.builders import tenant
from tests.operator.conftest import OPERATOR_USER, OperatorHandle, wait_for

pytestmark = pytest.mark.cluster

@dataclass
class Scene:
    """One tenant namespace with GPU nodes, a Job, a PyTorchJob and a lone Pod."""

    cluster: LocalCluster
    admin: Kube
    operator_kube: Kube
    namespace: str
    tenant: str
    nodes: dict[str, str] = field(default_factory=dict)
    owners: dict[str, dict[str, Any]] = field(default_factory=dict)

    def world(self, *policies: dict[str, Any]) -> World:
        world = World()
        world.set_tenant(self.admin.request("GET", f"/apis/exportgate.dev/v1alpha1/tenants/"
                                                   f"{self.tenant}"))
        for policy in policies:
            world.set_policy(policy)
        return world

    def accountant(self, clock: Clock, world: World | None = None) -> Accountant:
        return Accountant(self.operator_kube, world or self.world(),
                          namespaces=(self.namespace,), clock=clock)

    def pod(self, name: str, node: str, gpus: int, owner: str | None,
            status: dict[str, Any], labels: dict[str, str] | None = None) -> None:
        body = b.bound_pod(name, self.nodes.get(node, node), gpus,
                           self.owners[owner] if owner else None)
        body["metadata"]["labels"] = dict(labels or {})
        b.create(self.admin, b.PODS, self.namespace, body)
        b.set_status(self.admin, self.namespace, name, status)

    def run(self, owner: str) -> dict[str, Any]:
        obj = self.owners[owner]
        found = self.admin.request("GET", RUNS.path(self.namespace))["items"]
        matches = [r for r in found if r["spec"]["owner"]["uid"] == obj["metadata"]["uid"]]
        assert len(matches) == 1, found
        run: dict[str, Any] = matches[0]
        return run


@pytest.fixture(scope="module")
def pytorch_crd(operator: OperatorHandle) -> LocalCluster:
    operator.cluster.install_crds([PYTORCHJOB_CRD])
    return operator.cluster


@pytest.fixture
def scene(operator: OperatorHandle, pytorch_crd: LocalCluster) -> Iterator[Scene]:
    cluster = operator.cluster
    suffix = uuid.uuid4().hex[:6]
    name = f"acct-{suffix}"
    cluster.apply(tenant(name, hq="SG"))
    namespace = operator.tenant_namespace(name)
    admin = Kube(cluster.api_client())
    scene = Scene(cluster, admin, Kube(new_api_client(str(cluster.user_kubeconfig(
        OPERATOR_USER)))), namespace, name)
    for kind, label in b.NODES.items():
        node = f"{kind}-{suffix}"
        cluster.apply(b.node(node, label))
        scene.nodes[kind] = node
    scene.owners["pretrain"] = b.create(admin, b.JOBS, namespace, b.job("pretrain"))
    scene.owners["finetune"] = b.create(admin, b.PYTORCHJOBS, namespace,
                                        b.pytorchjob("finetune"))
    # pretrain: 2 Pods x 4 H100; one runs from T0, the other from +600 to +1800.
    scene.pod("pretrain-0", "h100", 4, "pretrain", b.running_status(at(0)))
    scene.pod("pretrain-1", "h100", 4, "pretrain", b.finished_status(at(600), at(1800)))
    # finetune (PyTorchJob): one Pod on an A100 node, one on a T4 node: two products.
    scene.pod("finetune-master-0", "a100", 2, "finetune", b.running_status(at(300)))
    scene.pod("finetune-worker-0", "t4", 1, "finetune", b.running_status(at(300)))
    # A lone Pod on a node that does not exist (no labels): unidentified, still counted.
    # It also claims another tenant: ignored, a Pod is its namespace's tenant's.
    scene.pod("notebook", f"ghost-{suffix}", 1, None, b.running_status(at(0)),
              labels={"exportgate.dev/tenant": "someone-else"})
    yield scene


def products(run: dict[str, Any]) -> dict[str, float]:
    return {
        (p["product"] if p["identified"] else f"unidentified:{p['product']}"):
            p["acceleratorSeconds"]
        for p in run["status"]["products"]
    }


def test_figures_to_the_second_and_restart_without_double_count(scene: Scene) -> None:
    clock = Clock()
    first = scene.accountant(clock)
    clock.now = at(3600)
    outcome = first.run_pass_blocking()
    assert outcome.pods == 5 and outcome.unidentified_pods == 1

    pretrain = scene.run("pretrain")
    assert pretrain["spec"]["tenant"] == scene.tenant
    assert pretrain["spec"]["owner"]["kind"] == "Job"
    assert products(pretrain) == {"nvidia-h100-sxm": 4 * 3600 + 4 * 1200}
    status = pretrain["status"]
    assert status["state"] == "Running" and status["accelerators"] == 4
    assert status["peakAccelerators"] == 8
    assert status["estimatedOperations"] == pytest.approx(19200 * H100, rel=1e-6)
    assert status["peakCapacityOpsPerSecond"] == pytest.approx(8 * H100, rel=1e-6)
    assert status["firstSeen"] == b.stamp(at(0)) and status["countedUntil"] == b.stamp(at(3600))
    assert "upper bound" in status["estimation"] and status["utilisation"] == 1.0

    finetune = scene.run("finetune")
    assert finetune["spec"]["owner"]["kind"] == "PyTorchJob"
    assert products(finetune) == {"nvidia-a100": 2 * 3300, "nvidia-t4": 3300}
    assert finetune["status"]["estimatedOperations"] == pytest.approx(
        6600 * A100 + 3300 * peak_ops_per_second(builtin_catalogue(), "nvidia-t4"), rel=1e-6)

    lone = [r for r in scene.admin.request("GET", RUNS.path(scene.namespace))["items"]
            if r["spec"]["owner"]["kind"] == "Pod"]
    assert len(lone) == 1 and lone[0]["spec"]["tenant"] == scene.tenant
    (key, seconds), = products(lone[0]).items()
    assert key.startswith("unidentified:") and seconds == 3600
    assert lone[0]["status"]["unidentifiedAcceleratorSeconds"] == 3600

    # Restart: a new accountant (empty memory) resumes from the records.
    clock.now = at(5400)
    second = scene.accountant(clock)
    second.run_pass_blocking()
    assert products(scene.run("pretrain")) == {"nvidia-h100-sxm": 4 * 5400 + 4 * 1200}
    # The old one, still believing it is active, loses the race instead of adding twice.
    stale = first.run_pass_blocking()
    assert stale.conflicts >= 1
    assert products(scene.run("pretrain")) == {"nvidia-h100-sxm": 4 * 5400 + 4 * 1200}
    # The same instant again adds nothing.
    second.run_pass_blocking()
    assert products(scene.run("pretrain")) == {"nvidia-h100-sxm": 4 * 5400 + 4 * 1200}

    # pretrain-0 finishes at +6000; the run is Finished and counted to its last second.
    b.set_status(scene.admin, scene.namespace, "pretrain-0", b.finished_status(at(0), at(6000)))
    clock.now = at(7200)
    second.run_pass_blocking()
    pretrain = scene.run("pretrain")
    assert products(pretrain) == {"nvidia-h100-sxm": 4 * 6000 + 4 * 1200}
    assert pretrain["status"]["state"] == "Finished"
    assert pretrain["status"]["lastSeen"] == b.stamp(at(6000))
    assert pretrain["status"]["gpuHours"] == 8.0
    assert pretrain["status"]["daily"] == [{"day": "2026-11-02", "acceleratorSeconds": 28800}]


def test_a_deleted_pod_is_counted_to_its_deletion(scene: Scene) -> None:
    clock = Clock()
    accountant = scene.accountant(clock)
    clock.now = at(1000)
    accountant.run_pass_blocking()
    pod = scene.admin.request("GET", b.PODS.path(scene.namespace, "finetune-worker-0"))
    scene.admin.request("DELETE", b.PODS.path(scene.namespace, "finetune-worker-0"),
                        query={"gracePeriodSeconds": "0"})
    clock.now = at(1500)
    accountant.pod_deleted(pod)  # what the watch hands over
    clock.now = at(2000)
    accountant.run_pass_blocking()
    assert products(scene.run("finetune"))["nvidia-t4"] == 1200  # +300 .. +1500


def test_what_a_restart_can_lose_is_bounded_by_the_checkpoint_interval(scene: Scene) -> None:
    """Checkpoints every 600 s: a Pod deleted after the checkpoint at +1200, while the operator
    is down, loses only its time since that checkpoint, never more than one interval; every
    Pod still present loses nothing."""
    interval = 600
    clock = Clock()
    before = scene.accountant(clock)
    for tick in (600, 1200):
        clock.now = at(tick)
        before.run_pass_blocking()
    # The operator dies; meanwhile the T4 Pod is deleted at +1500 (no one sees it go).
    scene.admin.request("DELETE", b.PODS.path(scene.namespace, "finetune-worker-0"),
                        query={"gracePeriodSeconds": "0"})
    clock.now = at(1800)  # the next checkpoint would have been here
    after = scene.accountant(clock)
    after.run_pass_blocking()
    figures = products(scene.run("finetune"))
    lost = (1500 - 300) - figures["nvidia-t4"]  # it held 1 T4 from +300 to +1500
    assert 0 <= lost <= interval
    assert figures["nvidia-a100"] == 2 * (1800 - 300)  # still running: nothing lost


def test_a_start_reported_after_a_checkpoint_is_not_lost(scene: Scene) -> None:
    """The kubelet reports a start late: the Pod was listed (bound, no start yet) at the
    checkpoint +3600 and then says it started at +1000. Its whole time counts, once."""
    b.create(scene.admin, b.PODS, scene.namespace,
             b.bound_pod("pretrain-late", scene.nodes["h100"], 2, scene.owners["pretrain"]))
    clock = Clock()
    accountant = scene.accountant(clock)
    clock.now = at(3600)
    accountant.run_pass_blocking()
    base = 4 * 3600 + 4 * 1200
    assert products(scene.run("pretrain")) == {"nvidia-h100-sxm": base}
    b.set_status(scene.admin, scene.namespace, "pretrain-late", b.running_status(at(1000)))
    clock.now = at(4000)
    accountant.run_pass_blocking()
    late = 2 * (4000 - 1000)
    assert products(scene.run("pretrain")) == {"nvidia-h100-sxm": base + 4 * 400 + late}
    clock.now = at(4100)
    accountant.run_pass_blocking()  # counted once: only the new 100 s are added
    assert products(scene.run("pretrain")) == {
        "nvidia-h100-sxm": base + 4 * 500 + late + 2 * 100}


def compute_policy(tier_ops: float) -> dict[str, Any]:
    """An ExportPolicy replacing the built-in compute pack with demo-sized tiers."""
    return b.compute_thresholds("test-1", "test-report", "operations", tier_ops, minimum_hours=1)


def events_for(scene: Scene, namespace: str, name: str) -> list[dict[str, Any]]:
    out = scene.cluster.kubectl("get", "events", "-n", namespace, "-o", "json",
                                f"--field-selector=involvedObject.name={name}").stdout
    return [e for e in json.loads(out)["items"] if e["reason"].startswith("Compute")]


def test_threshold_crossing_event_report_log_and_metric(
    scene: Scene, operator: OperatorHandle, tmp_path: Path
) -> None:
    clock = Clock()
    world = scene.world(compute_policy(1e19))
    config = OperatorConfig(kubeconfig=operator.config.kubeconfig,
                            decision_log=str(tmp_path / "decisions.log"),
                            namespaces=(scene.namespace,))
    app = App.create(config, scene.operator_kube)
    app.world = world
    registry = CollectorRegistry()
    accounting = build(app, registry)
    accounting.accountant = scene.accountant(clock, world)
    clock.now = at(3600)
    asyncio.run(accounting.run_pass())
    app.close()

    run = scene.run("pretrain")
    (crossing,) = run["status"]["crossings"]
    assert crossing["tier"] == "test-report" and crossing["notified"] is True
    decision = crossing["decisionId"]

    job_events = events_for(scene, scene.namespace, "pretrain")
    assert [e["type"] for e in job_events] == ["Warning"]
    assert "test-report" in job_events[0]["message"] and decision in job_events[0]["message"]
    assert "upper bound" in job_events[0]["message"]
    assert events_for(scene, "default", scene.tenant)

    report = scene.admin.request(
        "GET", f"/apis/wgpolicyk8s.io/v1alpha2/namespaces/{scene.namespace}/policyreports/"
               "exportgate-compute")
    rules = {(r["rule"], r["resources"][0]["name"]) for r in report["results"]}
    assert ("test-report", "pretrain") in rules
    entry = next(r for r in report["results"] if r["resources"][0]["name"] == "pretrain")
    assert entry["properties"]["decisionId"] == decision

    records = [json.loads(line) for line in (tmp_path / "decisions.log").read_text().splitlines()]
    logged = [r for r in records if r.get("type") == "compute-threshold"]
    found = next(r for r in logged if r["id"] == decision)
    assert found["tenant"] == scene.tenant
    assert found["tenantRecord"]["legalName"] == f"{scene.tenant} Pte. Ltd."
    assert found["tenantRecord"]["kycEvidenceRef"] == f"kyc-{scene.tenant}"
    assert {"country": "SG", "role": "headquarters", "via": None} in found["tenantRecord"][
        "jurisdictions"]
    assert found["tenantRecord"]["endCustomers"] == []
    assert found["run"]["owner"]["kind"] == "Job" and found["run"]["owner"]["name"] == "pretrain"
    assert found["run"]["accelerators"][0]["product"] == "nvidia-h100-sxm"
    assert found["run"]["accelerators"][0]["classification"] == "3A090.a"
    assert found["run"]["firstSeen"] == b.stamp(at(0))
    assert found["run"]["estimatedOperations"] == pytest.approx(19200 * H100, rel=1e-6)
    assert "upper bound" in found["run"]["estimation"]
    assert any(r.get("type") == "compute-usage-jump" for r in records)

    labels = {"tenant": scene.tenant, "tier": "test-report", "level": "report"}
    # pretrain, and the lone notebook Pod: unidentified, so counted as the fastest restricted
    # product (1 x 4.5e15 ops/s x 3600 s = 1.6e19).
    assert registry.get_sample_value("exportgate_compute_threshold_crossings_total", labels) == 2
    assert registry.get_sample_value(
        "exportgate_compute_accelerator_seconds_total",
        {"tenant": scene.tenant, "product": "nvidia-h100-sxm", "classification": "3A090.a",
         "identified": "true"},
    ) == 19200

    # A second pass (or a restarted operator) does not announce it again.
    app2 = App.create(config, scene.operator_kube)
    app2.world = world
    again = build(app2, CollectorRegistry())
    again.accountant = scene.accountant(clock, world)
    clock.now = at(3700)
    asyncio.run(again.run_pass())
    app2.close()
    assert len(events_for(scene, scene.namespace, "pretrain")) == 1


def test_the_operator_loop_and_kubectl_get(scene: Scene, operator: OperatorHandle,
                                           tmp_path: Path) -> None:
    """The real operator (kopf) with its checkpoint loop; finished Pods give exact figures
    whatever the wall clock says."""
    b.set_status(scene.admin, scene.namespace, "pretrain-0", b.finished_status(at(0), at(7200)))
    port = free_port()
    config = OperatorConfig(
        kubeconfig=operator.config.kubeconfig, namespaces=(scene.namespace,), standalone=True,
        liveness=None, label_nodes=False, tenant_reader_roles=False, audit_interval=0,
        compute_interval=1.0, metrics_port=port, decision_log=str(tmp_path / "log"),
    )
    with run_in_thread(config):
        def counted() -> dict[str, Any] | None:
            try:
                run = scene.run("pretrain")
            except AssertionError:
                return None
            return run if run["status"].get("state") == "Finished" else None

        run = wait_for(counted, what="the pretrain run, finished")
        assert products(run) == {"nvidia-h100-sxm": 4 * 7200 + 4 * 1200}
        table = scene.cluster.kubectl("get", "computeruns", "-n", scene.namespace).stdout
        header = table.splitlines()[0].split()
        assert header[:8] == ["NAME", "TENANT", "OWNER", "ACCELERATORS", "GPU-HOURS", "EST-OPS",
                              "UTIL", "STATE"]
        line = next(row for row in table.splitlines() if row.startswith("job-pretrain-"))
        assert scene.tenant in line and "9.33" in line and "Finished" in line
        metrics = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read()
        assert f'tenant="{scene.tenant}"'.encode() in metrics
        assert b"exportgate_compute_estimated_operations_total" in metrics


def test_one_replica_holds_the_accounting_lease(operator: OperatorHandle) -> None:
    kube = Kube(new_api_client(str(operator.cluster.user_kubeconfig(OPERATOR_USER))))
    namespace = f"lease-{uuid.uuid4().hex[:6]}"
    operator.cluster.create_namespace(namespace)
    first = Lease(kube, 30, namespace=namespace, identity="replica-a")
    second = Lease(kube, 30, namespace=namespace, identity="replica-b")
    now = datetime.now(UTC)
    assert first.hold(now) and not second.hold(now)
    assert first.hold(now + timedelta(seconds=20))  # renewed
    assert not second.hold(now + timedelta(seconds=40))  # 20 + 30 not yet past
    assert second.hold(now + timedelta(seconds=51))  # replica-a stopped renewing
    assert not first.hold(now + timedelta(seconds=52))


def test_real_operator_restart_mid_run_does_not_double_count(
    scene: Scene, operator: OperatorHandle, tmp_path: Path
) -> None:
    """The real operator twice in a row over a running Job: after the restart its figures
    still equal the Pods' time up to countedUntil, to the second (any double count would
    break the equality)."""

    def config() -> OperatorConfig:
        return OperatorConfig(
            kubeconfig=operator.config.kubeconfig, namespaces=(scene.namespace,),
            standalone=True, liveness=None, label_nodes=False, tenant_reader_roles=False,
            audit_interval=0, compute_interval=1.0, decision_log=str(tmp_path / "log"),
        )

    def expected(run: dict[str, Any]) -> float:
        until = datetime.fromisoformat(run["status"]["countedUntil"].replace("Z", "+00:00"))
        # pretrain-0: 4 GPUs since T0, still running; pretrain-1: 4 GPUs for 1200 s.
        return 4 * (until - T0).total_seconds() + 4 * 1200

    def pretrain() -> dict[str, Any] | None:
        try:
            return scene.run("pretrain")
        except AssertionError:
            return None

    with run_in_thread(config()):
        first = wait_for(pretrain, what="the pretrain run")
    assert products(first) == {"nvidia-h100-sxm": expected(first)}
    with run_in_thread(config()):
        later = wait_for(
            lambda: (run := pretrain()) and run["status"]["countedUntil"]
            > first["status"]["countedUntil"] and run,
            what="a checkpoint after the restart",
        )
    assert products(later) == {"nvidia-h100-sxm": expected(later)}
