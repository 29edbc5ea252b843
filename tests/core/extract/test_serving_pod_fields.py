"""Pod fields of serving kinds read by the generic search: annotations, runtime class, sidecar.

Red team, session 14: operators copy fields of these kinds onto the pods they create, and
exportgate did not read them, so a device a Pod with the same fields is denied reached a
restricted tenant:

* vLLM production-stack ``VLLMRuntime`` ``spec.deploymentConfig.podAnnotations`` (H1) and
  ``runtimeClass`` (H2) are the pod template's annotations and runtimeClassName
  (vllmruntime_controller.go, deploymentForVLLMRuntime);
* NVIDIA Dynamo services' ``annotations`` and ``extraPodMetadata.annotations`` (H3/H4) are put
  on their pods (DynamoComponentDeploymentSharedSpec);
* production-stack's ``sidecarConfig`` runs in the runtime's pod, so its GPUs are placed by
  ``deploymentConfig.nodeSelectorTerms`` (L1: a T4-pinned runtime with a sidecar GPU was denied).

The vocabulary keys are ``podAnnotationKeys``, ``runtimeClassKeys`` and ``podContainerKeys``
(vllm-production-stack.yaml, dynamo.yaml). The manifests are the red team's.
"""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from exportgate.core.extract import extract_workload
from exportgate.core.extract.access import DEVICE_ACCESS
from exportgate.core.types import Action
from tests.core.builders import NOW, make_tenant
from tests.core.extract.fail_closed import ENGINE, RESTRICTED

US = make_tenant("us-corp", incorporation="US", headquarters="US")
T4_TERMS = [
    {
        "matchExpressions": [
            {"key": "nvidia.com/gpu.product", "operator": "In", "values": ["Tesla-T4"]}
        ]
    }
]

# vr_podann_cdi_nopin.yaml
VR_PODANN_CDI = """
apiVersion: production-stack.vllm.ai/v1alpha1
kind: VLLMRuntime
metadata:
  name: vr-podann-cdi-nopin
  namespace: nimbus-ml
spec:
  deploymentConfig:
    image:
      name: lmcache/vllm-openai:x
      registry: docker.io
    podAnnotations:
      cdi.k8s.io/gpu: nvidia.com/gpu=all
    replicas: 1
    resources:
      cpu: '5'
      memory: 32Gi
  model:
    modelURL: Qwen/Qwen3-0.6B
  vllmConfig:
    port: 8000
"""

# vr_podann_kai_nopin.yaml: deploymentConfig.podAnnotations {gpu-fraction: "0.5"}
VR_PODANN_KAI = VR_PODANN_CDI.replace("cdi.k8s.io/gpu: nvidia.com/gpu=all", "gpu-fraction: '0.5'")

# vr_runtimeclass_nopin.yaml
VR_RUNTIMECLASS = """
apiVersion: production-stack.vllm.ai/v1alpha1
kind: VLLMRuntime
metadata:
  name: vr-runtimeclass-nopin
  namespace: nimbus-ml
spec:
  deploymentConfig:
    image:
      name: lmcache/vllm-openai:x
      registry: docker.io
    replicas: 1
    resources:
      cpu: '5'
      memory: 32Gi
    runtimeClass: kata-qemu-nvidia-gpu
  model:
    modelURL: Qwen/Qwen3-0.6B
  vllmConfig:
    port: 8000
"""

# vr_sidecar_gpu_t4.yaml
VR_SIDECAR_T4 = """
apiVersion: production-stack.vllm.ai/v1alpha1
kind: VLLMRuntime
metadata:
  name: vr-sidecar-gpu-t4
  namespace: nimbus-ml
spec:
  deploymentConfig:
    image:
      name: lmcache/vllm-openai:x
      registry: docker.io
    nodeSelectorTerms:
    - matchExpressions:
      - key: nvidia.com/gpu.product
        operator: In
        values:
        - Tesla-T4
    replicas: 1
    resources:
      cpu: '5'
      gpu: '1'
      memory: 32Gi
    sidecarConfig:
      enabled: true
      image:
        name: y
        registry: x
      resources:
        gpu: '1'
        gpuType: nvidia.com/gpu
  model:
    modelURL: Qwen/Qwen3-0.6B
  vllmConfig:
    port: 8000
"""

