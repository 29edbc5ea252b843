"""Fail closed on the unknown, class 5 of issue 10: kinds without an adapter are searched
generically, and the newer adapters (Argo, Volcano, Kueue, Seldon, KAITO, Cluster API) find
their accelerators (and KubeRay's autoscaler container, red-team manifest g6).
"""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from exportgate.core.extract import extract_workload
from exportgate.core.types import Action
from tests.core.builders import NOW
from tests.core.extract.fail_closed import (
    ENGINE,
    RESTRICTED,
    T4_GFD,
    container,
    custom_resource,
    decide,
    gpu_container,
    gpu_template,
)

# --- class 5: kinds without an adapter ----------------------------------------------------

GPU8 = {"nvidia.com/gpu": "8"}

UNADAPTED = [
    (
        "new-crd-template",
        custom_resource("acme.example.com/v1", "Trainer", {"template": gpu_template()}),
    ),
    (
        "deep-list",
        custom_resource(
            "acme.example.com/v1",
            "Pipeline",
            {"stages": [{"steps": [{"podSpec": {"containers": [gpu_container()]}}]}]},
        ),
    ),
    (
        "argo-style-container",
        custom_resource(
            "argoproj.io/v1alpha1",
            "WorkflowTemplate",
            {"templates": [{"name": "train", "container": gpu_container()}]},
        ),
    ),
    (
        "inline-containers",
        custom_resource("acme.example.com/v1", "Server", {"containers": [gpu_container()]}),
    ),
    # Red-team finding F6 (manifests g1, g2, g3, g4, g8): shapes the fallback used to miss.
    (
        "top-level-template",
        {
            "apiVersion": "example.com/v1",
            "kind": "GpuRunner",
            "metadata": {"name": "g1", "namespace": "t"},
            "template": {"spec": {"containers": [gpu_container()]}},
        },
    ),
    (
        "bare-resources",
        custom_resource(
            "example.com/v1",
            "InferenceThing",
            {"image": "x", "resources": {"limits": {"nvidia.com/gpu": "8"}}},
        ),
    ),
    (
        "bare-resources-without-image",
        custom_resource(
            "example.com/v1", "Sized", {"size": {"resources": {"limits": {"nvidia.com/gpu": 8}}}}
        ),
    ),
    (
        "flat-resources",
        custom_resource("example.com/v1", "Flat", {"resources": {"cpu": 2, "amd.com/gpu": 1}}),
    ),
    (
        "container-under-other-key",
        custom_resource(
            "example.com/v1",
            "Trainer",
            {"worker": {"name": "w", "image": "x", "resources": {"limits": GPU8}}},
        ),
    ),
    (
        "tekton-steps-compute-resources",
        custom_resource(
            "tekton.dev/v1",
            "TaskRun",
            {
                "taskSpec": {
                    "steps": [{"name": "train", "image": "x", "computeResources": {"limits": GPU8}}]
                }
            },
        ),
    ),
    (
        "containers-as-map",
        custom_resource(
            "example.com/v1",
            "MapRunner",
            {"containers": {"main": {"image": "x", "resources": {"limits": GPU8}}}},
        ),
    ),
    (
        "device-variable-in-container-under-other-key",
        custom_resource(
            "example.com/v1",
            "Trainer",
            {
                "worker": {
                    "image": "x",
                    "env": [{"name": "NVIDIA_VISIBLE_DEVICES", "value": "all"}],
                }
            },
        ),
    ),
    (
        "device-access-in-crd",
        custom_resource(
            "acme.example.com/v1",
            "Server",
            {
                "template": {
                    "spec": {"containers": [container(securityContext={"privileged": True})]}
                }
            },
        ),
    ),
]


@pytest.mark.parametrize("obj", [c[1] for c in UNADAPTED], ids=[c[0] for c in UNADAPTED])
def test_kinds_without_an_adapter_are_read_generically(obj: dict[str, Any]) -> None:
    workload, action = decide(obj)
    assert workload.accelerators and action is Action.DENY


