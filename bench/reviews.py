"""A realistic mix of AdmissionReviews to replay against the webhook.

Shapes follow what the API server sends (admission.k8s.io/v1): GPU Pods pinned and unpinned,
Deployments with node affinity, Karpenter NodePools (cluster-scoped, tenant label on the object),
KServe InferenceServices naming a model, and the non-GPU objects that make up most of a real
cluster's admission traffic. Tenants and namespaces come from examples/tenants.yaml and
`harness.NAMESPACE_TENANTS`.

`variant` makes objects distinct (a name and an image tag) without changing what is decided,
so the same mix can be replayed cached (few variants) or uncached (every object unique, and the
sidecar started with --cache-size 0).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from typing import Any

Obj = dict[str, Any]

H100 = "NVIDIA-H100-80GB-HBM3"
T4 = "Tesla-T4"
USER = {"username": "alice@example.com", "uid": "u-1", "groups": ["system:authenticated"]}
#: NodePools are the platform team's: only they may put a tenant label on a cluster-scoped object.
PLATFORM_USER = {
    "username": "karpenter-admin@example.com",
    "uid": "u-2",
    "groups": ["exportgate:platform", "system:authenticated"],
}


def _container(name: str, tag: str, gpus: int = 0) -> Obj:
    container: Obj = {
        "name": name,
        "image": f"registry.example.com/{name}:{tag}",
        "resources": {"requests": {"cpu": "2", "memory": "8Gi"}},
    }
    if gpus:
        container["resources"]["limits"] = {"nvidia.com/gpu": str(gpus)}
    return container


def gpu_pod(namespace: str, n: int, product: str = H100, gpus: int = 8) -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": f"train-{n}", "namespace": namespace, "labels": {"app": "train"}},
        "spec": {
            "nodeSelector": {"nvidia.com/gpu.product": product},
            "containers": [_container("trainer", f"1.{n}", gpus)],
        },
    }


def unpinned_gpu_pod(namespace: str, n: int) -> Obj:
    pod = gpu_pod(namespace, n, gpus=1)
    del pod["spec"]["nodeSelector"]
    return pod


def deployment(namespace: str, n: int) -> Obj:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": f"serve-{n}", "namespace": namespace},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": "serve"}},
            "template": {
                "metadata": {"labels": {"app": "serve"}},
                "spec": {
                    "affinity": {
                        "nodeAffinity": {
                            "requiredDuringSchedulingIgnoredDuringExecution": {
                                "nodeSelectorTerms": [
                                    {
                                        "matchExpressions": [
                                            {
                                                "key": "nvidia.com/gpu.product",
                                                "operator": "In",
                                                "values": [H100, "NVIDIA-H100-PCIe"],
                                            }
                                        ]
                                    }
                                ]
                            }
                        }
                    },
                    "containers": [_container("server", f"2.{n}", 1)],
                },
            },
        },
    }


def nodepool(tenant: str, n: int) -> Obj:
    return {
        "apiVersion": "karpenter.sh/v1",
        "kind": "NodePool",
        "metadata": {"name": f"{tenant}-gpu-{n}", "labels": {"exportgate.dev/tenant": tenant}},
        "spec": {
            "template": {
                "spec": {
                    "nodeClassRef": {
                        "group": "karpenter.k8s.aws",
                        "kind": "EC2NodeClass",
                        "name": "default",
                    },
                    "requirements": [
                        {
                            "key": "karpenter.k8s.aws/instance-family",
                            "operator": "In",
                            "values": ["p5"],
                        }
                    ],
                }
            }
        },
    }


def inference_service(namespace: str, n: int) -> Obj:
    return {
        "apiVersion": "serving.kserve.io/v1beta1",
        "kind": "InferenceService",
        "metadata": {"name": f"llm-{n}", "namespace": namespace},
        "spec": {
            "predictor": {
                "nodeSelector": {"nvidia.com/gpu.product": H100},
                "model": {
                    "modelFormat": {"name": "huggingface"},
                    "storageUri": "hf://meta-llama/Llama-4-Scout-17B-16E-Instruct",
                    "resources": {"limits": {"nvidia.com/gpu": "2"}},
                    "args": [f"--served-model-name=llm-{n}"],
                },
            }
        },
    }


def plain_pod(namespace: str, n: int) -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": f"web-{n}", "namespace": namespace},
        "spec": {"containers": [_container("web", f"3.{n}")]},
    }


def configmap(namespace: str, n: int) -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": f"settings-{n}", "namespace": namespace},
        "data": {"LOG_LEVEL": "info", "REVISION": str(n)},
    }


_GVR = {
    "Pod": ("", "v1", "pods"),
    "Deployment": ("apps", "v1", "deployments"),
    "NodePool": ("karpenter.sh", "v1", "nodepools"),
    "InferenceService": ("serving.kserve.io", "v1beta1", "inferenceservices"),
    "ConfigMap": ("", "v1", "configmaps"),
}


def review(obj: Obj, operation: str = "CREATE", user: Obj | None = None) -> Obj:
    """Wrap `obj` in an AdmissionReview request as the API server would send it."""
    group, version, resource = _GVR[obj["kind"]]
    metadata = obj["metadata"]
    request: Obj = {
        "uid": str(uuid.uuid4()),
        "kind": {"group": group, "version": version, "kind": obj["kind"]},
        "resource": {"group": group, "version": version, "resource": resource},
        "requestKind": {"group": group, "version": version, "kind": obj["kind"]},
        "requestResource": {"group": group, "version": version, "resource": resource},
        "name": metadata.get("name", ""),
        "operation": operation,
        "userInfo": user or (PLATFORM_USER if obj["kind"] == "NodePool" else USER),
        "object": obj,
        "oldObject": None,
        "dryRun": False,
        "options": {"apiVersion": "meta.k8s.io/v1", "kind": "CreateOptions"},
    }
    if "namespace" in metadata:
        request["namespace"] = metadata["namespace"]
    return {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": request}


#: (label, weight, builder, guarded). Weights approximate an AI cluster's admission traffic:
#: most writes are ordinary objects; a third ask for accelerators or models.
MIX: tuple[tuple[str, int, Callable[[int], Obj], bool], ...] = (
    ("gpu-pod-allowed", 10, lambda n: gpu_pod("acme-ml", n), True),
    ("gpu-pod-denied", 5, lambda n: gpu_pod("nimbus-ml", n), True),
    ("gpu-pod-t4", 5, lambda n: gpu_pod("nimbus-ml", n, T4, 1), True),
    ("gpu-pod-unpinned", 3, lambda n: unpinned_gpu_pod("orbit-ml", n), True),
    ("deployment", 6, lambda n: deployment("acme-ml", n), True),
    ("nodepool", 3, lambda n: nodepool("nimbus", n), True),
    ("inferenceservice", 3, lambda n: inference_service("acme-ml", n), True),
    ("plain-pod", 40, lambda n: plain_pod("acme-ml", n), False),
    ("configmap", 25, lambda n: configmap("acme-ml", n), False),
)


def corpus(count: int, *, distinct: int, guarded_only: bool = False) -> Iterator[bytes]:
    """`count` encoded reviews following MIX; objects repeat every `distinct` variants."""
    weighted = [
        (label, builder)
        for label, weight, builder, guarded in MIX
        if guarded or not guarded_only
        for _ in range(weight)
    ]
    for i in range(count):
        _, builder = weighted[i % len(weighted)]
        yield json.dumps(review(builder((i // len(weighted)) % distinct))).encode()


def guarded_labels() -> frozenset[str]:
    return frozenset(label for label, _, _, guarded in MIX if guarded)
