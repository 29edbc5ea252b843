"""Workloads the cluster tests submit: a GPU pod pinned to a product, the Deployment around it,
a Karpenter NodePool of a GPU instance family, a KServe InferenceService on H100s.

One home for these shapes, so that the webhook's end-to-end tests and the operator's re-audit
tests ask for accelerators the same way (see tests/cluster/stand_in_crds.py for the kinds).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

H100 = "NVIDIA-H100-80GB-HBM3"


def _metadata(name: str, namespace: str | None, labels: Mapping[str, str] | None) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": name}
    if namespace is not None:
        metadata["namespace"] = namespace
    if labels is not None:
        metadata["labels"] = dict(labels)
    return metadata


def gpu_pod(
    name: str,
    product: str = H100,
    *,
    namespace: str | None = None,
    container: str = "train",
    image: str = "registry.example/train:1",
) -> dict[str, Any]:
    """A Pod asking for one NVIDIA GPU, pinned to `product` by its GPU Feature Discovery label."""
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": _metadata(name, namespace, None),
        "spec": {
            "nodeSelector": {"nvidia.com/gpu.product": product},
            "containers": [
                {
                    "name": container,
                    "image": image,
                    "resources": {"limits": {"nvidia.com/gpu": "1"}},
                }
            ],
        },
    }


def deployment_of(pod: Mapping[str, Any]) -> dict[str, Any]:
    """A one-replica Deployment of `pod`'s spec, named and placed as the pod is."""
    name = pod["metadata"]["name"]
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": dict(pod["metadata"]),
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}}, "spec": pod["spec"]},
        },
    }


def karpenter_nodepool(name: str, labels: Mapping[str, str], family: str = "p5") -> dict[str, Any]:
    """A Karpenter NodePool (cluster-scoped) requiring an AWS instance family, p5 (H100) by
    default."""
    requirement = {"key": "karpenter.k8s.aws/instance-family", "operator": "In", "values": [family]}
    node_class = {"group": "karpenter.k8s.aws", "kind": "EC2NodeClass", "name": "default"}
    return {
        "apiVersion": "karpenter.sh/v1",
        "kind": "NodePool",
        "metadata": _metadata(name, None, labels),
        "spec": {"template": {"spec": {"nodeClassRef": node_class, "requirements": [requirement]}}},
    }


def kserve_llm(
    name: str, *, namespace: str | None = None, labels: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """A KServe InferenceService serving Llama 3.1 8B on one H100."""
    return {
        "apiVersion": "serving.kserve.io/v1beta1",
        "kind": "InferenceService",
        "metadata": _metadata(name, namespace, labels),
        "spec": {
            "predictor": {
                "nodeSelector": {"nvidia.com/gpu.product": H100},
                "model": {
                    "modelFormat": {"name": "huggingface"},
                    "storageUri": "hf://meta-llama/Llama-3.1-8B-Instruct",
                    "resources": {"limits": {"nvidia.com/gpu": "1"}},
                },
            }
        },
    }
