"""B2: Pod CREATE latency through a real kube-apiserver (tests/cluster LocalCluster).

Three configurations, measured one after the other against the same API server and etcd:

* none: no admission webhook or policy for Pods;
* exportgate: exportgate's mutating and validating webhooks (as the chart installs them) backed
  by the real webhook + sidecar processes;
* noop-webhook: the no-op TLS webhook of B1 registered the same way (mutating and validating):
  the floor any out-of-process webhook pays;
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


def _creates(cluster: LocalCluster, count: int, warmup: int) -> dict[str, Any]:
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
    stats = summary(latencies)
    return {
        "creates": len(latencies),
        "failures": failures,
        "p50_ms": round(stats["p50"], 2),
        "p99_ms": round(stats["p99"], 2),
    }


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


def run(workdir: Path, *, creates: int, warmup: int = 20) -> dict[str, Any]:
    if not available():
        return {"skipped": "Kubernetes binaries not built (python -m tests.cluster build)"}
    results: dict[str, Any] = {}
    with LocalCluster(workdir / "cluster", build.find_binaries()) as cluster:
        cluster.create_namespace(NAMESPACE, {"exportgate.dev/tenant": "acme"})
        cluster.create_namespace(RESTRICTED, {"exportgate.dev/tenant": "nimbus"})
        results["none"] = _creates(cluster, creates, warmup)

        namespaces = {NAMESPACE: "acme", RESTRICTED: "nimbus"}
        with Stack(workdir / "stack", webhook=WebhookOptions(namespace_tenants=namespaces)) as st:
            ca = st.tls.ca_pem
            rules = [webhook_rule(["CREATE", "UPDATE"], ["pods"])]
            cluster.register_mutating_webhook("exportgate-mutate", st.url + "/mutate", ca, rules)
            cluster.register_validating_webhook(
                "exportgate-validate", st.url + "/validate", ca, rules
            )
            LocalCluster.wait_for_webhook(lambda: _denied_probe(cluster), timeout=60)
            results["exportgate"] = _creates(cluster, creates, warmup)
            cluster.kubectl("delete", "mutatingwebhookconfiguration", "exportgate-mutate")
            cluster.kubectl("delete", "validatingwebhookconfiguration", "exportgate-validate")

        from bench.b1_webhook import _noop

        noop_proc, noop = _noop(workdir / "b2-noop")
        try:
            ca = noop.ca.read_bytes()
            rules = [webhook_rule(["CREATE", "UPDATE"], ["pods"])]
            cluster.register_mutating_webhook("noop-mutate", noop.url + "/mutate", ca, rules)
            cluster.register_validating_webhook("noop-validate", noop.url + "/validate", ca, rules)
            time.sleep(3)  # the API server's informer picks configurations up within a second
            results["noop-webhook"] = _creates(cluster, creates, warmup)
            cluster.kubectl("delete", "mutatingwebhookconfiguration", "noop-mutate")
            cluster.kubectl("delete", "validatingwebhookconfiguration", "noop-validate")
        finally:
            noop_proc.terminate()
            noop_proc.wait(10)

        cluster.apply([_CEL_POLICY, _CEL_BINDING])
        LocalCluster.wait_for_webhook(lambda: _denied_probe(cluster), timeout=60)
        results["cel"] = _creates(cluster, creates, warmup)
    base = results["none"]["p99_ms"]
    for name in ("exportgate", "noop-webhook", "cel"):
        results[name]["p99_vs_none"] = round(results[name]["p99_ms"] / base, 2)
        results[name]["p50_vs_none"] = round(results[name]["p50_ms"] / results["none"]["p50_ms"], 2)
    return results
