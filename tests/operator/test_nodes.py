"""Node labelling on Node objects in the real API server (no kubelet: we create the Nodes)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from exportgate_operator.nodes import CLASS_LABEL, PRODUCT_LABEL, accelerator_class, label_patch

from exportgate.core.catalogue import builtin_catalogue
from tests.operator.builders import SUITE_LABEL
from tests.operator.conftest import OperatorHandle, wait_for


def node(name: str, labels: dict[str, str]) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name, "labels": {**labels, **SUITE_LABEL}},
    }


def labels_of(operator: OperatorHandle, name: str) -> dict[str, str]:
    return dict((operator.get("node", name) or {}).get("metadata", {}).get("labels") or {})


@pytest.mark.cluster
@pytest.mark.parametrize(
    ("labels", "expected"),
    [
        ({"nvidia.com/gpu.product": "NVIDIA-H100-80GB-HBM3"}, ("3A090.a", "nvidia-h100-sxm")),
        ({"cloud.google.com/gke-accelerator": "nvidia-tesla-t4"}, ("outside-3A090", "nvidia-t4")),
        ({"node.kubernetes.io/instance-type": "p5.48xlarge"}, ("3A090.a", "nvidia-h100-sxm")),
        ({"karpenter.k8s.aws/instance-gpu-name": "h20"}, ("outside-3A090", "nvidia-h20")),
        (
            {"node.kubernetes.io/instance-type": "dgx.h100"},
            ("3A090-indeterminate", "unknown-accelerator"),
        ),
    ],
)
def test_gpu_nodes_get_their_class(
    operator: OperatorHandle, labels: dict[str, str], expected: tuple[str, str]
) -> None:
    name = f"gpu-{uuid.uuid4().hex[:8]}"
    operator.cluster.apply(node(name, labels))
    found = wait_for(
        lambda: labels_of(operator, name).get(CLASS_LABEL) and labels_of(operator, name),
        what="class label",
    )
    assert (found[CLASS_LABEL], found[PRODUCT_LABEL]) == expected


@pytest.mark.cluster
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


@pytest.mark.cluster
def test_cpu_nodes_are_left_alone(operator: OperatorHandle) -> None:
    cpu, gpu = f"cpu-{uuid.uuid4().hex[:8]}", f"gpu-{uuid.uuid4().hex[:8]}"
    operator.cluster.apply(node(cpu, {"node.kubernetes.io/instance-type": "m5.large"}))
    operator.cluster.apply(node(gpu, {"nvidia.com/gpu.product": "Tesla-T4"}))
    # The GPU node created after the CPU one is labelled, so the CPU node has been seen too.
    wait_for(lambda: labels_of(operator, gpu).get(CLASS_LABEL), what="gpu node labelled")
    assert CLASS_LABEL not in labels_of(operator, cpu)


CATALOGUE = builtin_catalogue()


def test_product_label_beats_instance_type() -> None:
    labels = {
        "nvidia.com/gpu.product": "Tesla-T4",
        "node.kubernetes.io/instance-type": "p5.48xlarge",
    }
    assert accelerator_class(labels, CATALOGUE) == ("outside-3A090", "nvidia-t4")


def test_unknown_gpu_name_is_not_waved_through() -> None:
    found = accelerator_class({"nvidia.com/gpu.product": "Mystery-GPU-9000"}, CATALOGUE)
    assert found == (CATALOGUE.unknown_classification, CATALOGUE.unknown_id)


INSTANCE_TYPE = "node.kubernetes.io/instance-type"
INDETERMINATE = (CATALOGUE.indeterminate_classification, CATALOGUE.unknown_id)


@pytest.mark.parametrize("name", ["dgx.h100", "h100-80gb-sxm-ib.8x", "gpu-node-h100", "zz9.huge"])
@pytest.mark.parametrize("key", [INSTANCE_TYPE, "beta.kubernetes.io/instance-type"])
def test_an_instance_type_we_cannot_identify_is_indeterminate(key: str, name: str) -> None:
    """It may carry no accelerator or any (red team: an on-prem DGX H100 node); unlabelled, it
    would match every `accelerator-class NotIn [controlled classes]` affinity."""
    assert INDETERMINATE == ("3A090-indeterminate", "unknown-accelerator")
    assert accelerator_class({key: name}, CATALOGUE) == INDETERMINATE
    assert label_patch({key: name}, CATALOGUE) == {
        CLASS_LABEL: "3A090-indeterminate",
        PRODUCT_LABEL: "unknown-accelerator",
    }


@pytest.mark.parametrize(
    "labels",
    [
        {},
        {"kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64"},
        {INSTANCE_TYPE: "m5.large"},
        {INSTANCE_TYPE: "n2-standard-8", "beta.kubernetes.io/instance-type": "n2-standard-8"},
        {INSTANCE_TYPE: ""},
    ],
    ids=["no-labels", "os-arch-only", "aws-cpu", "gcp-cpu-both-keys", "empty-value"],
)
def test_a_node_without_an_accelerator_hint_gets_no_label(labels: dict[str, str]) -> None:
    assert accelerator_class(labels, CATALOGUE) is None
    assert label_patch(labels, CATALOGUE) is None


def test_an_identified_product_beats_an_instance_type_we_cannot_identify() -> None:
    labels = {"nvidia.com/gpu.product": "Tesla-T4", INSTANCE_TYPE: "dgx.h100"}
    assert accelerator_class(labels, CATALOGUE) == ("outside-3A090", "nvidia-t4")


def test_an_unknown_gpu_name_beats_an_instance_type_we_cannot_identify() -> None:
    labels = {"nvidia.com/gpu.product": "Mystery-GPU-9000", INSTANCE_TYPE: "dgx.h100"}
    assert accelerator_class(labels, CATALOGUE) == (
        CATALOGUE.unknown_classification,
        CATALOGUE.unknown_id,
    )


def test_the_indeterminate_label_goes_when_the_instance_type_is_identified() -> None:
    labels = {
        INSTANCE_TYPE: "m5.large",
        CLASS_LABEL: INDETERMINATE[0],
        PRODUCT_LABEL: INDETERMINATE[1],
    }
    assert label_patch(labels, CATALOGUE) == {CLASS_LABEL: None, PRODUCT_LABEL: None}


def test_label_patch_is_minimal() -> None:
    labels = {"nvidia.com/gpu.product": "Tesla-T4"}
    patch = label_patch(labels, CATALOGUE)
    assert patch == {CLASS_LABEL: "outside-3A090", PRODUCT_LABEL: "nvidia-t4"}
    assert label_patch({**labels, **patch}, CATALOGUE) is None
    stale = {CLASS_LABEL: "3A090.a", PRODUCT_LABEL: "nvidia-h100-sxm"}
    assert label_patch(stale, CATALOGUE) == {CLASS_LABEL: None, PRODUCT_LABEL: None}


@pytest.mark.parametrize("label", [CLASS_LABEL, PRODUCT_LABEL])
def test_the_operators_node_labels_are_labels_the_extractor_reads(label: str) -> None:
    """A pod pinned with the label the operator writes is read as pinned (issue 10)."""
    from exportgate.core.extract import AdapterRegistry, extract_workload

    assert label in AdapterRegistry.builtin().hint_keys
    t4 = accelerator_class({"nvidia.com/gpu.product": "Tesla-T4"}, builtin_catalogue())
    assert t4 is not None
    value = t4[0] if label == CLASS_LABEL else t4[1]
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "p", "namespace": "t"},
        "spec": {
            "nodeSelector": {label: value},
            "containers": [
                {"name": "c", "image": "x", "resources": {"limits": {"nvidia.com/gpu": 1}}}
            ],
        },
    }
    request = extract_workload(pod).accelerators[0]
    resolved = builtin_catalogue().resolve(request)
    assert resolved.pinned
    assert "nvidia-h100-sxm" not in resolved.candidates


@pytest.mark.parametrize("label", [CLASS_LABEL, PRODUCT_LABEL])
def test_a_pod_pinned_to_an_indeterminate_node_label_is_unpinned(label: str) -> None:
    """What the operator writes on a node it cannot identify pins nothing at admission."""
    from exportgate.core.extract import extract_workload

    value = INDETERMINATE[0] if label == CLASS_LABEL else INDETERMINATE[1]
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "p", "namespace": "t"},
        "spec": {
            "nodeSelector": {label: value},
            "containers": [
                {"name": "c", "image": "x", "resources": {"limits": {"nvidia.com/gpu": 1}}}
            ],
        },
    }
    resolved = CATALOGUE.resolve(extract_workload(pod).accelerators[0])
    assert not resolved.pinned
    assert "nvidia-h100-sxm" in resolved.candidates
