"""One small, realistic manifest per extracted kind, with what extraction must find in it.

Shared by the extraction tests (what is found) and the end-to-end test (how it is decided).
Each expectation lists the accelerator requests as (resource, count, {hint key: values}) and the
model references as written. Field layouts follow each project's API reference (cited in the
adapter files under exportgate/data/adapters/).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import yaml

Accelerator = tuple[str, int, dict[str, tuple[str, ...]]]

GFD = "nvidia.com/gpu.product"
H100 = "NVIDIA-H100-80GB-HBM3"


@dataclass(frozen=True)
class Kind:
    id: str
    manifest: str
    accelerators: tuple[Accelerator, ...]
    models: tuple[str, ...] = ()
    tenant_label: str | None = None

    @property
    def object(self) -> dict[str, Any]:
        loaded: dict[str, Any] = yaml.safe_load(self.manifest)
        return loaded


def _template(kind: str, api: str, template_path: str, spec: str) -> str:
    """A pod-template owner whose template sits at `template_path` (dot-separated)."""
    parts = template_path.split(".")
    text = f"apiVersion: {api}\nkind: {kind}\nmetadata: {{name: w, namespace: team}}\n"
    indent = ""
    for part in parts:
        text += f"{indent}{part}:\n"
        indent += "  "
    return text + "".join(f"{indent}{line}\n" for line in spec.splitlines())


POD_SPEC = f"""\
spec:
  nodeSelector: {{{GFD}: {H100}}}
  containers:
  - name: main
    image: example/trainer
    resources: {{limits: {{nvidia.com/gpu: 4}}}}
"""
PINNED_H100: Accelerator = ("nvidia.com/gpu", 4, {GFD: (H100,)})

TEMPLATE_OWNERS = [
    ("Deployment", "apps/v1", "spec.template"),
    ("StatefulSet", "apps/v1", "spec.template"),
    ("DaemonSet", "apps/v1", "spec.template"),
    ("ReplicaSet", "apps/v1", "spec.template"),
    ("ReplicationController", "v1", "spec.template"),
    ("Job", "batch/v1", "spec.template"),
    ("CronJob", "batch/v1", "spec.jobTemplate.spec.template"),
    ("PodTemplate", "v1", "template"),
]

KINDS: list[Kind] = [
    Kind("Pod", f"apiVersion: v1\nkind: Pod\nmetadata: {{name: w, namespace: team}}\n{POD_SPEC}",
         (PINNED_H100,)),
    *(Kind(kind, _template(kind, api, path, POD_SPEC), (PINNED_H100,))
      for kind, api, path in TEMPLATE_OWNERS),
    Kind(
        "Pod-init-containers-and-extended-resources",
        """\
apiVersion: v1
kind: Pod
metadata: {name: w, namespace: team}
spec:
  initContainers:
  - {name: warm, image: x, resources: {limits: {nvidia.com/gpu: "1"}}}
  containers:
  - name: a
    image: x
    resources:
      limits: {amd.com/gpu: 1, habana.ai/gaudi: 2, aws.amazon.com/neuroncore: 2, cpu: "4"}
  - name: b
    image: x
    resources:
      requests: {nvidia.com/gpu.shared: 1, nvidia.com/mig-1g.10gb: 1}
      limits: {gpu.intel.com/i915: 1, gpu.intel.com/millicores: 100}
  - {name: no-gpu, image: x, resources: {limits: {nvidia.com/gpu: 0}}}
""",
        (
            ("amd.com/gpu", 1, {}),
            ("habana.ai/gaudi", 2, {}),
            ("aws.amazon.com/neuroncore", 2, {}),
            ("nvidia.com/gpu.shared", 1, {}),
            ("nvidia.com/mig-1g.10gb", 1, {}),
            ("gpu.intel.com/i915", 1, {}),
            ("nvidia.com/gpu", 1, {}),
        ),
    ),
    Kind(
        "Pod-required-affinity-In-lists",
        f"""\
apiVersion: v1
kind: Pod
metadata: {{name: w, namespace: team}}
spec:
  nodeSelector: {{kubernetes.io/os: linux}}
  affinity:
    nodeAffinity:
      requiredDuringSchedulingIgnoredDuringExecution:
        nodeSelectorTerms:
        - matchExpressions:
          - {{key: {GFD}, operator: In, values: [Tesla-T4, {H100}]}}
          - {{key: topology.kubernetes.io/zone, operator: In, values: [a]}}
        - matchExpressions:
          - {{key: node.kubernetes.io/instance-type, operator: In, values: [p5.48xlarge]}}
      preferredDuringSchedulingIgnoredDuringExecution:
      - weight: 1
        preference:
          matchExpressions: [{{key: {GFD}, operator: In, values: [NVIDIA-A10]}}]
  containers:
  - {{name: c, image: x, resources: {{limits: {{nvidia.com/gpu: 1}}}}}}
