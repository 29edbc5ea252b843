"""A hostile tenant cannot stall admission for everyone else (issue 11), through the real API
server.

The real webhook process, hosting the policy service (embedded) or asking a real sidecar process
(both shapes: tests/faults/shapes.py), behind a real kube-apiserver, with
validating and mutating webhooks for Pods (failurePolicy Fail, timeoutSeconds 10). While
EXPORTGATE_FAULT_HOSTILE_THREADS threads of a hostile tenant submit the worst Pods they can, in a
loop, for EXPORTGATE_FAULT_HOSTILE_SECONDS (the largest object within every cap, and objects
past the caps), a legitimate tenant keeps creating ordinary GPU Pods. Outcomes, not speed:

* every legitimate admission succeeds (no "context deadline exceeded", no fail-closed error),
  within the API server's 10 s timeout, and no review at all overran the webhook's own budget;
* the hostile objects are answered too (denied by policy, or refused naming the cap), never
  left to time out;
* the webhook's and the sidecar's peak RSS stay under the chart's memory limits for the shape.

All requests are server-side dry runs, so etcd stays small; the webhooks see them as any create.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bench.harness import Stack
from bench.reviews import gpu_pod
from tests.cluster.local_cluster import LocalCluster, webhook_rule
from tests.faults.conftest import Record, env_int
from tests.faults.limits import chart_memory_limit, peak_rss
from tests.faults.shapes import embedded

pytestmark = pytest.mark.cluster

HOOKS = "exportgate-hostile"
HOSTILE_NS, LEGIT_NS = "nimbus-ml", "acme-ml"  # bench.harness.NAMESPACE_TENANTS
SECONDS = env_int("EXPORTGATE_FAULT_HOSTILE_SECONDS", 20)
THREADS = env_int("EXPORTGATE_FAULT_HOSTILE_THREADS", 2)
API_TIMEOUT_S = 10  # the webhook configurations' timeoutSeconds


def worst_pod(n: int, *, past_caps: bool) -> dict[str, Any]:
    """Many containers times many affinity terms: at every cap, or just past one."""
    containers, terms = (257, 64) if past_caps else (256, 64)
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": f"hostile-{n}", "namespace": HOSTILE_NS},
        "spec": {
            "containers": [
                {"name": f"c{i}", "image": "x", "resources": {"limits": {"nvidia.com/gpu": "1"}}}
                for i in range(containers)
            ],
            "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [
                    {"matchExpressions": [{
                        "key": "nvidia.com/gpu.product", "operator": "In",
                        "values": [f"NVIDIA-H100-80GB-HBM3-{t}-{v}" for v in range(8)],
                    }]}
                    for t in range(terms)
                ]
            }}},
        },
    }  # fmt: skip


@pytest.fixture
def stack(kube_cluster: LocalCluster, tmp_path: Path, shape: str) -> Iterator[Stack]:
    for namespace in (HOSTILE_NS, LEGIT_NS):
        kube_cluster.kubectl("create", "namespace", namespace, check=False)
    with Stack(tmp_path / "stack", embedded=embedded(shape)) as running:
        rules = [webhook_rule(["CREATE", "UPDATE"], ["pods"])]
        ca = running.tls.ca_pem
        try:
            kube_cluster.register_mutating_webhook(
                HOOKS, running.url + "/mutate", ca, rules, timeout_seconds=API_TIMEOUT_S
            )
            kube_cluster.register_validating_webhook(
                HOOKS, running.url + "/validate", ca, rules, timeout_seconds=API_TIMEOUT_S
            )
            core = _core(kube_cluster)

            def active() -> bool:
                try:
                    core.create_namespaced_pod(HOSTILE_NS, gpu_pod(HOSTILE_NS, 0), dry_run="All")
                except Exception as exc:  # the denial is what proves the webhook is called
                    return "exportgate" in str(exc)
                return False

            kube_cluster.wait_for_webhook(active, timeout=60)
            yield running
        finally:
            for kind in ("validatingwebhookconfiguration", "mutatingwebhookconfiguration"):
                kube_cluster.kubectl("delete", kind, HOOKS, "--ignore-not-found", check=False)


def _core(cluster: LocalCluster) -> Any:
    from kubernetes import client

    return client.CoreV1Api(cluster.api_client())


def test_legitimate_admissions_succeed_while_a_hostile_tenant_floods(
    stack: Stack, kube_cluster: LocalCluster, fault_summary: Record
) -> None:
    from kubernetes.client.exceptions import ApiException

    stop = threading.Event()
    hostile: dict[str, int] = {"sent": 0, "denied": 0, "capped": 0, "other": 0}
    other_errors: list[str] = []
    lock = threading.Lock()

    def flood(worker: int) -> None:
        core = _core(kube_cluster)
        n = 0
        while not stop.is_set():
            n += 1
            body = worst_pod(worker * 100_000 + n, past_caps=n % 2 == 0)
            try:
                core.create_namespaced_pod(HOSTILE_NS, body, dry_run="All", _request_timeout=30)
                outcome = "other"
            except ApiException as exc:
                text = str(exc.body or exc)
                outcome = "capped" if "MAX_" in text else "denied" if exc.status == 403 else "other"
                if outcome == "other":
                    other_errors.append(text[:300])
            with lock:
                hostile["sent"] += 1
                hostile[outcome] += 1

    threads = [threading.Thread(target=flood, args=(w,), daemon=True) for w in range(THREADS)]
    for thread in threads:
        thread.start()
    legit = _core(kube_cluster)
    latencies: list[float] = []
    failures: list[str] = []
    deadline = time.monotonic() + SECONDS
    n = 0
    try:
        while time.monotonic() < deadline:
            n += 1
            started = time.monotonic()
            try:
                # Admitted (by the validating webhook's decision; the stamp is optional now).
                legit.create_namespaced_pod(
                    LEGIT_NS, gpu_pod(LEGIT_NS, n, gpus=1), dry_run="All", _request_timeout=30
                )
            except ApiException as exc:
                failures.append(f"{exc.status}: {str(exc.body)[:300]}")
            latencies.append(time.monotonic() - started)
            time.sleep(0.2)
    finally:
        stop.set()
        for thread in threads:
            thread.join(60)

    assert stack.webhook is not None
    webhook_peak = peak_rss(stack.webhook.pid)
    sidecar_peak = peak_rss(stack.sidecar.pid) if stack.sidecar is not None else 0
    fault_summary(
        cases=n,
        requests=n + hostile["sent"],
        failures=len(failures),
        detail=json.dumps({
            "hostile": hostile,
            "legit_max_s": round(max(latencies), 2),
            "webhook_peak_mib": round(webhook_peak / 2**20, 1),
            "sidecar_peak_mib": round(sidecar_peak / 2**20, 1),
        }),
    )  # fmt: skip
    assert stack.webhook.alive(), stack.webhook.log_tail()
    assert stack.sidecar is None or stack.sidecar.alive(), stack.sidecar.log_tail()
    assert not failures, f"{len(failures)} of {n} legitimate admissions failed: {failures[:3]}"
    assert max(latencies) < API_TIMEOUT_S
    # No review, hostile or legitimate, overran the webhook's own budget (--budget 2 s).
    assert "overran its budget" not in stack.webhook.log_path.read_text(errors="replace")
    assert hostile["sent"] > THREADS, "the hostile tenant must have kept the webhook busy"
    assert hostile["other"] == 0, other_errors[:3]
    assert hostile["capped"] > 0 and hostile["denied"] > 0
    shape = "embedded" if stack.embedded else "sidecar"
    assert webhook_peak < chart_memory_limit("webhook", shape), f"{webhook_peak / 2**20:.0f} MiB"
    assert sidecar_peak < chart_memory_limit("sidecar"), f"{sidecar_peak / 2**20:.0f} MiB"
