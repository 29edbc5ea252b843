"""GPU counts under a short key (`count_keys`, the vocabulary's ``resourceCountKeys``).

Finding (red team, session 14): NVIDIA Dynamo's ``ResourceItem`` (``resources.limits.gpu``
beside ``gpuType``) and vLLM production-stack's ``deploymentConfig.resources`` ({cpu, memory,
gpu, gpuType}) were read as the unknown resource ``gpu`` (any product: a T4-pinned runtime
denied to a restricted tenant), and a ``gpuType`` inside ``limits`` was refused as a malformed
count (exit 2). The operators write ``<gpuType>: <gpu>`` (default ``nvidia.com/gpu``) into the
container they create (Dynamo controller_common/resource.go GetResourcesConfig and
getGPUResourceName; production-stack vllmruntime_controller.go), placed by the runtime's own
``extraPodSpec.nodeSelector`` (Dynamo) or ``deploymentConfig.nodeSelectorTerms``
(production-stack, ORed terms of a required node affinity).
"""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from exportgate.core.errors import InputError
from exportgate.core.extract import extract_workload, parse_adapter_text
from exportgate.core.extract.access import DEVICE_ACCESS
from exportgate.core.extract.count_keys import CountKey, short_counts
from exportgate.core.types import Action
from tests.core.builders import NOW, make_tenant
from tests.core.extract.fail_closed import ENGINE, RESTRICTED

US = make_tenant("us-corp", incorporation="US", headquarters="US")

# ai-dynamo/dynamo examples/backends/vllm/deploy/agg.yaml, the worker given a gpuType and a
# T4 nodeSelector in its extraPodSpec.
DYNAMO_AGG = """
apiVersion: nvidia.com/v1alpha1
kind: DynamoGraphDeployment
metadata: {name: vllm-agg, namespace: t}
spec:
  services:
    Frontend:
      envFromSecret: hf-token-secret
      componentType: frontend
      replicas: 1
      extraPodSpec:
        mainContainer:
          image: nvcr.io/nvidia/ai-dynamo/vllm-runtime:my-tag
    worker:
      envFromSecret: hf-token-secret
      componentType: worker
      replicas: 1
      resources:
        limits:
          gpu: "1"
          gpuType: nvidia.com/gpu
        requests:
          custom:
            # Increase this value for larger models
            ephemeral-storage: "2Gi"
      extraPodSpec:
        nodeSelector:
          nvidia.com/gpu.product: Tesla-T4
        mainContainer:
          image: nvcr.io/nvidia/ai-dynamo/vllm-runtime:my-tag
          workingDir: /workspace/examples/backends/vllm
          command: [python3, -m, dynamo.vllm]
          args: [--model, Qwen/Qwen3-0.6B]
"""
WORKER = "spec.services.worker"

# vllm-project/production-stack operator/config/samples/production-stack_v1alpha1_vllmruntime.yaml
# (lmCache and storage settings left out), pinned to a T4 with deploymentConfig.nodeSelectorTerms.
VLLM_RUNTIME = """
apiVersion: production-stack.vllm.ai/v1alpha1
kind: VLLMRuntime
metadata:
  labels: {model: Llama-3.1-8B-Instruct}
  name: vllmruntime-sample
  namespace: t
spec:
  model:
    modelURL: "meta-llama/Llama-3.1-8B-Instruct"
    enableLoRA: true
    maxModelLen: 4096
    dtype: "bfloat16"
  vllmConfig:
    tensorParallelSize: 1
    gpuMemoryUtilization: "0.8"
    port: 8000
    env: [{name: HF_HOME, value: "/data"}]
  deploymentConfig:
    resources:
      cpu: "5"
      memory: "32Gi"
      gpu: "1"
      gpuType: "nvidia.com/gpu"
    nodeSelectorTerms:
      - matchExpressions:
          - {key: nvidia.com/gpu.product, operator: In, values: [Tesla-T4]}
    image:
      registry: "docker.io"
      name: "lmcache/vllm-openai:2025-05-27-v1"
      pullPolicy: "IfNotPresent"
    replicas: 2
    deploymentStrategy: "Recreate"
    sidecarConfig:
      enabled: true
      name: "sidecar"
      image: {registry: "docker.io", name: "lmcache/lmstack-sidecar:latest", pullPolicy: "Always"}
      resources: {cpu: "0.5", memory: "128Mi"}
      mountPath: "/data"
"""
DEPLOYMENT = "spec.deploymentConfig"
H100 = "NVIDIA-H100-80GB-HBM3"


def load(text: str, **changes: Any) -> dict[str, Any]:
    """The manifest `text`, with `changes` ("spec.a.b" -> value) applied."""
    obj: dict[str, Any] = yaml.safe_load(text)
    for path, value in changes.items():
        *parents, last = path.split(".")
        node = obj
        for key in parents:
            node = node[key]
        node[last] = value
    return obj


def _product(value: str) -> dict[str, Any]:
    return {"key": "nvidia.com/gpu.product", "operator": "In", "values": [value]}