def test_the_generic_search_is_bounded() -> None:
    deep: dict[str, Any] = {"containers": [gpu_container()]}
    for _ in range(40):
        deep = {"x": deep}
    workload, action = decide(custom_resource("acme.example.com/v1", "Deep", deep))
    assert [a.resource for a in workload.accelerators] == ["unsearchable object"]
    assert action is Action.DENY


def test_objects_without_pod_specs_stay_unguarded() -> None:
    obj = custom_resource("acme.example.com/v1", "Thing", {"replicas": 3, "x": [{"y": 1}]})
    assert extract_workload(obj).guarded is False


@pytest.mark.parametrize(
    "spec",
    [
        {"image": "postgres:16", "resources": {"requests": {"cpu": "1", "memory": "2Gi"}}},
        {"resources": {"pods": "10", "requests.cpu": "4", "count/jobs.batch": "5"}},
        {"resources": ["pods", "services"]},  # RBAC-like: not resource requirements
        {"resources": {"limits": "not a map"}},
        {"worker": {"image": "x", "args": "not a list", "env": {"A": "b"}}},
    ],
)
def test_containers_and_requirements_without_accelerators_stay_harmless(
    spec: dict[str, Any],
) -> None:
    workload, action = decide(custom_resource("acme.example.com/v1", "Thing", spec))
    assert workload.accelerators == ()
    assert action is Action.ALLOW


def test_a_container_under_another_key_is_placed_by_its_own_selector() -> None:
    worker = {
        "image": "x",
        "resources": {"limits": GPU8},
        "nodeSelector": {"nvidia.com/gpu.product": T4_GFD},
    }
    _, action = decide(custom_resource("example.com/v1", "Trainer", {"worker": worker}))
    assert action is Action.ALLOW


# --- class 5: the new adapters ------------------------------------------------------------


def _capi(version: str, kind: str, **spec: Any) -> dict[str, Any]:
    return custom_resource(f"infrastructure.cluster.x-k8s.io/{version}", kind, spec, name="m")


