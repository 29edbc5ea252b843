"""Pod annotations that hand a pod a device (exportgate/core/extract/device_annotations.py).

Red-team notes (previous session): a pod gets a GPU through annotations instead of a resource
request, and exportgate read none of them. KAI Scheduler / Run:ai GPU sharing (``gpu-fraction``,
``gpu-memory``, ``gpu-fraction-num-devices``) and CDI device requests (``cdi.k8s.io/...``) are
now device access, on a Pod and on every pod template, narrowed by placement like any other way
to devices; an unrestricted tenant, a pinned T4 and unrelated annotations stay admitted.
Red team 13: KAI Scheduler's per-container NvFractions keys (F1), and CDI classes listed as no
accelerator (F4).
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from exportgate.core.extract import extract_workload
from exportgate.core.extract.access import DEVICE_ACCESS
from exportgate.core.extract.device_annotations import (
    annotation_requests,
    device_annotations,
    is_annotation_source,
)
from exportgate.core.extract.registry import AdapterRegistry
from exportgate.core.limits import MAX_CDI_ANNOTATION_CHARS
from exportgate.core.types import Action
from tests.core.builders import NOW, make_tenant
from tests.core.extract.fail_closed import (
    ENGINE,
    RESTRICTED,
    T4_GFD,
    container,
    decide,
    required,
    site_registry,
)

VOCABULARY = AdapterRegistry.builtin().vocabulary
PERMITTED = make_tenant("acme", incorporation="SG", headquarters="SG")
H100_GFD = "NVIDIA-H100-80GB-HBM3"


def annotated_pod(annotations: dict[str, Any], **spec: Any) -> dict[str, Any]:
    """A pod with `annotations` and one container asking for no resource."""
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "p", "namespace": "team", "annotations": annotations},
        "spec": {"containers": [container()], **spec},
    }


# The red team's manifest: KAI Scheduler's GPU-sharing example (docs/gpu-sharing/gpu-sharing.yaml),
# half a GPU with no nvidia.com/gpu request.
KAI_POD: dict[str, Any] = {
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {
        "name": "gpu-sharing",
        "namespace": "team",
        "labels": {"kai.scheduler/queue": "default-queue"},
        "annotations": {"gpu-fraction": "0.5"},
    },
    "spec": {
        "schedulerName": "kai-scheduler",
        "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
        "containers": [{"name": "sleep", "image": "busybox", "args": ["sh", "-c", "sleep 1d"]}],
    },
}

CDI_ALL = {"cdi.k8s.io/gpu": "nvidia.com/gpu=all"}


def _template(kind: str, annotations: dict[str, Any], **spec: Any) -> dict[str, Any]:
    template = {
        "metadata": {"labels": {"app": "x"}, "annotations": annotations},
        "spec": {"containers": [container()], **spec},
    }
    if kind == "CronJob":
        body: dict[str, Any] = {"jobTemplate": {"spec": {"template": template}}}
        api = "batch/v1"
    elif kind == "Job":
        body, api = {"template": template}, "batch/v1"
    elif kind == "PodTemplate":
        return {"apiVersion": "v1", "kind": kind, "metadata": {"name": "t", "namespace": "team"},
                "template": template}  # fmt: skip
    else:
        body, api = {"selector": {"matchLabels": {"app": "x"}}, "template": template}, "apps/v1"
    return {"apiVersion": api, "kind": kind, "metadata": {"name": "w", "namespace": "team"},
            "spec": body}  # fmt: skip


def _resources(obj: dict[str, Any]) -> set[tuple[str, str]]:
    return {(a.resource, a.source) for a in extract_workload(obj).accelerators}


# --- GPU-sharing schedulers -----------------------------------------------------------------

SHARING = [
    ("gpu-fraction", {"gpu-fraction": "0.5"}),
    ("gpu-memory", {"gpu-memory": "2000"}),
    ("several-fractions", {"gpu-fraction": "0.5", "gpu-fraction-num-devices": "4"}),
    ("fraction-container", {"gpu-fraction": "0.25", "gpu-fraction-container-name": "c"}),
    ("any-value", {"gpu-memory": ""}),  # KAI tests presence
]


@pytest.mark.parametrize("annotations", [c[1] for c in SHARING], ids=[c[0] for c in SHARING])
def test_a_gpu_sharing_annotation_is_device_access(annotations: dict[str, Any]) -> None:
    workload, action = decide(annotated_pod(annotations))
    assert {a.resource for a in workload.accelerators} == {DEVICE_ACCESS}
    assert action is Action.DENY


def test_the_red_team_kai_pod_is_denied_unpinned_and_judged_by_its_placement() -> None:
    assert _resources(KAI_POD) == {(DEVICE_ACCESS, "metadata.annotations.gpu-fraction")}
    assert decide(KAI_POD)[1] is Action.DENY
    h100 = copy.deepcopy(KAI_POD)
    h100["spec"]["nodeSelector"] = {"nvidia.com/gpu.product": H100_GFD}
    assert decide(h100)[1] is Action.DENY
    t4 = copy.deepcopy(KAI_POD)
    t4["spec"]["nodeSelector"] = {"nvidia.com/gpu.product": T4_GFD}
    assert decide(t4)[1] is Action.ALLOW
    by_affinity = copy.deepcopy(KAI_POD)
    by_affinity["spec"]["affinity"] = required(
        {"key": "nvidia.com/gpu.product", "operator": "In", "values": [T4_GFD]}
    )
    assert decide(by_affinity)[1] is Action.ALLOW


def test_the_denial_names_the_annotation_and_how_to_fix_it() -> None:
    workload, _ = decide(KAI_POD)
    message = ENGINE.evaluate(workload, RESTRICTED, NOW).message
    assert "annotation metadata.annotations.gpu-fraction" in message
    assert "pin a known product with a node selector" in message
    assert "nodeSelector nvidia.com/gpu.product=" in message


def test_an_unrestricted_tenant_is_admitted() -> None:
    for obj in (KAI_POD, annotated_pod(CDI_ALL), annotated_pod({"cdi.k8s.io/x": "acme.io/a=0"})):
        assert ENGINE.evaluate(extract_workload(obj), PERMITTED, NOW).action is Action.ALLOW


# Red team 13, F1: KAI Scheduler's NvFractions mode asks per container, and a request or a limit
# alone is a fractional GPU (gpu_sharing.go RequestsGPUFraction). The red team's manifest:
NVFRACTIONS_POD: dict[str, Any] = {
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {
        "name": "kai-nvfractions",
        "namespace": "team",
        "annotations": {"nvidia.com/container.main.gpu-memory.request": "70Gi"},
    },
    "spec": {
        "schedulerName": "kai-scheduler",
        "containers": [{"name": "main", "image": "nvcr.io/nvidia/pytorch:24.05-py3"}],
    },
}
NVFRACTIONS_DEPLOYMENT: dict[str, Any] = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {"name": "kai-nvfractions-deploy", "namespace": "team"},
    "spec": {
        "selector": {"matchLabels": {"a": "b"}},
        "template": {
            "metadata": {
                "labels": {"a": "b"},
                "annotations": {"nvidia.com/container.main.gpu-memory.limit": "80Gi"},
            },
            "spec": {
                "schedulerName": "kai-scheduler",
                "containers": [{"name": "main", "image": "x"}],
            },
        },
    },
}

PER_CONTAINER = [
    ("request", {"nvidia.com/container.main.gpu-memory.request": "70Gi"}),
    ("limit-only", {"nvidia.com/container.main.gpu-memory.limit": "8Gi"}),
    ("devices", {"nvidia.com/container.main.gpus.devices": "GPU-1"}),
    ("compute-mode", {"nvidia.com/container.main.gpu-compute.mode": "sm-sharing"}),
    ("portion-limit", {"kai.scheduler/container.main.gpu-memory.portion.limit": "0.5"}),
]


@pytest.mark.parametrize(
    "annotations", [c[1] for c in PER_CONTAINER], ids=[c[0] for c in PER_CONTAINER]
)
def test_a_per_container_gpu_sharing_annotation_is_device_access(
    annotations: dict[str, Any],
) -> None:
    workload, action = decide(annotated_pod(annotations))
    assert {a.resource for a in workload.accelerators} == {DEVICE_ACCESS}
    assert action is Action.DENY
    t4 = annotated_pod(annotations, nodeSelector={"nvidia.com/gpu.product": T4_GFD})
    assert decide(t4)[1] is Action.ALLOW


def test_the_red_team_nvfractions_pod_and_deployment_are_denied() -> None:
    key = "nvidia.com/container.main.gpu-memory.request"
    assert _resources(NVFRACTIONS_POD) == {(DEVICE_ACCESS, f'metadata.annotations["{key}"]')}
    assert decide(NVFRACTIONS_POD)[1] is Action.DENY
    workload, action = decide(NVFRACTIONS_DEPLOYMENT)
    assert {a.resource for a in workload.accelerators} == {DEVICE_ACCESS}
    assert action is Action.DENY
    message = ENGINE.evaluate(workload, RESTRICTED, NOW).message
    assert "nvidia.com/container.main.gpu-memory.limit" in message
    for obj in (NVFRACTIONS_POD, NVFRACTIONS_DEPLOYMENT):
        assert ENGINE.evaluate(extract_workload(obj), PERMITTED, NOW).action is Action.ALLOW
    h100 = copy.deepcopy(NVFRACTIONS_POD)
    h100["spec"]["nodeSelector"] = {"nvidia.com/gpu.product": H100_GFD}
    assert decide(h100)[1] is Action.DENY


def test_the_scheduler_name_does_not_matter() -> None:
    # An installation names its scheduler (global.schedulerName), and a webhook may set it on
    # the pod after exportgate has seen the Deployment: the annotation is read regardless.
    other = copy.deepcopy(KAI_POD)
    del other["spec"]["schedulerName"]
    assert decide(other)[1] is Action.DENY


# --- CDI --------------------------------------------------------------------------------------

CDI = [
    # (case, annotations, resources found)
    ("nvidia-all", CDI_ALL, {"nvidia.com/gpu"}),
    ("nvidia-index", {"cdi.k8s.io/nvidia-device-plugin_GPU-1": "nvidia.com/gpu=0"},
     {"nvidia.com/gpu"}),
    ("amd", {"cdi.k8s.io/amd": "amd.com/gpu=all"}, {"amd.com/gpu"}),
    ("several", {"cdi.k8s.io/g": "nvidia.com/gpu=0,amd.com/gpu=1"},
     {"nvidia.com/gpu", "amd.com/gpu"}),
    # A kind that is no accelerator resource of the vocabulary: unknown vendor.
    ("kata-pgpu", {"cdi.k8s.io/gpu": "nvidia.com/pgpu=0"}, {DEVICE_ACCESS}),
    ("device-plugin-kind", {"cdi.k8s.io/p": "k8s.device-plugin.nvidia.com/gpu=GPU-1"},
     {DEVICE_ACCESS}),
    ("unknown-vendor", {"cdi.k8s.io/x": "example.com/fpga=0"}, {DEVICE_ACCESS}),
    ("unqualified", {"cdi.k8s.io/x": "nvidia.com/gpu"}, {DEVICE_ACCESS}),
    ("not-a-string", {"cdi.k8s.io/x": 7}, {DEVICE_ACCESS}),
    ("too-long", {"cdi.k8s.io/x": "nvidia.com/gpu=0," * MAX_CDI_ANNOTATION_CHARS},
     {DEVICE_ACCESS}),
    ("odd-characters", {"cdi.k8s.io/x": "nvidia.com/gpu =0"}, {DEVICE_ACCESS}),
]  # fmt: skip


@pytest.mark.parametrize(
    ("annotations", "resources"), [c[1:] for c in CDI], ids=[c[0] for c in CDI]
)
def test_a_cdi_annotation_asks_for_the_devices_it_names(
    annotations: dict[str, Any], resources: set[str]
) -> None:
    workload, action = decide(annotated_pod(annotations))
    assert {a.resource for a in workload.accelerators} == resources
    assert action is Action.DENY
    pinned = annotated_pod(annotations, nodeSelector={"nvidia.com/gpu.product": T4_GFD})
    if resources <= {"nvidia.com/gpu", DEVICE_ACCESS}:
        assert decide(pinned)[1] is Action.ALLOW  # a T4 node hands out a T4


def test_each_named_device_counts_once() -> None:
    found = list(annotation_requests(
        {"cdi.k8s.io/g": "nvidia.com/gpu=0, nvidia.com/gpu=1,,"}, "metadata.annotations",
        VOCABULARY))  # fmt: skip
    source = 'metadata.annotations["cdi.k8s.io/g"]'
    assert found == [(source, "nvidia.com/gpu", 1), (source, "nvidia.com/gpu", 1)]
    workload = extract_workload(
        annotated_pod({"cdi.k8s.io/g": "nvidia.com/gpu=0,nvidia.com/gpu=1"})
    )
    assert [(a.resource, a.count) for a in workload.accelerators] == [("nvidia.com/gpu", 2)]


def test_a_cdi_denial_names_the_annotation() -> None:
    workload, _ = decide(annotated_pod(CDI_ALL))
    message = ENGINE.evaluate(workload, RESTRICTED, NOW).message
    assert 'through the annotation metadata.annotations["cdi.k8s.io/gpu"]' in message


# Red team 13, F4: a CDI class the vocabulary lists as no accelerator names nothing.
CDI_SGX_POD: dict[str, Any] = {
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {
        "name": "cpu-with-cdi-nonaccelerator",
        "namespace": "team",
        "annotations": {"cdi.k8s.io/sgx": "sgx.intel.com/epc=0"},
    },
    "spec": {
        "containers": [
            {"name": "main", "image": "x", "resources": {"limits": {"sgx.intel.com/epc": "1Mi"}}}
        ]
    },
}


def test_a_cdi_class_listed_as_no_accelerator_names_nothing() -> None:
    workload, action = decide(CDI_SGX_POD)
    assert workload.accelerators == ()
    assert action is Action.ALLOW
    for value in ("gpu.intel.com/millicores=0", "rdma/hca_shared_devices_a=0", "cpu=0"):
        assert extract_workload(annotated_pod({"cdi.k8s.io/x": value})).accelerators == ()
    # Beside an accelerator, only the accelerator counts.
    mixed = annotated_pod({"cdi.k8s.io/x": "sgx.intel.com/epc=0,nvidia.com/gpu=0"})
    assert {a.resource for a in extract_workload(mixed).accelerators} == {"nvidia.com/gpu"}


def test_an_empty_cdi_value_names_no_device() -> None:
    assert extract_workload(annotated_pod({"cdi.k8s.io/x": ""})).accelerators == ()
    assert extract_workload(annotated_pod({"cdi.k8s.io/x": " , "})).accelerators == ()


def test_an_unbounded_key_is_not_repeated_in_the_source() -> None:
    key = "cdi.k8s.io/" + "k" * 10_000
    found = list(annotation_requests({key: "x"}, "metadata.annotations", VOCABULARY))
    assert found == [("metadata.annotations", DEVICE_ACCESS, 1)]


# --- no false denials -------------------------------------------------------------------------

UNRELATED = [
    ("prometheus", {"prometheus.io/scrape": "true", "prometheus.io/port": "9090"}),
    ("kubectl", {"kubectl.kubernetes.io/last-applied-configuration": '{"gpu-fraction": "1"}'}),
    ("lookalike-keys", {"example.com/gpu-fraction": "0.5", "gpu-fraction-container-name": "c",
                        "cdi.k8s.io": "nvidia.com/gpu=0", "xcdi.k8s.io/x": "nvidia.com/gpu=0",
                        "nvidia.com/container": "x", "kai.scheduler/queue": "default-queue",
                        "kai.scheduler/gpu-compute-sharing-mode": "time-slicing"}),
    ("gpu-words-in-values", {"description": "uses gpu-fraction and cdi.k8s.io/gpu"}),
]  # fmt: skip


@pytest.mark.parametrize("annotations", [c[1] for c in UNRELATED], ids=[c[0] for c in UNRELATED])
def test_unrelated_annotations_ask_for_nothing(annotations: dict[str, Any]) -> None:
    workload, action = decide(annotated_pod(annotations))
    assert workload.accelerators == ()
    assert action is Action.ALLOW


def test_only_device_annotations_are_picked() -> None:
    picked = device_annotations(
        {"gpu-fraction": "0.5", "cdi.k8s.io/a": "x", "app": "y", 3: "z",
         "nvidia.com/container.c.gpu-memory.request": "1Gi",
         "io.katacontainers.config.hypervisor.machine_type": "m5.large"}, VOCABULARY
    )  # fmt: skip
    assert picked == {
        "gpu-fraction": "0.5",
        "cdi.k8s.io/a": "x",
        "nvidia.com/container.c.gpu-memory.request": "1Gi",
        "io.katacontainers.config.hypervisor.machine_type": "m5.large",
    }
    assert is_annotation_source('spec.template.metadata.annotations["cdi.k8s.io/a"]')
    assert not is_annotation_source("spec.containers[0].env[0]")


def test_a_t4_pod_of_a_restricted_tenant_is_still_admitted() -> None:
    t4 = annotated_pod(
        {"app.kubernetes.io/name": "x"}, nodeSelector={"nvidia.com/gpu.product": T4_GFD}
    )
    t4["spec"]["containers"][0]["resources"] = {"limits": {"nvidia.com/gpu": 1}}
    assert decide(t4)[1] is Action.ALLOW


# --- pod templates ----------------------------------------------------------------------------

KINDS = ["Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "CronJob", "PodTemplate"]


@pytest.mark.parametrize("kind", KINDS)
def test_a_pod_templates_annotations_are_the_pods(kind: str) -> None:
    workload, action = decide(_template(kind, {"gpu-fraction": "0.5"}))
    assert {a.resource for a in workload.accelerators} == {DEVICE_ACCESS}
    assert all(".metadata.annotations.gpu-fraction" in a.source for a in workload.accelerators)
    assert action is Action.DENY
    cdi, _ = decide(_template(kind, CDI_ALL))
    assert {a.resource for a in cdi.accelerators} == {"nvidia.com/gpu"}
    t4 = _template(kind, CDI_ALL, nodeSelector={"nvidia.com/gpu.product": T4_GFD})
    assert decide(t4)[1] is Action.ALLOW
    assert decide(_template(kind, {"app": "x"}))[0].accelerators == ()


def test_the_owners_own_annotations_are_not_the_pods() -> None:
    # A Deployment's metadata does not reach its pods: no false denial for it.
    deployment = _template("Deployment", {})
    deployment["metadata"]["annotations"] = {"gpu-fraction": "0.5"}
    assert extract_workload(deployment).accelerators == ()


def test_templates_in_other_adapters_and_kinds_without_one() -> None:
    ray = {
        "apiVersion": "ray.io/v1", "kind": "RayCluster",
        "metadata": {"name": "r", "namespace": "t"},
        "spec": {"headGroupSpec": {"template": {"metadata": {"annotations": CDI_ALL},
                                                "spec": {"containers": [container()]}}}},
    }  # fmt: skip
    assert {a.resource for a in extract_workload(ray).accelerators} == {"nvidia.com/gpu"}
    unknown_kind = {
        "apiVersion": "example.com/v1", "kind": "Trainer",
        "metadata": {"name": "x", "namespace": "t"},
        "spec": {"runner": {"template": {"metadata": {"annotations": {"gpu-memory": "4000"}},
                                         "spec": {"containers": [container()]}}}},
    }  # fmt: skip
    found = extract_workload(unknown_kind).accelerators
    assert [(a.resource, a.source) for a in found] == [
        (DEVICE_ACCESS, "spec.runner.template.metadata.annotations.gpu-memory")
    ]


def test_malformed_annotations_are_refused_naming_the_field() -> None:
    from exportgate.core.errors import InputError

    pod = annotated_pod({})
    pod["metadata"]["annotations"] = ["gpu-fraction"]
    with pytest.raises(InputError) as raised:
        extract_workload(pod)
    assert raised.value.field == "metadata.annotations"


def test_a_platform_adds_an_annotation_and_a_cdi_prefix() -> None:
    registry = site_registry(
        "{deviceAccess: {annotations: [acme.io/accel-share],"
        " annotationPrefixes: [acme.io/share.], cdiAnnotationPrefixes: [acme.io/cdi-]}}"
    )
    by_prefix = annotated_pod({"acme.io/share.main": "1"})
    assert extract_workload(by_prefix).accelerators == ()
    assert {a.resource for a in extract_workload(by_prefix, registry=registry).accelerators} == {
        DEVICE_ACCESS
    }
    shared = annotated_pod({"acme.io/accel-share": "1"})
    cdi = annotated_pod({"acme.io/cdi-x": "nvidia.com/gpu=0"})
    assert extract_workload(shared).accelerators == ()
    assert {a.resource for a in extract_workload(shared, registry=registry).accelerators} == {
        DEVICE_ACCESS
    }
    assert {a.resource for a in extract_workload(cdi, registry=registry).accelerators} == {
        "nvidia.com/gpu"
    }