def requests(obj: dict[str, Any]) -> list[tuple[str, int, str]]:
    return [(a.resource, a.count, a.source) for a in extract_workload(obj).accelerators]


def action(obj: dict[str, Any], tenant: Any = RESTRICTED) -> Action:
    return ENGINE.evaluate(extract_workload(obj), tenant, NOW).action


# --- NVIDIA Dynamo ----------------------------------------------------------------------------


def test_dynamo_gpu_is_a_count_of_its_gpu_type():
    # Only this request: the generic search no longer reads `gpu` as a resource of its own,
    # nor `gpuType` as a malformed count (it was exit 2).
    assert requests(load(DYNAMO_AGG)) == [("nvidia.com/gpu", 1, f"{WORKER}.resources.limits.gpu")]


def test_dynamo_t4_pinned_in_extra_pod_spec_is_admitted_for_a_restricted_tenant():
    assert action(load(DYNAMO_AGG)) is Action.ALLOW


@pytest.mark.parametrize(
    "selector", [None, {"kubernetes.io/os": "linux"}, {"nvidia.com/gpu.product": H100}]
)
def test_dynamo_unpinned_or_h100_pinned_is_denied(selector):
    obj = load(DYNAMO_AGG, **{f"{WORKER}.extraPodSpec.nodeSelector": selector})
    assert action(obj) is Action.DENY
    assert action(obj, US) is Action.ALLOW


def test_dynamo_gpu_without_gpu_type_is_an_nvidia_gpu():
    obj = load(DYNAMO_AGG, **{f"{WORKER}.resources.limits": {"gpu": "2"}})
    assert requests(obj) == [("nvidia.com/gpu", 2, f"{WORKER}.resources.limits.gpu")]
    assert action(obj) is Action.ALLOW  # still the T4 pin


def test_dynamo_gpu_type_names_the_resource():
    limits = {"gpu": "1", "gpuType": "amd.com/gpu"}
    obj = load(DYNAMO_AGG, **{f"{WORKER}.resources.limits": limits})
    assert [r[0] for r in requests(obj)] == ["amd.com/gpu"]


def test_dynamo_custom_names_win_over_the_count_key():
    # GetResourcesConfig writes the gpu count first, then `custom` over it.
    limits = {"gpu": "1", "custom": {"nvidia.com/gpu": "4"}}
    obj = load(DYNAMO_AGG, **{f"{WORKER}.resources.limits": limits})
    assert requests(obj) == [
        ("nvidia.com/gpu", 4, f'{WORKER}.resources.limits.custom["nvidia.com/gpu"]')
    ]


def test_a_gpu_type_that_is_no_string_is_not_taken():
    # Fail closed: not dropped as a setting, read as what it is (a malformed count).
    limits = {"gpu": "1", "gpuType": 7}
    obj = load(DYNAMO_AGG, **{f"{WORKER}.resources.limits": limits})
    assert sorted(requests(obj)) == [
        ("gpu", 1, f"{WORKER}.resources.limits.gpu"),
        ("gpuType", 7, f"{WORKER}.resources.limits.gpuType"),
    ]
    unpinned = {f"{WORKER}.resources.limits": limits, f"{WORKER}.extraPodSpec.nodeSelector": None}
    assert action(load(DYNAMO_AGG, **unpinned)) is Action.DENY


def test_a_gpu_type_alone_asks_for_nothing():
    obj = load(DYNAMO_AGG, **{f"{WORKER}.resources.limits": {"gpuType": "nvidia.com/gpu"}})
    assert requests(obj) == []


def test_dynamo_main_container_is_placed_by_its_extra_pod_spec():
    """The extraPodSpec is an inline PodSpec whose mainContainer is the service's container:
    its resources and the pod's volumes are placed by the spec's nodeSelector (they were read
    as an unplaced container, and the volumes not at all)."""
    worker = {
        "componentType": "worker",
        "extraPodSpec": {
            "nodeSelector": {"nvidia.com/gpu.product": "Tesla-T4"},
            "volumes": [{"name": "d", "hostPath": {"path": "/dev"}}],
            "mainContainer": {
                "image": "nvcr.io/nvidia/ai-dynamo/vllm-runtime:my-tag",
                "resources": {"limits": {"nvidia.com/gpu": "1"}},
            },
        },
    }
    obj = load(DYNAMO_AGG, **{WORKER: worker})
    found = {(resource, source) for resource, _, source in requests(obj)}
    assert found == {
        (
            "nvidia.com/gpu",
            f'{WORKER}.extraPodSpec.mainContainer.resources.limits["nvidia.com/gpu"]',
        ),
        (DEVICE_ACCESS, f"{WORKER}.extraPodSpec.volumes[0].hostPath.path"),
    }
    assert action(obj) is Action.ALLOW
    worker["extraPodSpec"]["nodeSelector"] = None
    assert action(load(DYNAMO_AGG, **{WORKER: worker})) is Action.DENY


# --- vLLM production-stack ------------------------------------------------------------------


