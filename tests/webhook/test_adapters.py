"""Every built-in kind adapter reaches the sidecar, and the sidecar's answer reaches the tenant.

One row per kind the core's `AdapterRegistry` knows. Each object asks for an H100 (or a hosted
model) for tenant "nimbus", whom the default policies refuse both; the test sends it to the real
webhook over HTTPS and checks:

* the review is denied with a message naming the kind and object;
* the decision record the sidecar wrote carries the right object identity, tenant, requesting
  user and request uid, and the accelerator or model the adapter found at the right field.

`test_the_table_covers_every_registered_kind` keeps the table honest when adapters are added.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from exportgate_sidecar.server import SidecarServer

from exportgate.core.extract import AdapterRegistry
from tests.cluster.certs import ServingCert
from tests.webhook.conftest import Webhook, start_webhook, stop_webhook, webhook_config
from tests.webhook.helpers import (
    NIMBUS_NS,
    PLATFORM_USER,
    TENANT_LABEL,
    TENANT_USER,
    review_for,
)

H100 = "NVIDIA-H100-80GB-HBM3"


def pod_spec(product: str = H100, count: int = 1, container: str = "main") -> dict[str, Any]:
    return {
        "nodeSelector": {"nvidia.com/gpu.product": product},
        "containers": [
            {
                "name": container,
                "image": "registry.example.com/app:1.0",
                "resources": {"limits": {"nvidia.com/gpu": str(count)}},
            }
        ],
    }


def template() -> dict[str, Any]:
    return {"metadata": {"labels": {"app": "x"}}, "spec": pod_spec()}


@dataclass(frozen=True)
class Case:
    api_version: str
    kind: str
    spec: Mapping[str, Any]
    where: str  # a field path the sidecar must report for what was asked
    cluster_scoped: bool = False
    top: Mapping[str, Any] | None = None  # top-level fields other than spec (PodTemplate)
    annotations: Mapping[str, str] | None = None
    action: str = "deny"

    @property
    def id(self) -> str:
        return f"{self.api_version.rpartition('/')[0] or 'core'}/{self.kind}"

    def object(self) -> dict[str, Any]:
        metadata: dict[str, Any] = {"name": f"{self.kind.lower()}-h100"}
        if self.cluster_scoped:
            metadata["labels"] = {TENANT_LABEL: "nimbus"}
        else:
            metadata["namespace"] = NIMBUS_NS
        if self.annotations:
            metadata["annotations"] = dict(self.annotations)
        obj: dict[str, Any] = {"apiVersion": self.api_version, "kind": self.kind}
        obj["metadata"] = metadata
        if self.top is not None:
            obj.update(self.top)
        else:
            obj["spec"] = dict(self.spec)
        return obj


def _replicas(key: str) -> dict[str, Any]:
    return {key: {"Worker": {"replicas": 2, "template": template()}}}


def _ray_cluster() -> dict[str, Any]:
    return {
        "headGroupSpec": {"template": {"spec": {"containers": [{"name": "head", "image": "r"}]}}},
        "workerGroupSpecs": [{"groupName": "gpu", "template": template()}],
    }


CASES = [
    # Pods and every built-in owner of a pod template.
    Case("v1", "Pod", pod_spec(), "spec.containers[0]"),
    Case("v1", "PodTemplate", {}, "template.spec", top={"template": template()}),
    Case("v1", "ReplicationController", {"template": template()}, "spec.template.spec"),
    Case("apps/v1", "Deployment", {"template": template()}, "spec.template.spec"),
    Case("apps/v1", "StatefulSet", {"template": template()}, "spec.template.spec"),
    Case("apps/v1", "DaemonSet", {"template": template()}, "spec.template.spec"),
    Case("apps/v1", "ReplicaSet", {"template": template()}, "spec.template.spec"),
    Case("batch/v1", "Job", {"template": template()}, "spec.template.spec"),
    Case(
        "batch/v1",
        "CronJob",
        {"schedule": "0 * * * *", "jobTemplate": {"spec": {"template": template()}}},
        "spec.jobTemplate.spec.template.spec",
    ),
    # Dynamic resource allocation: a CEL selector on productName.
    Case(
        "resource.k8s.io/v1",
        "ResourceClaim",
        {
            "devices": {
                "requests": [
                    {
                        "name": "gpu",
                        "exactly": {
                            "deviceClassName": "gpu.nvidia.com",
                            "count": 2,
                            "selectors": [
                                {
                                    "cel": {
                                        "expression": 'device.attributes["gpu.nvidia.com"]'
                                        '.productName == "NVIDIA H100 80GB HBM3"'
                                    }
                                }
                            ],
                        },
                    }
                ]
            }
        },
        "spec.devices.requests[0]",
    ),
    Case(
        "resource.k8s.io/v1",
        "ResourceClaimTemplate",
        {
            "spec": {
                "devices": {
                    "requests": [
                        {
                            "name": "gpu",
                            "exactly": {
                                "deviceClassName": "gpu.nvidia.com",
                                "selectors": [
                                    {
                                        "cel": {
                                            "expression": 'device.attributes["gpu.nvidia.com"]'
                                            '.productName == "NVIDIA H100 80GB HBM3"'
                                        }
                                    }
                                ],
                            },
                        }
                    ]
                }
            }
        },
        "spec.spec.devices.requests[0]",
    ),
    # Node provisioning: the tenant is the object's own label.
    Case(
        "karpenter.sh/v1",
        "NodePool",
        {
            "template": {
                "spec": {
                    "nodeClassRef": {"group": "karpenter.k8s.aws", "kind": "EC2NodeClass"},
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
        "spec.template.spec.requirements",
        cluster_scoped=True,
    ),
    Case(
        "karpenter.sh/v1alpha5",
        "Provisioner",
        {
            "requirements": [
                {"key": "karpenter.k8s.aws/instance-family", "operator": "In", "values": ["p5"]}
            ]
        },
        "spec.requirements",
        cluster_scoped=True,
    ),
    Case(
        "eks.services.k8s.aws/v1alpha1",
        "Nodegroup",
        {"clusterName": "prod", "instanceTypes": ["p5.48xlarge"]},
        "spec.instanceTypes",
    ),
    Case(
        "container.cnrm.cloud.google.com/v1beta1",
        "ContainerNodePool",
        {
            "nodeConfig": {
                "machineType": "a3-highgpu-8g",
                "guestAccelerator": [{"type": "nvidia-h100-80gb", "count": 8}],
            }
        },
        "spec.nodeConfig",
    ),
    Case(
        "cluster.x-k8s.io/v1beta1",
        "MachineDeployment",
        {"clusterName": "prod", "template": {"spec": {"clusterName": "prod"}}},
        "capacity.cluster-autoscaler.kubernetes.io/gpu-type",
        annotations={
            "capacity.cluster-autoscaler.kubernetes.io/gpu-type": "nvidia.com/gpu",
            "capacity.cluster-autoscaler.kubernetes.io/gpu-count": "8",
        },
    ),
    Case(
        "cluster.x-k8s.io/v1beta1",
        "MachineSet",
        {"clusterName": "prod"},
        "capacity.cluster-autoscaler.kubernetes.io/gpu-type",
        annotations={"capacity.cluster-autoscaler.kubernetes.io/gpu-type": "nvidia.com/gpu"},
    ),
    Case(
        "cluster.x-k8s.io/v1beta1",
        "MachinePool",
        {"clusterName": "prod"},
        "capacity.cluster-autoscaler.kubernetes.io/gpu-type",
        annotations={"capacity.cluster-autoscaler.kubernetes.io/gpu-type": "nvidia.com/gpu"},
    ),
    Case(
        "infrastructure.cluster.x-k8s.io/v1beta2",
        "AWSMachineTemplate",
        {"template": {"spec": {"instanceType": "p5.48xlarge"}}},
        "spec.template.spec.instanceType",
    ),
    Case(
        "infrastructure.cluster.x-k8s.io/v1beta1",
        "GCPMachineTemplate",
        {"template": {"spec": {"instanceType": "a3-highgpu-8g"}}},
        "spec.template.spec.instanceType",
    ),
    Case(
        "infrastructure.cluster.x-k8s.io/v1beta1",
        "AzureMachineTemplate",
        {"template": {"spec": {"vmSize": "Standard_ND96isr_H100_v5"}}},
        "spec.template.spec.vmSize",
    ),
    # Serving.
    Case(
        "serving.kserve.io/v1beta1",
        "InferenceService",
        {
            "predictor": {
                "nodeSelector": {"nvidia.com/gpu.product": H100},
                "model": {
                    "modelFormat": {"name": "huggingface"},
                    "storageUri": "hf://meta-llama/Llama-3.1-8B-Instruct",
                    "resources": {"limits": {"nvidia.com/gpu": "1"}},
                },
            }
        },
        "spec.predictor",
    ),
    Case(
        "serving.kserve.io/v1alpha1",
        "LLMInferenceService",
        {
            "model": {"uri": "hf://meta-llama/Llama-3.1-8B-Instruct", "name": "llama"},
            "template": pod_spec(),
        },
        "spec.template",
    ),
    Case(
        "serving.kserve.io/v1alpha1",
        "LLMInferenceServiceConfig",
        {"template": pod_spec()},
        "spec.template",
    ),
    Case("serving.kserve.io/v1alpha1", "ServingRuntime", pod_spec(), "spec.containers[0]"),
    Case(
        "serving.kserve.io/v1alpha1",
        "ClusterServingRuntime",
        pod_spec(),
        "spec.containers[0]",
        cluster_scoped=True,
    ),
    Case("serving.knative.dev/v1", "Service", {"template": template()}, "spec.template"),
    Case("serving.knative.dev/v1", "Configuration", {"template": template()}, "spec.template"),
    Case("serving.knative.dev/v1", "Revision", pod_spec(), "spec.containers[0]"),
    Case(
        "apps.nvidia.com/v1alpha1",
        "NIMService",
        {
            "image": {"repository": "nvcr.io/nim/meta/llama-3.1-8b-instruct", "tag": "1.3.3"},
            "resources": {"limits": {"nvidia.com/gpu": "1"}},
            "nodeSelector": {"nvidia.com/gpu.product": H100},
        },
        "spec",
    ),
    Case(  # only a model; nothing in the default packs refuses Llama to nimbus
        "apps.nvidia.com/v1alpha1",
        "NIMCache",
        {"source": {"ngc": {"modelPuller": "nvcr.io/nim/meta/llama-3.1-8b-instruct:1.3.3"}}},
        "spec.source.ngc.modelPuller",
        action="allow",
    ),
    Case(
        "apps.nvidia.com/v1alpha1",
        "NIMPipeline",
        {
            "services": [
                {
                    "name": "llm",
                    "spec": {
                        "image": {"repository": "nvcr.io/nim/meta/llama-3.1-8b-instruct"},
                        "resources": {"limits": {"nvidia.com/gpu": "1"}},
                        "nodeSelector": {"nvidia.com/gpu.product": H100},
                    },
                }
            ]
        },
        "spec.services[0].spec",
    ),
    Case(  # the engine-build pod always gets GPUs: pinned to an H100 here
        "apps.nvidia.com/v1alpha1",
        "NIMBuild",
        {
            "nimCache": {"name": "llama"},
            "image": {"repository": "nvcr.io/nim/meta/llama-3.1-8b-instruct", "tag": "1.3.3"},
            "nodeSelector": {"nvidia.com/gpu.product": H100},
        },
        "spec",
    ),
    Case(
        "kaito.sh/v1beta1",
        "Workspace",
        {},
        "resource.instanceType",
        top={
            "resource": {
                "instanceType": "Standard_ND96isr_H100_v5",
                "labelSelector": {"matchLabels": {"apps": "llama"}},
            },
            "inference": {"preset": {"name": "llama-3.1-8b-instruct"}},
        },
    ),
    # Training.
    *(
        Case(f"kubeflow.org/{version}", kind, _replicas(key), f"spec.{key}")
        for version, kind, key in (
            ("v1", "PyTorchJob", "pytorchReplicaSpecs"),
            ("v1", "TFJob", "tfReplicaSpecs"),
            ("v2beta1", "MPIJob", "mpiReplicaSpecs"),
            ("v1", "XGBoostJob", "xgbReplicaSpecs"),
            ("v1", "PaddleJob", "paddleReplicaSpecs"),
            ("v1", "JAXJob", "jaxReplicaSpecs"),
        )
    ),
    Case(
        "trainer.kubeflow.org/v1alpha1",
        "TrainJob",
        {
            "runtimeRef": {"name": "torch-distributed"},
            "trainer": {
                "numNodes": 2,
                "resourcesPerNode": {"limits": {"nvidia.com/gpu": "8"}},
            },
            "podTemplateOverrides": [
                {
                    "targetJobs": [{"name": "node"}],
                    "spec": {"nodeSelector": {"nvidia.com/gpu.product": H100}},
                }
            ],
        },
        "spec.trainer.resourcesPerNode",
    ),
    *(
        Case(
            "trainer.kubeflow.org/v1alpha1",
            kind,
            {
                "template": {
                    "spec": {
                        "replicatedJobs": [
                            {"name": "node", "template": {"spec": {"template": template()}}}
                        ]
                    }
                }
            },
            "spec.template.spec.replicatedJobs[0]",
            cluster_scoped=kind.startswith("Cluster"),
        )
        for kind in ("TrainingRuntime", "ClusterTrainingRuntime")
    ),
    Case("ray.io/v1", "RayCluster", _ray_cluster(), "spec.workerGroupSpecs[0].template"),
    Case(
        "ray.io/v1",
        "RayJob",
        {"entrypoint": "python train.py", "rayClusterSpec": _ray_cluster()},
        "spec.rayClusterSpec.workerGroupSpecs[0].template",
    ),
    Case(
        "ray.io/v1",
        "RayService",
        {"rayClusterConfig": _ray_cluster()},
        "spec.rayClusterConfig.workerGroupSpecs[0].template",
    ),
    Case(
        "jobset.x-k8s.io/v1alpha2",
        "JobSet",
        {"replicatedJobs": [{"name": "workers", "template": {"spec": {"template": template()}}}]},
        "spec.replicatedJobs[0].template.spec.template",
    ),
    Case(
        "leaderworkerset.x-k8s.io/v1",
        "LeaderWorkerSet",
        {"leaderWorkerTemplate": {"size": 4, "workerTemplate": template()}},
        "spec.leaderWorkerTemplate.workerTemplate",
    ),
    # Kinds added for issue 10 (Argo, Volcano, Kueue, Seldon, KAITO, CAPI managed pools).
    Case(
        "argoproj.io/v1alpha1",
        "Workflow",
        {
            "templates": [
                {
                    "name": "train",
                    "nodeSelector": {"nvidia.com/gpu.product": H100},
                    "container": pod_spec()["containers"][0],
                }
            ]
        },
        "spec.templates[0].container",
    ),
    Case(
        "argoproj.io/v1alpha1",
        "WorkflowTemplate",
        {"templates": [{"name": "train", "container": pod_spec()["containers"][0]}]},
        "spec.templates[0].container",
    ),
    Case(
        "argoproj.io/v1alpha1",
        "ClusterWorkflowTemplate",
        {"templates": [{"name": "train", "script": pod_spec()["containers"][0]}]},
        "spec.templates[0].script",
        cluster_scoped=True,
    ),
    Case(
        "argoproj.io/v1alpha1",
        "CronWorkflow",
        {
            "schedule": "0 3 * * *",
            "workflowSpec": {
                "templates": [{"name": "train", "container": pod_spec()["containers"][0]}]
            },
        },
        "spec.workflowSpec.templates[0].container",
    ),
    Case(
        "sparkoperator.k8s.io/v1beta2",
        "SparkApplication",
        {
            "nodeSelector": {"nvidia.com/gpu.product": H100},
            "executor": {"instances": 2, "gpu": {"name": "nvidia.com/gpu", "quantity": 1}},
        },
        "spec",
    ),
    Case(
        "sparkoperator.k8s.io/v1beta2",
        "ScheduledSparkApplication",
        {
            "schedule": "@daily",
            "template": {
                "driver": {
                    "nodeSelector": {"nvidia.com/gpu.product": H100},
                    "gpu": {"name": "nvidia.com/gpu", "quantity": 1},
                }
            },
        },
        "spec.template",
    ),
    Case(
        "batch.volcano.sh/v1alpha1",
        "Job",
        {"tasks": [{"name": "worker", "replicas": 2, "template": template()}]},
        "spec.tasks[0].template",
    ),
    Case(
        "kueue.x-k8s.io/v1beta1",
        "Workload",
        {"podSets": [{"name": "main", "count": 1, "template": template()}]},
        "spec.podSets[0].template",
    ),
    Case(
        "machinelearning.seldon.io/v1",
        "SeldonDeployment",
        {
            "predictors": [
                {"name": "p", "graph": {"name": "m"}, "componentSpecs": [{"spec": pod_spec()}]}
            ]
        },
        "spec.predictors[0].componentSpecs[0].spec",
    ),
    Case("mlops.seldon.io/v1alpha1", "Server", {"podSpec": pod_spec()}, "spec.podSpec"),
    Case(  # only a model; nothing in the default packs refuses Llama to nimbus
        "mlops.seldon.io/v1alpha1",
        "Model",
        {"storageUri": "hf://meta-llama/Llama-3.1-8B-Instruct"},
        "spec.storageUri",
        action="allow",
    ),
    Case(
        "kaito.sh/v1beta1",
        "InferenceSet",
        {
            "replicas": 2,
            "labelSelector": {"matchLabels": {"apps": "x"}},
            "template": {
                "resource": {"instanceType": "Standard_ND96isr_H100_v5"},
                "inference": {"preset": {"name": "phi-4-mini-instruct"}},
            },
        },
        "spec.template.resource.instanceType",
    ),
    Case(
        "kaito.sh/v1alpha1",
        "RAGEngine",
        {
            "compute": {
                "instanceType": "Standard_ND96isr_H100_v5",
                "labelSelector": {"matchLabels": {"apps": "x"}},
            },
            "embedding": {"local": {"modelID": "BAAI/bge-small-en-v1.5"}},
        },
        "spec.compute.instanceType",
    ),
    Case(
        "infrastructure.cluster.x-k8s.io/v1beta2",
        "AWSManagedMachinePool",
        {"instanceType": "p5.48xlarge"},
        "spec.instanceType",
    ),
    Case(
        "infrastructure.cluster.x-k8s.io/v1beta2",
        "AWSMachinePool",
        {"awsLaunchTemplate": {"instanceType": "p5.48xlarge"}},
        "spec.awsLaunchTemplate.instanceType",
    ),
    Case(
        "infrastructure.cluster.x-k8s.io/v1beta1",
        "AzureManagedMachinePool",
        {"sku": "Standard_ND96isr_H100_v5", "mode": "User"},
        "spec.sku",
    ),
    Case(
        "infrastructure.cluster.x-k8s.io/v1beta1",
        "AzureMachinePool",
        {"template": {"vmSize": "Standard_ND96isr_H100_v5"}},
        "spec.template.vmSize",
    ),
    Case(
        "infrastructure.cluster.x-k8s.io/v1beta1",
        "GCPManagedMachinePool",
        {"machineType": "a3-highgpu-8g"},
        "spec.machineType",
    ),
    # Bare Cluster API machines and the other providers' machine kinds (cluster-api.yaml).
    Case(
        "infrastructure.cluster.x-k8s.io/v1beta2",
        "AWSMachine",
        {"instanceType": "p5.48xlarge"},
        "spec.instanceType",
    ),
    Case(
        "infrastructure.cluster.x-k8s.io/v1beta2",
        "ROSAMachinePool",
        {"nodePoolName": "gpu", "instanceType": "p5.48xlarge"},
        "spec.instanceType",
    ),
    Case(
        "infrastructure.cluster.x-k8s.io/v1beta1",
        "GCPMachine",
        {"instanceType": "n1-standard-8", "guestAccelerators": [{"type": "nvidia-tesla-a100"}]},
        "spec.guestAccelerators[0]",
    ),
    Case(
        "infrastructure.cluster.x-k8s.io/v1beta1",
        "GCPMachinePool",
        {"instanceType": "a3-highgpu-8g"},
        "spec.instanceType",
    ),
    Case(
        "infrastructure.cluster.x-k8s.io/v1beta1",
        "GCPManagedMachinePoolTemplate",
        {"template": {"spec": {"machineType": "a3-highgpu-8g"}}},
        "spec.template.spec.machineType",
    ),
    Case(
        "infrastructure.cluster.x-k8s.io/v1beta1",
        "AzureMachine",
        {"vmSize": "Standard_ND96isr_H100_v5"},
        "spec.vmSize",
    ),
    Case(
        "infrastructure.cluster.x-k8s.io/v1beta1",
        "AzureManagedMachinePoolTemplate",
        {"template": {"spec": {"sku": "Standard_ND96isr_H100_v5"}}},
        "spec.template.spec.sku",
    ),
    Case(
        "infrastructure.cluster.x-k8s.io/v1alpha1",
        "AzureASOManagedMachinePoolTemplate",
        {"template": {"spec": {"resources": [{"spec": {"vmSize": "Standard_ND96isr_H100_v5"}}]}}},
        "spec.template.spec.resources[0]",
    ),
    Case(
        "infrastructure.cluster.x-k8s.io/v1beta2",
        "OCIMachine",
        {"shape": "BM.GPU.H100.8"},
        "spec.shape",
    ),
    Case(
        "infrastructure.cluster.x-k8s.io/v1beta1",
        "VSphereMachine",
        {"pciDevices": [{"deviceId": 8960, "vendorId": 4318}]},
        "spec.pciDevices[0]",
    ),
    Case(
        "infrastructure.cluster.x-k8s.io/v1beta1",
        "VSphereMachineTemplate",
        {"template": {"spec": {"pciDevices": [{"vGPUProfile": "grid_a100-40c"}]}}},
        "spec.template.spec.pciDevices[0]",
    ),
    Case(
        "vmware.infrastructure.cluster.x-k8s.io/v1beta1",
        "VSphereMachine",
        {"className": "vgpu-a100"},
        "spec.className",
    ),
    Case(
        "vmware.infrastructure.cluster.x-k8s.io/v1beta1",
        "VSphereMachineTemplate",
        {"template": {"spec": {"className": "vgpu-a100"}}},
        "spec.template.spec.className",
    ),
    # vSphere VM Service (VM Operator): a tenant's VM and its replica sets, by VM class.
    Case(
        "vmoperator.vmware.com/v1alpha6",
        "VirtualMachine",
        {"className": "vgpu-a100", "imageName": "vmi-0a0044d7c690bcbea"},
        "spec.className",
    ),
    Case(
        "vmoperator.vmware.com/v1alpha6",
        "VirtualMachineReplicaSet",
        {"replicas": 2, "template": {"spec": {"className": "vgpu-a100"}}},
        "spec.template.spec.className",
    ),
    Case(
        "infrastructure.cluster.x-k8s.io/v1beta1",
        "OpenStackMachine",
        {"flavor": "gpu.a100"},
        "spec.flavor",
    ),
    Case(
        "infrastructure.cluster.x-k8s.io/v1beta1",
        "OpenStackMachineTemplate",
        {"template": {"spec": {"flavor": "gpu.a100"}}},
        "spec.template.spec.flavor",
    ),
    # Cluster API's development provider: a Docker-backed machine (an in-memory one asks for
    # nothing; tests/core/extract/test_fail_closed_capi_machines.py).
    Case(
        "infrastructure.cluster.x-k8s.io/v1beta2",
        "DevMachine",
        {"backend": {"docker": {}}},
        "spec.backend.docker",
    ),
    Case(
        "infrastructure.cluster.x-k8s.io/v1beta2",
        "DevMachineTemplate",
        {"template": {"spec": {"backend": {"docker": {}}}}},
        "spec.template.spec.backend.docker",
    ),
    Case(
        "infrastructure.cluster.x-k8s.io/v1beta2",
        "DevMachinePoolTemplate",
        {"template": {"spec": {"backend": {"docker": {}}}}},
        "spec.template.spec.backend.docker",
    ),
    # Node-pool kinds of red-team finding F3: Cluster API for OCI, CAPZ's ASO-based pools,
    # Azure Service Operator AKS.
    Case(
        "infrastructure.cluster.x-k8s.io/v1beta2",
        "OCIMachineTemplate",
        {"template": {"spec": {"shape": "BM.GPU.H100.8"}}},
        "spec.template.spec.shape",
    ),
    Case(
        "infrastructure.cluster.x-k8s.io/v1beta2",
        "OCIMachinePool",
        {"instanceConfiguration": {"shape": "BM.GPU.H100.8"}},
        "spec.instanceConfiguration.shape",
    ),
    Case(
        "infrastructure.cluster.x-k8s.io/v1beta2",
        "OCIManagedMachinePool",
        {"nodeShape": "BM.GPU.H100.8"},
        "spec.nodeShape",
    ),
    Case(
        "infrastructure.cluster.x-k8s.io/v1beta2",
        "OCIManagedMachinePoolTemplate",
        {"template": {"spec": {"nodeShape": "BM.GPU.H100.8"}}},
        "spec.template.spec.nodeShape",
    ),
    Case(
        "infrastructure.cluster.x-k8s.io/v1beta1",
        "AzureASOManagedMachinePool",
        {
            "resources": [
                {
                    "apiVersion": "containerservice.azure.com/v1api20240901",
                    "kind": "ManagedClustersAgentPool",
                    "metadata": {"name": "pool0"},
                    "spec": {"owner": {"name": "aks"}, "vmSize": "Standard_ND96isr_H100_v5"},
                }
            ]
        },
        "spec.resources[0]",
    ),
    # Control planes and clusters that create worker capacity (red team 13, F3).
    Case(
        "controlplane.cluster.x-k8s.io/v1beta2",
        "ROSAControlPlane",
        {"rosaClusterName": "x", "defaultMachinePoolSpec": {"instanceType": "p5.48xlarge"}},
        "spec.defaultMachinePoolSpec.instanceType",
    ),
    Case(
        "infrastructure.cluster.x-k8s.io/v1beta1",
        "GCPManagedControlPlane",
        {"project": "p", "location": "l", "enableAutopilot": True},
        "spec.enableAutopilot",
    ),
    Case(
        "infrastructure.cluster.x-k8s.io/v1beta1",
        "GCPManagedControlPlaneTemplate",
        {"template": {"spec": {"project": "p", "location": "l", "enableAutopilot": True}}},
        "spec.template.spec.enableAutopilot",
    ),
    Case(
        "infrastructure.cluster.x-k8s.io/v1beta1",
        "AzureManagedControlPlane",
        {"asoManagedClusterPatches": ['{"spec": {"nodeProvisioningProfile": {"mode": "Auto"}}}']},
        "spec.asoManagedClusterPatches[0]",
    ),
    Case(
        "infrastructure.cluster.x-k8s.io/v1beta1",
        "AzureManagedControlPlaneTemplate",
        {
            "template": {
                "spec": {"asoManagedClusterPatches": ['{"spec": {"sku": {"name": "Automatic"}}}']}
            }
        },
        "spec.template.spec.asoManagedClusterPatches[0]",
    ),
    Case(
        "infrastructure.cluster.x-k8s.io/v1beta1",
        "AzureASOManagedControlPlaneTemplate",
        {
            "template": {
                "spec": {"resources": [{"spec": {"nodeProvisioningProfile": {"mode": "Auto"}}}]}
            }
        },
        "spec.template.spec.resources[0]",
    ),
    Case(
        "container.cnrm.cloud.google.com/v1beta1",
        "ContainerCluster",
        {"location": "us-central1", "enableAutopilot": True},
        "spec.enableAutopilot",
    ),
    Case(
        "eks.services.k8s.aws/v1alpha1",
        "Cluster",
        {"name": "x", "computeConfig": {"enabled": True}},
        "spec.computeConfig.enabled",
    ),
    Case(
        "infrastructure.cluster.x-k8s.io/v1beta1",
        "AzureASOManagedControlPlane",
        {
            "resources": [
                {
                    "apiVersion": "containerservice.azure.com/v1api20240901",
                    "kind": "ManagedCluster",
                    "metadata": {"name": "aks"},
                    "spec": {
                        "agentPoolProfiles": [{"name": "gpu", "vmSize": "Standard_ND96isr_H100_v5"}]
                    },
                }
            ]
        },
        "spec.resources[0].spec.agentPoolProfiles[0]",
    ),
    Case(
        "containerservice.azure.com/v1api20231001",
        "ManagedClustersAgentPool",
        {"owner": {"name": "aks"}, "vmSize": "Standard_ND96isr_H100_v5"},
        "spec.vmSize",
    ),
    Case(
        "containerservice.azure.com/v1api20231001",
        "ManagedCluster",
        {"agentPoolProfiles": [{"name": "gpu", "vmSize": "Standard_ND96isr_H100_v5"}]},
        "spec.agentPoolProfiles[0]",
    ),
    # Hosted models.
    Case(
        "exportgate.dev/v1alpha1",
        "ModelEndpoint",
        {"provider": "anthropic", "model": "claude-sonnet-4-5"},
        "spec.model",
    ),
    # Model gateways and agent frameworks.
    Case(
        "aigateway.envoyproxy.io/v1beta1",
        "AIGatewayRoute",
        {
            "rules": [
                {
                    "matches": [
                        {"headers": [{"type": "Exact", "name": "x-ai-eg-model", "value": "x"}]}
                    ],
                    "backendRefs": [
                        {
                            "name": "aws",
                            "modelNameOverride": "us.anthropic.claude-3-7-sonnet-20250219-v1:0",
                        }
                    ],
                }
            ]
        },
        "spec.rules[0].backendRefs[0].modelNameOverride",
    ),
    Case(
        "aigateway.envoyproxy.io/v1beta1",
        "AIServiceBackend",
        {"schema": {"name": "GCPAnthropic"}, "backendRef": {"name": "vertex"}},
        "spec.schema.name",
    ),
    Case(
        "gateway.envoyproxy.io/v1alpha1",
        "Backend",
        {"endpoints": [{"fqdn": {"hostname": "api.anthropic.com", "port": 443}}]},
        "spec.endpoints[0].fqdn.hostname",
    ),
    Case(
        "inference.networking.x-k8s.io/v1alpha2",
        "InferenceModel",
        {"modelName": "chat", "targetModels": [{"name": "meta-llama/Llama-3.1-8B-Instruct"}]},
        "spec.targetModels[0].name",
        action="allow",
    ),
    Case(
        "kagent.dev/v1alpha2",
        "ModelConfig",
        {"provider": "Bedrock", "model": "house-model", "bedrock": {"region": "us-east-1"}},
        "spec.model",
    ),
    # Serving kinds (kubeai.yaml, aibrix.yaml, ome.yaml, vllm-production-stack.yaml,
    # dynamo.yaml): a GPU in a profile string, models in URL fields, and kinds read by the
    # generic search that are named only so that the chart routes them (`generic: true`).
    Case(
        "kubeai.org/v1",
        "Model",
        {"url": "hf://org/x", "resourceProfile": "nvidia-gpu-h100:8"},
        "spec.resourceProfile",
    ),
    Case(
        "model.aibrix.ai/v1alpha1",
        "ModelAdapter",
        {"artifactURL": "huggingface://meta-llama/Llama-3.1-8B-Instruct"},
        "spec.artifactURL",
        action="allow",
    ),
    Case(
        "model.aibrix.ai/v1alpha1",
        "ModelClaim",
        {"artifactURL": "huggingface://meta-llama/Llama-3.1-8B-Instruct"},
        "spec.artifactURL",
        action="allow",
    ),
    *(
        Case("orchestration.aibrix.ai/v1alpha1", kind, {"template": template()}, "spec.template")
        for kind in (
            "StormService",
            "RoleSet",
            "PodSet",
            "RayClusterFleet",
            "RayClusterReplicaSet",
            "KVCache",
        )
    ),
    Case(
        "ome.io/v1beta1",
        "BaseModel",
        {"storage": {"storageUri": "hf://meta-llama/Llama-3.1-8B-Instruct"}},
        "spec.storage.storageUri",
        action="allow",
    ),
    Case(
        "ome.io/v1beta1",
        "FineTunedWeight",
        {"storage": {"storageUri": "hf://meta-llama/Llama-3.1-8B-Instruct"}},
        "spec.storage.storageUri",
        action="allow",
    ),
    Case(
        "ome.io/v1beta1",
        "ClusterBaseModel",
        {"storage": {"storageUri": "hf://meta-llama/Llama-3.1-8B-Instruct"}},
        "spec.storage.storageUri",
        cluster_scoped=True,
        action="allow",
    ),
    Case(
        "ome.io/v1beta1",
        "InferenceService",
        {"model": {"name": "x"}, "engine": pod_spec()},
        "spec.engine",
    ),
    Case("ome.io/v1beta1", "ServingRuntime", {"engineConfig": pod_spec()}, "spec.engineConfig"),
    Case(
        "ome.io/v1beta1",
        "ClusterServingRuntime",
        {"engineConfig": pod_spec()},
        "spec.engineConfig",
        cluster_scoped=True,
    ),
    Case(
        "production-stack.vllm.ai/v1alpha1",
        "VLLMRuntime",
        {
            "model": {"modelURL": "meta-llama/Llama-3.1-8B-Instruct"},
            "deploymentConfig": {
                "resources": {"cpu": "1", "gpu": "8", "gpuType": "nvidia.com/gpu"}
            },
        },
        "spec.deploymentConfig.resources",
    ),
    Case(
        "production-stack.vllm.ai/v1alpha1",
        "LoraAdapter",
        {
            "adapterSource": {
                "type": "huggingface",
                "repository": "meta-llama/Llama-3.1-8B-Instruct",
            }
        },
        "spec.adapterSource.repository",
        action="allow",
    ),
    Case(
        "nvidia.com/v1alpha1",
        "DynamoGraphDeployment",
        {"services": {"Worker": {"extraPodSpec": pod_spec()}}},
        "spec.services.Worker",
    ),
    Case(
        "nvidia.com/v1alpha1",
        "DynamoComponentDeployment",
        {"extraPodSpec": pod_spec()},
        "spec.extraPodSpec",
    ),
    Case(
        "nvidia.com/v1alpha1",
        "DynamoModel",
        {"modelName": "meta-llama/Llama-3.1-8B-Instruct", "baseModelName": "x"},
        "spec.modelName",
        action="allow",
    ),
]


def test_the_table_covers_every_registered_kind() -> None:
    registry = AdapterRegistry.builtin()
    registered = {f"{group or 'core'}/{kind}" for group, kind in registry.kinds()}
    # Kinds named with no rules (AzureMachinePoolMachine: named so that the Cluster API machine
    # catch-all does not refuse it) find nothing, so there is no source to report.
    silent = {
        f"{group}/{kind}"
        for group, kind in registry.kinds()
        if (adapter := registry.adapter_for(f"{group}/v1beta1" if group else "v1", kind))
        and not (adapter.pod_specs or adapter.accelerators or adapter.models or adapter.generic)
    }
    assert silent == {
        "infrastructure.cluster.x-k8s.io/AzureMachinePoolMachine",
        "infrastructure.cluster.x-k8s.io/InMemoryMachine",
        "infrastructure.cluster.x-k8s.io/InMemoryMachineTemplate",
        "infrastructure.cluster.x-k8s.io/OCIMachinePoolMachine",
        "infrastructure.cluster.x-k8s.io/OCIVirtualMachinePool",
    }
    assert registered - silent == {case.id for case in CASES}


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
async def test_kind_reaches_the_sidecar(webhook: Webhook, case: Case) -> None:
    obj = case.object()
    # Only the platform may create objects bound by their own tenant label (the label guard).
    user = PLATFORM_USER if case.cluster_scoped else TENANT_USER
    body = review_for(obj, user=user)
    response = await webhook.review("/validate", body)

    assert response["auditAnnotations"]["decision"] == case.action, response
    name = obj["metadata"]["name"]
    if case.action == "deny":
        assert response["allowed"] is False
        subject = name if case.cluster_scoped else f"{NIMBUS_NS}/{name}"
        assert response["status"]["message"].startswith(
            f'exportgate denied {case.kind} "{subject}" for tenant "nimbus"'
        )
    else:
        assert response["allowed"] is True

    record = webhook.logged_decision(response["auditAnnotations"]["decision-id"])
    assert record["object"] == {
        "apiVersion": case.api_version,
        "kind": case.kind,
        "namespace": None if case.cluster_scoped else NIMBUS_NS,
        "name": name,
    }
    assert record["tenant"] == "nimbus"
    assert record["user"] == user
    assert record["requestUid"] == body["request"]["uid"]
    assert record["operation"] == "CREATE"
    sources = [a.get("source", "") for a in record["accelerators"]]
    sources += [m.get("source", "") for m in record["models"]]
    assert any(case.where in source for source in sources), (case.where, record)


CUSTOM_ADAPTER = """\
apiVersion: exportgate.dev/v1alpha1
kind: AdapterSet
metadata:
  name: example-batch
  description: The in-house batch system of the platform team (docs/webhook.md walks through it).