# dgd_ann_cdi.yaml
DGD_ANN_CDI = """
apiVersion: nvidia.com/v1alpha1
kind: DynamoGraphDeployment
metadata:
  name: dgd-ann-cdi
  namespace: nimbus-ml
spec:
  services:
    Frontend:
      componentType: frontend
      extraPodSpec:
        mainContainer:
          image: nvcr.io/nvidia/ai-dynamo/vllm-runtime:x
      replicas: 1
    worker:
      annotations:
        cdi.k8s.io/gpu: nvidia.com/gpu=all
      componentType: worker
      extraPodSpec:
        mainContainer:
          args:
          - --model
          - Qwen/Qwen3-0.6B
          command:
          - python3
          - -m
          - dynamo.vllm
          image: nvcr.io/nvidia/ai-dynamo/vllm-runtime:x
      replicas: 1
"""

# dgd_frontend_ann_cdi.yaml
DGD_FRONTEND_ANN_CDI = """
apiVersion: nvidia.com/v1alpha1
kind: DynamoGraphDeployment
metadata:
  name: dgd-frontend-ann-cdi
  namespace: nimbus-ml
spec:
  services:
    Frontend:
      annotations:
        cdi.k8s.io/gpu: nvidia.com/gpu=all
      componentType: frontend
      extraPodSpec:
        mainContainer:
          image: nvcr.io/nvidia/ai-dynamo/vllm-runtime:x
      replicas: 1
    worker:
      componentType: worker
      extraPodSpec:
        mainContainer:
          args:
          - --model
          - Qwen/Qwen3-0.6B
          command:
          - python3
          - -m
          - dynamo.vllm
          image: nvcr.io/nvidia/ai-dynamo/vllm-runtime:x
        nodeSelector:
          nvidia.com/gpu.product: Tesla-T4
      replicas: 1
      resources:
        limits:
          gpu: '1'
"""

# dgd_podmeta_kai.yaml: the worker's extraPodMetadata.annotations {gpu-fraction: "0.5"}
DGD_PODMETA_KAI = """
apiVersion: nvidia.com/v1alpha1
kind: DynamoGraphDeployment
metadata:
  name: dgd-podmeta-kai
  namespace: nimbus-ml
spec:
  services:
    Frontend:
      componentType: frontend
      extraPodSpec:
        mainContainer:
          image: nvcr.io/nvidia/ai-dynamo/vllm-runtime:x
      replicas: 1
    worker:
      componentType: worker
      extraPodMetadata:
        annotations:
          gpu-fraction: '0.5'
      extraPodSpec:
        mainContainer:
          args:
          - --model
          - Qwen/Qwen3-0.6B
          command:
          - python3
          - -m
          - dynamo.vllm
          image: nvcr.io/nvidia/ai-dynamo/vllm-runtime:x
      replicas: 1
"""

WORKER = ("spec", "services", "worker")
FRONTEND = ("spec", "services", "Frontend")


def load(text: str) -> dict[str, Any]:
    obj: dict[str, Any] = yaml.safe_load(text)
    return obj


def at(obj: dict[str, Any], *path: str) -> dict[str, Any]:
    node = obj
    for key in path:
        node = node[key]
    return node


def sources(obj: dict[str, Any]) -> list[tuple[str, str]]:
    return [(a.resource, a.source) for a in extract_workload(obj).accelerators]


def action(obj: dict[str, Any], tenant: Any = RESTRICTED) -> Action:
    return ENGINE.evaluate(extract_workload(obj), tenant, NOW).action


