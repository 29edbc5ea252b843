"""The objects a peer must decide exactly as exportgate does before its figures are reported,
and the dry-run probe that asks the API server for a verdict.

The set is B2's own Pods (an H100 Pod and a T4 Pod, bench/reviews.py `gpu_pod`) in both the
allowed namespace and the restricted one, plus variants that a policy written too narrowly or
too broadly gets wrong: other controlled products, eight GPUs, an unpinned GPU request
(exportgate fails closed on it), a GPU in an init container, a product pinned without a GPU
asked for, and a Pod with no GPU at all. `expected` is what exportgate's default packs decide
for the example tenants; equivalence.py compares every system with exportgate's live answer
and also reports where that differs from `expected`.
"""

from __future__ import annotations

import copy
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bench.reviews import H100, T4, Obj, gpu_pod, plain_pod, unpinned_gpu_pod

ALLOWED_NS = "bench-acme"
RESTRICTED_NS = "bench-nimbus"
NAMESPACE_TENANTS = {ALLOWED_NS: "acme", RESTRICTED_NS: "nimbus"}
TENANT_LABEL = "exportgate.dev/tenant"

ADMIT = "admit"
DENY = "deny"


@dataclass(frozen=True)
class Case:
    name: str
    namespace: str
    build: Callable[[str, int], Obj]
    expected: str

    def pod(self) -> Obj:
        pod = self.build(self.namespace, 1)
        pod["metadata"]["name"] = f"eq-{self.name}-{uuid.uuid4().hex[:6]}"
        return pod


def _no_gpu_pinned(namespace: str, n: int) -> Obj:
    pod = gpu_pod(namespace, n, H100, 1)
    del pod["spec"]["containers"][0]["resources"]["limits"]
    return pod


def _gpu_in_init_container(namespace: str, n: int) -> Obj:
    pod = gpu_pod(namespace, n, H100, 1)
    init = copy.deepcopy(pod["spec"]["containers"][0])
    init["name"] = "warmup"
    pod["spec"]["initContainers"] = [init]
    del pod["spec"]["containers"][0]["resources"]["limits"]
    return pod


def _product(product: str, gpus: int = 1) -> Callable[[str, int], Obj]:
    return lambda namespace, n: gpu_pod(namespace, n, product, gpus)


#: (name, builder, verdict in the restricted namespace); everything is admitted in the allowed one.
_VARIANTS: tuple[tuple[str, Callable[[str, int], Obj], str], ...] = (
    ("h100", _product(H100), DENY),
    ("t4", _product(T4), ADMIT),
    ("h100-x8", _product(H100, 8), DENY),
    ("h100-pcie", _product("NVIDIA-H100-PCIe"), DENY),
    ("h200", _product("NVIDIA-H200"), DENY),
    ("a100", _product("NVIDIA-A100-SXM4-80GB"), DENY),
    ("unpinned-gpu", unpinned_gpu_pod, DENY),
    ("gpu-in-init-container", _gpu_in_init_container, DENY),
    ("h100-pinned-no-gpu", _no_gpu_pinned, ADMIT),
    ("no-gpu", plain_pod, ADMIT),
)

CASES: tuple[Case, ...] = tuple(
    Case(f"{namespace.removeprefix('bench-')}-{name}", namespace, builder, verdict)
    for namespace, restricted in ((ALLOWED_NS, False), (RESTRICTED_NS, True))
    for name, builder, verdict in _VARIANTS
    for verdict in [verdict if restricted else ADMIT]
)


def verdict(api_client: Any, pod: Obj) -> tuple[str, str]:
    """Ask the API server (server-side dry run: every admission phase runs, nothing is stored)
    whether `pod` is admitted; return (admit|deny|error, message)."""
    from kubernetes import client

    core = client.CoreV1Api(api_client)
    namespace = pod["metadata"]["namespace"]
    try:
        core.create_namespaced_pod(namespace, pod, dry_run="All")  # type: ignore[arg-type]  # a dict is accepted
    except client.ApiException as exc:
        if exc.status in (400, 403, 422):
            return DENY, str(exc.body)[:300]
        return "error", f"HTTP {exc.status}: {str(exc.body)[:300]}"
    return ADMIT, ""


def create_namespaces(cluster: Any) -> None:
    """Create B2's namespaces on `cluster` (a LocalCluster), each bound to its tenant by label."""
    for namespace, tenant in NAMESPACE_TENANTS.items():
        cluster.create_namespace(namespace, {TENANT_LABEL: tenant})


def restricted_h100_denied(api_client: Any, namespace: str = RESTRICTED_NS) -> bool:
    """The probe that shows a denying system is active: B2's H100 Pod in a namespace of the
    restricted tenant (by default the shared one) is refused."""
    return verdict(api_client, Case("probe", namespace, _product(H100), DENY).pod())[0] == DENY
