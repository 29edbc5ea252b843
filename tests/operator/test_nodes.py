"""Node labelling on Node objects in the real API server (no kubelet: we create the Nodes)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from exportgate_operator.nodes import CLASS_LABEL, PRODUCT_LABEL

from tests.operator.builders import SUITE_LABEL
from tests.operator.conftest import OperatorHandle, wait_for

pytestmark = pytest.mark.cluster


def node(name: str, labels: dict[str, str]) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name, "labels": {**labels, **SUITE_LABEL}},
    }


def labels_of(operator: OperatorHandle, name: str) -> dict[str, str]:
    return dict((operator.get("node", name) or {}).get("metadata", {}).get("labels") or {})


@pytest.mark.parametrize(
    ("labels", "expected"),
    [
        ({"nvidia.com/gpu.product": "NVIDIA-H100-80GB-HBM3"}, ("3A090.a", "nvidia-h100-sxm")),
        ({"cloud.google.com/gke-accelerator": "nvidia-tesla-t4"}, ("outside-3A090", "nvidia-t4")),
        ({"node.kubernetes.io/instance-type": "p5.48xlarge"}, ("3A090.a", "nvidia-h100-sxm")),
        ({"karpenter.k8s.aws/instance-gpu-name": "h20"}, ("outside-3A090", "nvidia-h20")),
    ],
)
def test_gpu_nodes_get_their_class(
    operator: OperatorHandle, labels: dict[str, str], expected: tuple[str, str]
) -> None:
    name = f"gpu-{uuid.uuid4().hex[:8]}"
    operator.cluster.apply(node(name, labels))
    found = wait_for(lambda: labels_of(operator, name).get(CLASS_LABEL) and labels_of(
        operator, name), what="class label")
    assert (found[CLASS_LABEL], found[PRODUCT_LABEL]) == expected


def test_labels_follow_the_hardware(operator: OperatorHandle) -> None:
    name = f"gpu-{uuid.uuid4().hex[:8]}"
    operator.cluster.apply(node(name, {"nvidia.com/gpu.product": "Tesla-T4"}))
    wait_for(lambda: labels_of(operator, name).get(CLASS_LABEL) == "outside-3A090", what="T4")
    operator.cluster.kubectl(
        "label", "node", name, "nvidia.com/gpu.product=NVIDIA-H100-80GB-HBM3", "--overwrite"
    )
    wait_for(lambda: labels_of(operator, name).get(CLASS_LABEL) == "3A090.a", what="H100")
    operator.cluster.kubectl("label", "node", name, "nvidia.com/gpu.product-")
    wait_for(lambda: CLASS_LABEL not in labels_of(operator, name), what="label removed")


def test_cpu_nodes_are_left_alone(operator: OperatorHandle) -> None:
    cpu, gpu = f"cpu-{uuid.uuid4().hex[:8]}", f"gpu-{uuid.uuid4().hex[:8]}"
    operator.cluster.apply(node(cpu, {"node.kubernetes.io/instance-type": "m5.large"}))
    operator.cluster.apply(node(gpu, {"nvidia.com/gpu.product": "Tesla-T4"}))
    # The GPU node created after the CPU one is labelled, so the CPU node has been seen too.
    wait_for(lambda: labels_of(operator, gpu).get(CLASS_LABEL), what="gpu node labelled")
    assert CLASS_LABEL not in labels_of(operator, cpu)