def pin_runtime_t4(obj: dict[str, Any]) -> dict[str, Any]:
    at(obj, "spec", "deploymentConfig")["nodeSelectorTerms"] = T4_TERMS
    return obj


def pin_service_t4(obj: dict[str, Any], *service: str) -> dict[str, Any]:
    at(obj, *service, "extraPodSpec")["nodeSelector"] = {"nvidia.com/gpu.product": "Tesla-T4"}
    return obj


# --- H1: VLLMRuntime deploymentConfig.podAnnotations -----------------------------------------


@pytest.mark.parametrize(
    ("text", "source"),
    [
        (VR_PODANN_CDI, 'spec.deploymentConfig.podAnnotations["cdi.k8s.io/gpu"]'),
        (VR_PODANN_KAI, "spec.deploymentConfig.podAnnotations.gpu-fraction"),
    ],
)
def test_vllm_runtime_pod_annotations_are_the_pods(text, source):
    obj = load(text)
    assert source in [found for _, found in sources(obj)]
    assert action(obj) is Action.DENY
    assert action(obj, US) is Action.ALLOW


@pytest.mark.parametrize("text", [VR_PODANN_CDI, VR_PODANN_KAI])
def test_vllm_runtime_pod_annotations_are_placed_by_the_runtimes_terms(text):
    assert action(pin_runtime_t4(load(text))) is Action.ALLOW


def test_vllm_runtime_pod_annotations_without_resources_are_read():
    """``resources: {}`` makes no container-shaped mapping; the annotations still make a pod."""
    obj = load(VR_PODANN_CDI)
    at(obj, "spec", "deploymentConfig")["resources"] = {}
    assert action(obj) is Action.DENY


def test_harmless_pod_annotations_ask_for_nothing():
    obj = load(VR_PODANN_CDI)
    at(obj, "spec", "deploymentConfig")["podAnnotations"] = {"prometheus.io/scrape": "true"}
    assert sources(obj) == []
    assert action(obj) is Action.ALLOW


# --- H2: VLLMRuntime deploymentConfig.runtimeClass -------------------------------------------


def test_vllm_runtime_gpu_runtime_class_is_device_access():
    obj = load(VR_RUNTIMECLASS)
    assert (DEVICE_ACCESS, "spec.deploymentConfig.runtimeClassName") in sources(obj)
    assert action(obj) is Action.DENY
    assert action(pin_runtime_t4(obj)) is Action.ALLOW


def test_the_crd_default_runtime_class_is_judged_like_a_pods():
    """The CRD defaults runtimeClass to ``nvidia`` before admission. A Pod with
    ``runtimeClassName: nvidia`` and no pin is unpinned device access (denied to a restricted
    tenant), pinned to a T4 it is admitted: the runtime is judged the same."""
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "p", "namespace": "nimbus-ml"},
        "spec": {"runtimeClassName": "nvidia", "containers": [{"name": "c", "image": "x"}]},
    }
    obj = load(VR_RUNTIMECLASS)
    at(obj, "spec", "deploymentConfig")["runtimeClass"] = "nvidia"
    assert action(pod) is Action.DENY
    assert action(obj) is Action.DENY
    pod["spec"]["nodeSelector"] = {"nvidia.com/gpu.product": "Tesla-T4"}
    assert action(pod) is Action.ALLOW
    assert action(pin_runtime_t4(obj)) is Action.ALLOW
    # A T4 runtime asking for its GPU under the default runtime class is admitted.
    at(obj, "spec", "deploymentConfig", "resources")["gpu"] = "1"
    assert action(obj) is Action.ALLOW


def test_a_cpu_runtime_class_is_no_device_access():
    obj = load(VR_RUNTIMECLASS)
    at(obj, "spec", "deploymentConfig")["runtimeClass"] = "runc"
    assert sources(obj) == []


# --- H3/H4: Dynamo services' annotations and extraPodMetadata.annotations ----------------------