""",
        (
            ("nvidia.com/gpu", 1, {GFD: ("Tesla-T4", H100)}),
            ("nvidia.com/gpu", 1, {"node.kubernetes.io/instance-type": ("p5.48xlarge",)}),
        ),
    ),
    Kind(
        "Pod-every-product-label",
        """\
apiVersion: v1
kind: Pod
metadata: {name: w, namespace: team}
spec:
  nodeSelector:
    cloud.google.com/gke-accelerator: nvidia-h100-80gb
    karpenter.k8s.aws/instance-gpu-name: h100
    kubernetes.azure.com/accelerator: nvidia
    nvidia.com/gpu.machine: p5.48xlarge
  containers:
  - {name: c, image: x, resources: {limits: {nvidia.com/gpu: 1}}}
""",
        (
            (
                "nvidia.com/gpu",
                1,
                {
                    "cloud.google.com/gke-accelerator": ("nvidia-h100-80gb",),
                    "karpenter.k8s.aws/instance-gpu-name": ("h100",),
                    "kubernetes.azure.com/accelerator": ("nvidia",),
                    "nvidia.com/gpu.machine": ("p5.48xlarge",),
                },
            ),
        ),
    ),
    Kind(
        "NodePool",
        """\
apiVersion: karpenter.sh/v1
kind: NodePool
metadata: {name: gpu, labels: {exportgate.dev/tenant: acme}}
spec:
  template:
    spec:
      nodeClassRef: {group: karpenter.k8s.aws, kind: EC2NodeClass, name: default}
      requirements:
      - {key: karpenter.k8s.aws/instance-gpu-name, operator: In, values: [h100]}
      - {key: karpenter.k8s.aws/instance-family, operator: In, values: [p5]}
      - {key: karpenter.k8s.aws/instance-category, operator: In, values: [p]}
      - {key: node.kubernetes.io/instance-type, operator: In, values: [p5.48xlarge]}
      - {key: kubernetes.io/arch, operator: In, values: [amd64]}
""",
        (
            (
                "nodepool",
                1,
                {
                    "karpenter.k8s.aws/instance-gpu-name": ("h100",),
                    "karpenter.k8s.aws/instance-family": ("p5",),
                    "karpenter.k8s.aws/instance-category": ("p",),
                    "node.kubernetes.io/instance-type": ("p5.48xlarge",),
                },
            ),
        ),
        tenant_label="acme",
    ),
    Kind(
        "InferenceService",
        """\
apiVersion: serving.kserve.io/v1beta1
kind: InferenceService
metadata: {name: w, namespace: team}
spec:
  predictor:
    nodeSelector: {nvidia.com/gpu.product: NVIDIA-L4}
    model:
      modelFormat: {name: huggingface}
      args: ["--model_id=meta-llama/Llama-3.2-11B-Vision-Instruct"]
      storageUri: hf://meta-llama/Llama-3.2-11B-Vision-Instruct
      resources: {limits: {nvidia.com/gpu: 1}}
""",
        (("nvidia.com/gpu", 1, {GFD: ("NVIDIA-L4",)}),),
        (
            "meta-llama/Llama-3.2-11B-Vision-Instruct",
            "hf://meta-llama/Llama-3.2-11B-Vision-Instruct",
        ),
    ),
    Kind(
        "ModelEndpoint",
        """\
apiVersion: exportgate.dev/v1alpha1
kind: ModelEndpoint
metadata: {name: w, namespace: team}
spec: {provider: anthropic, model: claude-sonnet-4-5}
""",
        (),
        ("claude-sonnet-4-5",),
    ),
    Kind(
        "ResourceClaim",
        """\