def test_vllm_runtime_gpu_is_a_count_of_its_gpu_type():
    assert requests(load(VLLM_RUNTIME)) == [("nvidia.com/gpu", 1, f"{DEPLOYMENT}.resources.gpu")]


def test_vllm_runtime_t4_pinned_by_node_selector_terms_is_admitted():
    assert action(load(VLLM_RUNTIME)) is Action.ALLOW


def test_a_t4_term_ored_with_an_unpinned_term_does_not_pin():
    """The terms are ORed: the pod may land on any Linux node, whatever its GPU."""
    terms = [
        {"matchExpressions": [_product("Tesla-T4")]},
        {"matchExpressions": [{"key": "kubernetes.io/os", "operator": "In", "values": ["linux"]}]},
    ]
    obj = load(VLLM_RUNTIME, **{f"{DEPLOYMENT}.nodeSelectorTerms": terms})
    assert action(obj) is Action.DENY


@pytest.mark.parametrize("terms", [None, [{"matchExpressions": [_product(H100)]}]])
def test_vllm_runtime_unpinned_or_h100_pinned_is_denied(terms):
    obj = load(VLLM_RUNTIME, **{f"{DEPLOYMENT}.nodeSelectorTerms": terms})
    assert action(obj) is Action.DENY
    assert action(obj, US) is Action.ALLOW


def test_vllm_runtime_sidecar_gpu_is_counted():
    """The sidecar is a container of the runtime's pod: its GPUs add to the pod's."""
    sidecar = {"cpu": "1", "gpu": "2"}
    obj = load(VLLM_RUNTIME, **{f"{DEPLOYMENT}.sidecarConfig.resources": sidecar})
    assert requests(obj) == [("nvidia.com/gpu", 3, f"{DEPLOYMENT}.resources.gpu")]
    obj = load(VLLM_RUNTIME, **{f"{DEPLOYMENT}.resources": {"cpu": "5"}})
    obj["spec"]["deploymentConfig"]["sidecarConfig"]["resources"] = sidecar
    assert requests(obj) == [("nvidia.com/gpu", 2, f"{DEPLOYMENT}.sidecarConfig.resources.gpu")]


def test_dynamo_requests_gpu_is_not_counted():
    """Red team, session 14 (dgd_requests_only.yaml): Dynamo's GetResourcesConfig copies
    ``gpu`` (and ``gpuType``) from limits only; in requests they reach no container, so a
    requests-only ``gpu`` is no accelerator (it was an unpinned nvidia.com/gpu: a false
    denial)."""
    worker = {"gpu": "1"}
    obj = load(DYNAMO_AGG, **{f"{WORKER}.resources": {"requests": worker}})
    obj["spec"]["services"]["worker"]["extraPodSpec"].pop("nodeSelector")
    assert requests(obj) == []
    assert action(obj) is Action.ALLOW
    # requests.gpuType is dropped with it (not a malformed quantity); limits still count.
    both = {"limits": {"gpu": "1"}, "requests": {"gpu": "1", "gpuType": "amd.com/gpu"}}
    obj = load(DYNAMO_AGG, **{f"{WORKER}.resources": both})
    assert requests(obj) == [("nvidia.com/gpu", 1, f"{WORKER}.resources.limits.gpu")]
    # custom names in requests are still copied (and read).
    custom = {"requests": {"custom": {"nvidia.com/gpu": "1"}}}
    obj = load(DYNAMO_AGG, **{f"{WORKER}.resources": custom})
    assert [r[0] for r in requests(obj)] == ["nvidia.com/gpu"]


# --- the reader -------------------------------------------------------------------------------

GPU = CountKey("gpu", "gpuType", "nvidia.com/gpu")


def test_short_counts_reads_the_count_and_its_name():
    found, used = short_counts({"cpu": "1", "gpu": "2", "gpuType": " amd.com/gpu "}, (GPU,))
    assert found == [("amd.com/gpu", "gpu", "2")]
    assert used == {"gpu", "gpuType"}
    found, used = short_counts({"gpu": "2", "gpuType": ""}, (GPU,))
    assert found == [("nvidia.com/gpu", "gpu", "2")]
    assert short_counts({"gpu": "2", "gpuType": ["x"]}, (GPU,)) == ([], frozenset())


def test_short_counts_leaves_out_a_list_the_key_is_ignored_in():
    key = CountKey("gpu", "gpuType", "nvidia.com/gpu", ("requests",))
    mapping = {"cpu": "1", "gpu": "2", "gpuType": "amd.com/gpu"}
    assert short_counts(mapping, (key,), "requests") == ([], frozenset({"gpu", "gpuType"}))
    assert short_counts(mapping, (key,), "limits")[0] == [("amd.com/gpu", "gpu", "2")]


def test_the_adapter_schema_checks_count_keys():
    text = """
apiVersion: exportgate.dev/v1alpha1
kind: AdapterSet
metadata: {name: x}
vocabulary:
  resourceCountKeys: [{key: gpu, resourceFrom: gpuType}]
"""
    with pytest.raises(InputError):
        parse_adapter_text(text, "x.yaml")