NEW_ADAPTERS = [
    (
        "argo-workflow",
        custom_resource(
            "argoproj.io/v1alpha1",
            "Workflow",
            {
                "entrypoint": "train",
                "templates": [{"name": "train", "container": gpu_container()}],
            },
            name="w",
        ),
        1,
    ),
    (
        "argo-containerset",
        custom_resource(
            "argoproj.io/v1alpha1",
            "WorkflowTemplate",
            {
                "templates": [
                    {
                        "name": "s",
                        "containerSet": {"containers": [gpu_container(), gpu_container()]},
                    }
                ]
            },
            name="w",
        ),
        1,  # both containers ask for the same (resource, placement): one request, counts summed
    ),
    (
        "argo-cron",
        custom_resource(
            "argoproj.io/v1alpha1",
            "CronWorkflow",
            {
                "schedule": "0 * * * *",
                "workflowSpec": {
                    "templates": [{"name": "s", "script": {**gpu_container(), "source": "x"}}]
                },
            },
            name="w",
        ),
        1,
    ),
    (
        "volcano-job",
        custom_resource(
            "batch.volcano.sh/v1alpha1",
            "Job",
            {"tasks": [{"replicas": 2, "name": "w", "template": gpu_template()}]},
            name="v",
        ),
        1,
    ),
    (
        "kueue-workload",
        custom_resource(
            "kueue.x-k8s.io/v1beta1",
            "Workload",
            {"podSets": [{"name": "main", "count": 1, "template": gpu_template()}]},
            name="k",
        ),
        1,
    ),
    (
        "seldon-deployment",
        custom_resource(
            "machinelearning.seldon.io/v1",
            "SeldonDeployment",
            {
                "predictors": [
                    {"name": "p", "graph": {"name": "m"}, "componentSpecs": [gpu_template()]}
                ]
            },
            name="s",
        ),
        1,
    ),
    (
        "kaito-inferenceset",
        custom_resource(
            "kaito.sh/v1beta1",
            "InferenceSet",
            {
                "replicas": 2,
                "labelSelector": {"matchLabels": {"a": "b"}},
                "template": {
                    "resource": {"instanceType": "Standard_ND96isr_H100_v5"},
                    "inference": {"preset": {"name": "phi-4"}},
                },
            },
            name="k",
        ),
        1,
    ),
    (
        "kaito-ragengine",
        custom_resource(
            "kaito.sh/v1alpha1",
            "RAGEngine",
            {
                "compute": {
                    "instanceType": "Standard_NC40ads_H100_v5",
                    "labelSelector": {"matchLabels": {"a": "b"}},
                },
                "embedding": {"local": {"modelID": "BAAI/bge-small-en-v1.5"}},
            },
            name="r",
        ),
        1,
    ),
    (
        "capi-aws-managed-pool",
        _capi("v1beta2", "AWSManagedMachinePool", instanceType="p5.48xlarge"),
        1,
    ),
    (
        "capi-azure-managed-pool",
        _capi("v1beta1", "AzureManagedMachinePool", sku="Standard_ND96isr_H100_v5", mode="User"),
        1,
    ),
    (
        "capi-gcp-managed-pool",
        _capi("v1beta1", "GCPManagedMachinePool", machineType="a3-highgpu-8g"),
        1,
    ),
    (
        "capi-aws-mixed-instances",
        _capi(
            "v1beta2",
            "AWSMachinePool",
            awsLaunchTemplate={"instanceType": "m5.large"},
            mixedInstancesPolicy={"overrides": [{"instanceType": "p5.48xlarge"}]},
        ),
        2,
    ),
    # Red-team finding F6, manifest g7: Argo templateDefaults and podSpecPatch.
    (
        "argo-template-defaults",
        custom_resource(
            "argoproj.io/v1alpha1",
            "Workflow",
            {
                "entrypoint": "main",
                "templateDefaults": {"container": {"resources": {"limits": GPU8}}},
                "templates": [{"name": "main", "container": container()}],
            },
        ),
        1,
    ),
    (
        "argo-pod-spec-patch",
        custom_resource(
            "argoproj.io/v1alpha1",
            "Workflow",
            {
                "entrypoint": "main",
                "templates": [
                    {
                        "name": "main",
                        "podSpecPatch": '{"containers":[{"name":"main","resources":'
                        '{"limits":{"nvidia.com/gpu":"8"}}}]}',
                        "container": container(),
                    }
                ],
            },
        ),
        1,
    ),
    (
        "argo-workflow-pod-spec-patch-yaml",
        custom_resource(
            "argoproj.io/v1alpha1",
            "CronWorkflow",
            {
                "workflowSpec": {
                    "podSpecPatch": "containers:\n  - name: main\n    env:\n"
                    "      - {name: NVIDIA_VISIBLE_DEVICES, value: all}\n",
                    "templates": [{"name": "main", "container": container()}],
                }
            },
        ),
        1,
    ),
    (
        "argo-unreadable-pod-spec-patch",
        custom_resource(
            "argoproj.io/v1alpha1",
            "WorkflowTemplate",
            {
                "templates": [
                    {
                        "name": "m",
                        "podSpecPatch": "{{inputs.parameters.patch}",
                        "container": container(),
                    }
                ]
            },
        ),
        1,
    ),
    # Red-team finding F6, manifest g5: Spark Operator driver/executor gpu.
    (
        "spark-executor-gpu",
        custom_resource(
            "sparkoperator.k8s.io/v1beta2",
            "SparkApplication",
            {
                "type": "Python",
                "mode": "cluster",
                "image": "x",
                "driver": {"cores": 1, "memory": "1g"},
                "executor": {
                    "instances": 4,
                    "cores": 8,
                    "memory": "64g",
                    "gpu": {"name": "nvidia.com/gpu", "quantity": 8},
                },
            },
        ),
        1,
    ),
    (
        "scheduled-spark-driver-and-executor-gpu",
        custom_resource(
            "sparkoperator.k8s.io/v1beta2",
            "ScheduledSparkApplication",
            {
                "schedule": "@daily",
                "template": {
                    "driver": {"gpu": {"name": "amd.com/gpu", "quantity": 1}},
                    "executor": {"gpu": {"name": "tenstorrent.com/n150", "quantity": 2}},
                },
            },
        ),
        2,
    ),
]


