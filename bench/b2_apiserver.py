"""B2: Pod CREATE latency through a real kube-apiserver (tests/cluster LocalCluster).

Configurations, measured against the same API server and etcd:

* none: no admission webhook or policy for Pods;
* exportgate: exportgate's validating webhook, as the chart installs it by default, backed by
  the real webhook + sidecar processes;
* exportgate-stamp: the same plus the opt-in mutating webhook that stamps the decision id
  (chart value webhook.mutating.enabled): two admission phases. The two exportgate rows are
  measured interleaved, `rounds` slices each, on the same processes (the mutating configuration
  is registered and removed between slices), so that other load on a shared machine lands on
  both alike: they are the A/B of the second phase;
* noop-webhook: the no-op TLS webhook of B1 registered mutating and validating (the floor of a
  two-phase webhook), and noop-validating: validating only (the floor of one phase);
* cel: a ValidatingAdmissionPolicy doing a comparable check in-process: a Pod in a namespace
  bound to a restricted tenant may not ask for nvidia.com/gpu with a controlled product pinned.

Each CREATE is a real write to etcd (the Pod stays Pending: there is no scheduler), by the admin
client, one at a time; latency is measured around the client call.
"""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any

from bench.harness import Stack, WebhookOptions
from bench.reviews import H100, gpu_pod
from bench.stats import summary
from tests.cluster import build
from tests.cluster.local_cluster import LocalCluster, webhook_rule

NAMESPACE = "bench-acme"
RESTRICTED = "bench-nimbus"

_CEL_POLICY = {
    "apiVersion": "admissionregistration.k8s.io/v1",
    "kind": "ValidatingAdmissionPolicy",
    "metadata": {"name": "bench-gpu-jurisdiction"},
    "spec": {
        "failurePolicy": "Fail",
        "matchConstraints": {
            "resourceRules": [
                {
                    "apiGroups": [""],
                    "apiVersions": ["v1"],
                    "operations": ["CREATE", "UPDATE"],
                    "resources": ["pods"],
                }
            ]
        },
        "variables": [
            {
                "name": "gpus",
                "expression": "object.spec.containers.exists(c, has(c.resources.limits) && "
                "'nvidia.com/gpu' in c.resources.limits)",
            },
            {
                "name": "product",
                "expression": "has(object.spec.nodeSelector) && "
                "'nvidia.com/gpu.product' in object.spec.nodeSelector ? "
                "object.spec.nodeSelector['nvidia.com/gpu.product'] : ''",
            },
            {
                "name": "tenant",
                "expression": "has(namespaceObject.metadata.labels) && "
                "'exportgate.dev/tenant' in namespaceObject.metadata.labels ? "
                "namespaceObject.metadata.labels['exportgate.dev/tenant'] : ''",
            },
        ],
        "validations": [
            {
                "expression": "!variables.gpus || !(variables.tenant in ['nimbus']) || "
                "!(variables.product in ['NVIDIA-H100-80GB-HBM3', 'NVIDIA-H100-PCIe', "
                "'NVIDIA-A100-SXM4-80GB', 'NVIDIA-H200'])",
                "message": "controlled accelerator for a restricted tenant",
            }
        ],
    },
}
_CEL_BINDING = {
    "apiVersion": "admissionregistration.k8s.io/v1",
    "kind": "ValidatingAdmissionPolicyBinding",
    "metadata": {"name": "bench-gpu-jurisdiction"},
    "spec": {"policyName": "bench-gpu-jurisdiction", "validationActions": ["Deny"]},
}


def _create_latencies(cluster: LocalCluster, count: int, warmup: int) -> tuple[list[float], int]:
    from kubernetes import client

    core = client.CoreV1Api(cluster.api_client())
    latencies: list[float] = []
    failures = 0
    for i in range(count + warmup):
        pod = gpu_pod(NAMESPACE, i, H100, 1)
        pod["metadata"]["name"] = f"bench-{uuid.uuid4().hex[:10]}"
        began = time.perf_counter()
        try:
            core.create_namespaced_pod(NAMESPACE, pod)  # type: ignore[arg-type]  # a dict is accepted
        except client.ApiException:
            failures += 1
            continue
        if i >= warmup:
            latencies.append((time.perf_counter() - began) * 1000)
    return latencies, failures


def _figures(latencies: list[float], failures: int) -> dict[str, Any]:
    stats = summary(latencies)
    return {
        "creates": len(latencies),
        "failures": failures,
        "p50_ms": round(stats["p50"], 2),
        "p99_ms": round(stats["p99"], 2),
    }


def _creates(cluster: LocalCluster, count: int, warmup: int) -> dict[str, Any]:
    return _figures(*_create_latencies(cluster, count, warmup))


def _stamped_probe(cluster: LocalCluster) -> bool:
    """True once an admitted guarded Pod comes back stamped (the mutating phase is active)."""
    from kubernetes import client

    core = client.CoreV1Api(cluster.api_client())
    pod = gpu_pod(NAMESPACE, 0, H100, 1)
    pod["metadata"]["name"] = f"probe-{uuid.uuid4().hex[:8]}"
    created = core.create_namespaced_pod(NAMESPACE, pod, dry_run="All")  # type: ignore[arg-type]
    return bool((created.metadata.annotations or {}).get("exportgate.dev/decision-id"))