apiVersion: resource.k8s.io/v1
kind: ResourceClaim
metadata: {name: w, namespace: team}
spec:
  devices:
    requests:
    - name: gpu
      exactly:
        deviceClassName: gpu.nvidia.com
        count: 2
        selectors:
        - cel:
            expression: >-
              device.attributes["gpu.nvidia.com"].productName == "NVIDIA H100 80GB HBM3"
    - name: any
      firstAvailable:
      - name: big
        deviceClassName: gpu.nvidia.com
        selectors:
        - cel:
            expression: >-
              device.attributes["gpu.nvidia.com"].productName in
              ["NVIDIA H200", "NVIDIA H100 80GB HBM3"]
      - {name: small, deviceClassName: gpu.nvidia.com}
""",
        (
            ("gpu.nvidia.com", 2, {"exportgate.dev/product": ("NVIDIA H100 80GB HBM3",)}),
            ("gpu.nvidia.com", 1,
             {"exportgate.dev/product": ("NVIDIA H100 80GB HBM3", "NVIDIA H200")}),
            ("gpu.nvidia.com", 1, {}),
        ),
    ),
    Kind(
        "ResourceClaimTemplate",
        """\
apiVersion: resource.k8s.io/v1beta1
kind: ResourceClaimTemplate
metadata: {name: w, namespace: team}
spec:
  spec:
    devices:
      requests:
      - {name: gpu, deviceClassName: gpu.nvidia.com, count: 1}
""",
        (("gpu.nvidia.com", 1, {}),),
    ),
    Kind(
        "Nodegroup",
        """\
apiVersion: eks.services.k8s.aws/v1alpha1
kind: Nodegroup
metadata: {name: w, labels: {exportgate.dev/tenant: acme}}
spec: {clusterName: c, instanceTypes: [p4d.24xlarge, g5.xlarge]}
""",
        (("nodepool", 1, {"node.kubernetes.io/instance-type": ("p4d.24xlarge", "g5.xlarge")}),),
        tenant_label="acme",
    ),
    Kind(
        "ContainerNodePool",
        """\
apiVersion: container.cnrm.cloud.google.com/v1beta1
kind: ContainerNodePool
metadata: {name: w, namespace: team}
spec:
  nodeConfig:
    machineType: a3-highgpu-8g
    guestAccelerator: [{type: nvidia-h100-80gb, count: 8}]
""",
        (
            ("nodepool", 8, {"cloud.google.com/gke-accelerator": ("nvidia-h100-80gb",)}),
            ("nodepool", 1, {"node.kubernetes.io/instance-type": ("a3-highgpu-8g",)}),
        ),
    ),
    Kind(
        "MachineDeployment",
        """\
apiVersion: cluster.x-k8s.io/v1beta1
kind: MachineDeployment
metadata:
  name: w
  namespace: team
  annotations:
    capacity.cluster-autoscaler.kubernetes.io/gpu-type: nvidia.com/gpu
    capacity.cluster-autoscaler.kubernetes.io/gpu-count: "4"
spec: {clusterName: c}
""",
        (("nvidia.com/gpu", 4, {}),),
    ),
    Kind(
        "LLMInferenceService",
        """\
apiVersion: serving.kserve.io/v1alpha1
kind: LLMInferenceService
metadata: {name: w, namespace: team}
spec:
  model: {uri: "hf://meta-llama/Llama-4-Scout-17B-16E", name: scout}
  template:
    nodeSelector: {nvidia.com/gpu.product: NVIDIA-H200}
    containers: [{name: main, image: x, resources: {limits: {nvidia.com/gpu: 8}}}]
""",
        (("nvidia.com/gpu", 8, {GFD: ("NVIDIA-H200",)}),),
        ("hf://meta-llama/Llama-4-Scout-17B-16E",),
    ),
    Kind(
        "NIMService",
        """\
apiVersion: apps.nvidia.com/v1alpha1
kind: NIMService
metadata: {name: w, namespace: team}
spec:
  image: {repository: nvcr.io/nim/meta/llama-3.2-11b-vision-instruct, tag: "1.1"}
  resources: {limits: {nvidia.com/gpu: 1}}
  nodeSelector: {nvidia.com/gpu.product: NVIDIA-L40S}
""",
        (("nvidia.com/gpu", 1, {GFD: ("NVIDIA-L40S",)}),),
        ("meta/llama-3.2-11b-vision-instruct",),
    ),
    Kind(
        "Workspace",
        """\
apiVersion: kaito.sh/v1beta1
kind: Workspace
metadata: {name: w, namespace: team}
resource:
  instanceType: Standard_NC24ads_A100_v4
  labelSelector: {matchLabels: {apps: falcon}}
inference:
  preset: {name: llama-3.1-8b-instruct}