def test_dynamo_service_annotations_are_its_pods():
    obj = load(DGD_ANN_CDI)
    assert ("nvidia.com/gpu", 'spec.services.worker.annotations["cdi.k8s.io/gpu"]') in sources(obj)
    assert action(obj) is Action.DENY
    assert action(pin_service_t4(obj, *WORKER)) is Action.ALLOW


def test_dynamo_frontend_annotations_are_placed_by_the_frontend():
    """The worker is pinned to a T4, the frontend's CDI request is not."""
    obj = load(DGD_FRONTEND_ANN_CDI)
    assert action(obj) is Action.DENY
    assert action(pin_service_t4(obj, *FRONTEND)) is Action.ALLOW


def test_dynamo_extra_pod_metadata_annotations_are_its_pods():
    obj = load(DGD_PODMETA_KAI)
    found = sources(obj)
    assert (DEVICE_ACCESS, "spec.services.worker.extraPodMetadata.annotations.gpu-fraction") in (
        found
    )
    # Read once, as the service's pod's (not again as a pod of extraPodMetadata's own).
    assert len(found) == 1
    assert action(obj) is Action.DENY
    assert action(pin_service_t4(obj, *WORKER)) is Action.ALLOW


def test_dynamo_component_deployment_annotations_are_its_pods():
    """DynamoComponentDeployment: the same service spec directly under spec."""
    worker = at(load(DGD_ANN_CDI), *WORKER)
    obj = {
        "apiVersion": "nvidia.com/v1alpha1",
        "kind": "DynamoComponentDeployment",
        "metadata": {"name": "w", "namespace": "nimbus-ml"},
        "spec": worker,
    }
    assert action(obj) is Action.DENY
    worker["extraPodSpec"]["nodeSelector"] = {"nvidia.com/gpu.product": "Tesla-T4"}
    assert action(obj) is Action.ALLOW


def test_a_pod_templates_metadata_is_not_read_twice():
    """A template's ``metadata.annotations`` are its spec's pod's only: the ``annotations``
    key does not make the metadata a pod of its own, placed by nothing."""
    obj = {
        "apiVersion": "example.com/v1",
        "kind": "Widget",
        "metadata": {"name": "w", "namespace": "nimbus-ml"},
        "spec": {
            "template": {
                "metadata": {"annotations": {"gpu-fraction": "0.5"}},
                "spec": {
                    "nodeSelector": {"nvidia.com/gpu.product": "Tesla-T4"},
                    "containers": [{"name": "c", "image": "x"}],
                },
            }
        },
    }
    assert len(sources(obj)) == 1
    assert action(obj) is Action.ALLOW


# --- L1: the production-stack sidecar shares the runtime's pod --------------------------------


def test_vllm_runtime_sidecar_gpu_is_placed_by_the_runtimes_terms():
    obj = load(VR_SIDECAR_T4)
    assert sources(obj) == [("nvidia.com/gpu", "spec.deploymentConfig.resources.gpu")]
    assert [a.count for a in extract_workload(obj).accelerators] == [2]
    assert action(obj) is Action.ALLOW
    at(obj, "spec", "deploymentConfig").pop("nodeSelectorTerms")
    assert action(obj) is Action.DENY


def test_vllm_runtime_sidecar_device_variable_is_the_pods():
    """The sidecar's env is a container's env of the runtime's pod: a device variable there is
    device access, placed by the runtime's terms."""
    obj = load(VR_SIDECAR_T4)
    sidecar = at(obj, "spec", "deploymentConfig", "sidecarConfig")
    sidecar.pop("resources")
    sidecar["env"] = [{"name": "NVIDIA_VISIBLE_DEVICES", "value": "all"}]
    at(obj, "spec", "deploymentConfig", "resources").pop("gpu")
    assert [resource for resource, _ in sources(obj)] == [DEVICE_ACCESS]
    assert action(obj) is Action.ALLOW
    at(obj, "spec", "deploymentConfig").pop("nodeSelectorTerms")
    assert action(obj) is Action.DENY