def _denied_probe(cluster: LocalCluster) -> bool:
    """True once a guarded Pod for the restricted tenant is refused (the check is active)."""
    from kubernetes import client

    core = client.CoreV1Api(cluster.api_client())
    pod = gpu_pod(RESTRICTED, 0, H100, 1)
    pod["metadata"]["name"] = f"probe-{uuid.uuid4().hex[:8]}"
    try:
        core.create_namespaced_pod(RESTRICTED, pod, dry_run="All")  # type: ignore[arg-type]
    except client.ApiException as exc:
        return exc.status in (400, 403, 422)
    return False


def available() -> bool:
    return not build.missing_binaries(("etcd", "kube-apiserver", "kubectl"))


def _exportgate(
    cluster: LocalCluster, workdir: Path, creates: int, warmup: int, rounds: int
) -> dict[str, dict[str, Any]]:
    """exportgate with one phase (the default) and with the stamp, interleaved by slices."""
    namespaces = {NAMESPACE: "acme", RESTRICTED: "nimbus"}
    # --mutate so the same processes serve both rows; without the mutating configuration the
    # API server never calls /mutate and /validate finds no stamp to name.
    options = WebhookOptions(namespace_tenants=namespaces, mutate=True)
    samples: dict[str, list[float]] = {"exportgate": [], "exportgate-stamp": []}
    failures = dict.fromkeys(samples, 0)
    per_slice = max(1, creates // rounds)
    with Stack(workdir / "stack", webhook=options) as st:
        ca = st.tls.ca_pem
        rules = [webhook_rule(["CREATE", "UPDATE"], ["pods"])]
        cluster.register_validating_webhook("exportgate-validate", st.url + "/validate", ca, rules)
        LocalCluster.wait_for_webhook(lambda: _denied_probe(cluster), timeout=60)
        for i in range(rounds):
            for name in samples if i % 2 == 0 else reversed(list(samples)):
                stamp = name == "exportgate-stamp"
                if stamp:
                    cluster.register_mutating_webhook(
                        "exportgate-mutate", st.url + "/mutate", ca, rules
                    )
                    LocalCluster.wait_for_webhook(lambda: _stamped_probe(cluster), timeout=60)
                latencies, failed = _create_latencies(cluster, per_slice, warmup)
                samples[name] += latencies
                failures[name] += failed
                if stamp:
                    cluster.kubectl("delete", "mutatingwebhookconfiguration", "exportgate-mutate")
                    LocalCluster.wait_for_webhook(lambda: not _stamped_probe(cluster), timeout=60)
        cluster.kubectl("delete", "validatingwebhookconfiguration", "exportgate-validate")
    return {name: _figures(samples[name], failures[name]) for name in samples}


def _noop(cluster: LocalCluster, workdir: Path, creates: int, warmup: int) -> dict[str, Any]:
    from bench.b1_webhook import _noop as start_noop

    results: dict[str, Any] = {}
    noop_proc, noop = start_noop(workdir / "b2-noop")
    try:
        ca = noop.ca.read_bytes()
        rules = [webhook_rule(["CREATE", "UPDATE"], ["pods"])]
        cluster.register_validating_webhook("noop-validate", noop.url + "/validate", ca, rules)
        time.sleep(3)  # the API server's informer picks configurations up within a second
        results["noop-validating"] = _creates(cluster, creates, warmup)
        cluster.register_mutating_webhook("noop-mutate", noop.url + "/mutate", ca, rules)
        time.sleep(3)
        results["noop-webhook"] = _creates(cluster, creates, warmup)
        cluster.kubectl("delete", "mutatingwebhookconfiguration", "noop-mutate")
        cluster.kubectl("delete", "validatingwebhookconfiguration", "noop-validate")
    finally:
        noop_proc.terminate()
        noop_proc.wait(10)
    return results


def run(workdir: Path, *, creates: int, warmup: int = 20, rounds: int = 4) -> dict[str, Any]:
    if not available():
        return {"skipped": "Kubernetes binaries not built (python -m tests.cluster build)"}
    results: dict[str, Any] = {}
    with LocalCluster(workdir / "cluster", build.find_binaries()) as cluster:
        cluster.create_namespace(NAMESPACE, {"exportgate.dev/tenant": "acme"})
        cluster.create_namespace(RESTRICTED, {"exportgate.dev/tenant": "nimbus"})
        results["none"] = _creates(cluster, creates, warmup)
        results.update(_exportgate(cluster, workdir, creates, warmup, rounds))
        results.update(_noop(cluster, workdir, creates, warmup))
        cluster.apply([_CEL_POLICY, _CEL_BINDING])
        LocalCluster.wait_for_webhook(lambda: _denied_probe(cluster), timeout=60)
        results["cel"] = _creates(cluster, creates, warmup)
    base = results["none"]
    for name, figures in results.items():
        if name != "none":
            figures["p99_vs_none"] = round(figures["p99_ms"] / base["p99_ms"], 2)
            figures["p50_vs_none"] = round(figures["p50_ms"] / base["p50_ms"], 2)
    return results