adapters:
  - group: batch.example.com
    kinds: [GPUJob]
    podTemplates: ["spec.stages[*].template"]
    models:
      - {path: spec.model, parse: plain}
"""


@pytest.fixture
async def custom_webhook(
    sidecar: SidecarServer, serving_cert: ServingCert, tmp_path: Path
) -> AsyncIterator[Webhook]:
    adapters = tmp_path / "example-batch.yaml"
    adapters.write_text(CUSTOM_ADAPTER)
    config = dataclasses.replace(
        webhook_config(serving_cert, sidecar.unix_target), adapter_files=(adapters,)
    )
    hook = await start_webhook(config, serving_cert, sidecar.config.decision_log)
    try:
        yield hook
    finally:
        await stop_webhook(hook)


async def test_a_kind_added_by_an_adapter_file_is_guarded(custom_webhook: Webhook) -> None:
    job = {
        "apiVersion": "batch.example.com/v1",
        "kind": "GPUJob",
        "metadata": {"name": "nightly", "namespace": NIMBUS_NS},
        "spec": {"stages": [{"name": "train", "template": template()}]},
    }
    response = await custom_webhook.review("/validate", review_for(job))
    assert response["allowed"] is False
    assert response["status"]["message"].startswith(
        f'exportgate denied GPUJob "{NIMBUS_NS}/nightly" for tenant "nimbus"'
    )
    record = custom_webhook.logged_decision(response["auditAnnotations"]["decision-id"])
    assert record["object"]["kind"] == "GPUJob"
    assert "spec.stages[0].template" in record["accelerators"][0]["source"]
    # The built-in kinds are still there.
    pod = review_for(Case("v1", "Pod", pod_spec(), "").object())
    assert (await custom_webhook.review("/validate", pod))["allowed"] is False