def test_argo_pod_spec_patches_that_touch_nothing_ask_for_nothing() -> None:
    obj = custom_resource(
        "argoproj.io/v1alpha1",
        "Workflow",
        {
            "podSpecPatch": '{"activeDeadlineSeconds": 600}',
            "templates": [
                {
                    "name": "m",
                    "podSpecPatch": "terminationGracePeriodSeconds: 5",
                    "container": container(),
                }
            ],
        },
    )
    workload, action = decide(obj)
    assert workload.accelerators == () and action is Action.ALLOW


def test_an_argo_pod_spec_patch_is_named_in_the_denial() -> None:
    obj = custom_resource(
        "argoproj.io/v1alpha1",
        "Workflow",
        {"templates": [{"name": "m", "podSpecPatch": "nodeName: gpu-7", "container": container()}]},
    )
    workload = extract_workload(obj)
    message = ENGINE.evaluate(workload, RESTRICTED, NOW).message
    assert "A pod spec patch at spec.templates[0].podSpecPatch" in message


def test_spark_gpus_pinned_to_an_allowed_product_are_admitted() -> None:
    obj = custom_resource(
        "sparkoperator.k8s.io/v1beta2",
        "SparkApplication",
        {
            "nodeSelector": {"nvidia.com/gpu.product": T4_GFD},
            "executor": {"gpu": {"name": "nvidia.com/gpu", "quantity": 1}},
        },
    )
    assert decide(obj)[1] is Action.ALLOW


@pytest.mark.parametrize(
    ("obj", "requests"), [c[1:] for c in NEW_ADAPTERS], ids=[c[0] for c in NEW_ADAPTERS]
)
def test_new_adapters(obj: dict[str, Any], requests: int) -> None:
    workload, action = decide(obj)
    assert len(workload.accelerators) == requests
    assert action is Action.DENY


def _trainjob(target: str) -> dict[str, Any]:
    return {
        "apiVersion": "trainer.kubeflow.org/v1alpha1",
        "kind": "TrainJob",
        "metadata": {"name": "t", "namespace": "t"},
        "spec": {
            "trainer": {"resourcesPerNode": {"limits": {"nvidia.com/gpu": 8}}},
            "podTemplateOverrides": [
                {
                    "targetJobs": [{"name": target}],
                    "spec": {"nodeSelector": {"nvidia.com/gpu.product": T4_GFD}},
                }
            ],
        },
    }


def test_trainjob_overrides_pin_only_the_jobs_they_target() -> None:
    assert decide(_trainjob("node"))[1] is Action.ALLOW  # the trainer is pinned to a T4
    assert decide(_trainjob("dataset-initializer"))[1] is Action.DENY  # the trainer is not


# --- red-team manifest g6: the KubeRay autoscaler container ----------------------------------
# KubeRay adds the autoscaler as a container of the head pod and takes its resources, env,
# image and security context from the cluster spec's autoscalerOptions (AutoscalerOptions in
# ray-operator/apis/ray/v1/raycluster_types.go), not from any pod template.

G6_RAY_AUTOSCALER = """\
apiVersion: ray.io/v1
kind: RayCluster
metadata: {name: g6, namespace: dragon-ml}
spec:
  enableInTreeAutoscaling: true
  autoscalerOptions:
    image: x
    resources: {limits: {nvidia.com/gpu: "8"}}
    env: [{name: NVIDIA_VISIBLE_DEVICES, value: all}]
  headGroupSpec:
    rayStartParams: {}
    template:
      spec:
        containers: [{name: head, image: rayproject/ray}]
"""

_CLUSTER_SPEC_FIELD = {
    "RayCluster": None,
    "RayJob": "rayClusterSpec",
    "RayService": "rayClusterConfig",
}