""",
        (
            (
                "nvidia.com/gpu",
                1,
                {"node.kubernetes.io/instance-type": ("Standard_NC24ads_A100_v4",)},
            ),
        ),
        ("llama-3.1-8b-instruct",),
    ),
    Kind(
        "PyTorchJob",
        f"""\
apiVersion: kubeflow.org/v1
kind: PyTorchJob
metadata: {{name: w, namespace: team}}
spec:
  pytorchReplicaSpecs:
    Master:
      template:
        spec:
          containers: [{{name: pytorch, image: x, resources: {{limits: {{nvidia.com/gpu: 1}}}}}}]
    Worker:
      replicas: 2
      template:
        spec:
          nodeSelector: {{{GFD}: {H100}}}
          containers: [{{name: pytorch, image: x, resources: {{limits: {{nvidia.com/gpu: 8}}}}}}]
""",
        (("nvidia.com/gpu", 1, {}), ("nvidia.com/gpu", 8, {GFD: (H100,)})),
    ),
    Kind(
        "TrainJob",
        f"""\
apiVersion: trainer.kubeflow.org/v1alpha1
kind: TrainJob
metadata: {{name: w, namespace: team}}
spec:
  runtimeRef: {{name: torch-distributed}}
  trainer: {{numNodes: 2, resourcesPerNode: {{limits: {{nvidia.com/gpu: 4}}}}}}
  initializer: {{model: {{storageUri: "hf://meta-llama/Llama-3.2-1B-Instruct"}}}}
  podTemplateOverrides:
  - targetJobs: [{{name: node}}]
    spec: {{nodeSelector: {{{GFD}: {H100}}}}}
""",
        (("nvidia.com/gpu", 4, {GFD: (H100,)}),),
        ("hf://meta-llama/Llama-3.2-1B-Instruct",),
    ),
    Kind(
        "RayCluster",
        f"""\
apiVersion: ray.io/v1
kind: RayCluster
metadata: {{name: w, namespace: team}}
spec:
  headGroupSpec: {{template: {{spec: {{containers: [{{name: head, image: x}}]}}}}}}
  workerGroupSpecs:
  - groupName: gpu
    template:
      spec:
        nodeSelector: {{{GFD}: {H100}}}
        containers: [{{name: w, image: x, resources: {{limits: {{nvidia.com/gpu: 1}}}}}}]
""",
        (("nvidia.com/gpu", 1, {GFD: (H100,)}),),
    ),
    Kind(
        "RayJob",
        """\
apiVersion: ray.io/v1
kind: RayJob
metadata: {name: w, namespace: team}
spec:
  rayClusterSpec:
    headGroupSpec: {template: {spec: {containers: [{name: head, image: x}]}}}
    workerGroupSpecs:
    - groupName: gpu
      template: {spec: {containers: [{name: w, image: x, resources: {limits: {amd.com/gpu: 1}}}]}}
""",
        (("amd.com/gpu", 1, {}),),
    ),
    Kind(
        "JobSet",
        """\
apiVersion: jobset.x-k8s.io/v1alpha2
kind: JobSet
metadata: {name: w, namespace: team}
spec:
  replicatedJobs:
  - name: workers
    template:
      spec:
        template:
          spec:
            nodeSelector: {cloud.google.com/gke-accelerator: nvidia-h100-80gb}
            containers: [{name: w, image: x, resources: {limits: {nvidia.com/gpu: 8}}}]
""",
        (("nvidia.com/gpu", 8, {"cloud.google.com/gke-accelerator": ("nvidia-h100-80gb",)}),),
    ),
    Kind(
        "LeaderWorkerSet",
        f"""\
apiVersion: leaderworkerset.x-k8s.io/v1
kind: LeaderWorkerSet
metadata: {{name: w, namespace: team}}
spec:
  leaderWorkerTemplate:
    size: 2
    leaderTemplate:
      spec:
        nodeSelector: {{{GFD}: {H100}}}
        containers: [{{name: l, image: x, resources: {{limits: {{nvidia.com/gpu: 1}}}}}}]
    workerTemplate:
      spec:
        nodeSelector: {{{GFD}: {H100}}}
        containers: [{{name: w, image: x, resources: {{limits: {{nvidia.com/gpu: 1}}}}}}]
""",
        # Leader and worker ask for the same (resource, placement): one request, counts summed.
        (("nvidia.com/gpu", 2, {GFD: (H100,)}),),
    ),
]