def _ray(kind: str, autoscaler: dict[str, Any], **head_spec: Any) -> dict[str, Any]:
    head = {"containers": [container(name="head")], **head_spec}
    cluster = {
        "enableInTreeAutoscaling": True,
        "autoscalerOptions": autoscaler,
        "headGroupSpec": {"rayStartParams": {}, "template": {"spec": head}},
        "workerGroupSpecs": [
            {
                "groupName": "cpu",
                "rayStartParams": {},
                "template": {"spec": {"containers": [container(name="worker")]}},
            }
        ],
    }
    field = _CLUSTER_SPEC_FIELD[kind]
    return custom_resource("ray.io/v1", kind, cluster if field is None else {field: cluster})


def test_the_ray_autoscaler_red_team_manifest_is_denied() -> None:
    workload, action = decide(yaml.safe_load(G6_RAY_AUTOSCALER))
    assert action is Action.DENY
    assert {(a.resource, a.count, a.hints, a.source) for a in workload.accelerators} == {
        ("nvidia.com/gpu", 8, (), 'spec.autoscalerOptions.resources.limits["nvidia.com/gpu"]'),
        ("exportgate.dev/device-access", 1, (), "spec.autoscalerOptions.env[0]"),
    }


@pytest.mark.parametrize("kind", sorted(_CLUSTER_SPEC_FIELD))
@pytest.mark.parametrize(
    "autoscaler",
    [
        {"resources": {"limits": GPU8}},
        {"resources": {"requests": {"amd.com/gpu": "1"}}},
        {"env": [{"name": "NVIDIA_VISIBLE_DEVICES", "value": "all"}]},
        {"securityContext": {"privileged": True}},
    ],
    ids=["gpu-limit", "amd-request", "device-variable", "privileged"],
)
def test_the_ray_autoscaler_is_read_in_every_cluster_spec(
    kind: str, autoscaler: dict[str, Any]
) -> None:
    workload, action = decide(_ray(kind, autoscaler))
    assert len(workload.accelerators) == 1
    assert "autoscalerOptions" in workload.accelerators[0].source
    assert action is Action.DENY


@pytest.mark.parametrize("kind", sorted(_CLUSTER_SPEC_FIELD))
def test_an_ordinary_ray_autoscaler_asks_for_nothing(kind: str) -> None:
    autoscaler = {
        "image": "rayproject/ray:2.41.0",
        "imagePullPolicy": "IfNotPresent",
        "resources": {"limits": {"cpu": "500m", "memory": "512Mi"}},
        "env": [{"name": "RAY_LOG_LEVEL", "value": "debug"}],
        "envFrom": [{"configMapRef": {"name": "autoscaler"}}],
        "securityContext": {"runAsNonRoot": True},
        "volumeMounts": [{"name": "tls", "mountPath": "/etc/ray/tls"}],
        "idleTimeoutSeconds": 60,
        "upscalingMode": "Default",
    }
    workload, action = decide(_ray(kind, autoscaler))
    assert workload.accelerators == ()
    assert action is Action.ALLOW


def test_the_ray_autoscaler_is_placed_where_the_head_pod_is() -> None:
    """It is a container of the head pod: the head template's selector places it (a T4 is
    allowed), a worker group's does not."""
    autoscaler = {"resources": {"limits": GPU8}}
    on_t4 = _ray("RayCluster", autoscaler, nodeSelector={"nvidia.com/gpu.product": T4_GFD})
    workload, action = decide(on_t4)
    assert [dict((h.key, h.values) for h in a.hints) for a in workload.accelerators] == [
        {"nvidia.com/gpu.product": (T4_GFD,)}
    ]
    assert action is Action.ALLOW

    worker_on_t4 = _ray("RayCluster", autoscaler)
    worker_on_t4["spec"]["workerGroupSpecs"][0]["template"]["spec"]["nodeSelector"] = {
        "nvidia.com/gpu.product": T4_GFD
    }
    assert decide(worker_on_t4)[1] is Action.DENY
