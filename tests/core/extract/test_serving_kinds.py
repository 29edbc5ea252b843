"""Serving kinds exportgate had no adapter for (red team of the serving and training CRDs):
KubeAI, AIBrix, OME, vLLM production-stack and NVIDIA Dynamo.

Each fixture is an upstream sample (KubeAI manifests/models, AIBrix config/samples and
samples/adapter, OME config/models and config/samples/isvc, production-stack
operator/config/samples, Dynamo examples/backends/vllm/deploy), changed only where the test
says, to ask for an H100 or a controlled model. Before these adapters the generic search
admitted every restricted version: a GPU named in a KubeAI profile string and a model named in
a URL field are invisible to it. The adapters add `generic: true` where the search already
found the pods, and `kubeai-resource-profile` reads KubeAI's profile strings.
"""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from exportgate.core.errors import InputError
from exportgate.core.extract import AdapterRegistry, extract_workload, parse_adapter_text
from exportgate.core.types import Action
from tests.core.builders import NOW, make_tenant
from tests.core.extract.fail_closed import ENGINE, RESTRICTED

EU = make_tenant("de-corp", incorporation="DE", headquarters="DE")
US = make_tenant("us-corp", incorporation="US", headquarters="US")
LLAMA4 = "meta-llama/Llama-4-Scout-17B-16E-Instruct"

# KubeAI manifests/models/llama-3.1-405b-instruct-fp8-h100.yaml
KUBEAI_H100 = """
apiVersion: kubeai.org/v1
kind: Model
metadata: {name: llama-3.1-405b-instruct-fp8-h100, namespace: t}
spec:
  features: [TextGeneration]
  url: hf://neuralmagic/Meta-Llama-3.1-405B-Instruct-FP8
  engine: VLLM
  args: [--max-model-len=65536, --tensor-parallel-size=8, --kv-cache-dtype=fp8]
  minReplicas: 0
  targetRequests: 500
  resourceProfile: nvidia-gpu-h100:8
"""

# KubeAI manifests/models/opt-125m-cpu.yaml (chat template file left out)
KUBEAI_CPU = """
apiVersion: kubeai.org/v1
kind: Model
metadata: {name: opt-125m-cpu, namespace: t}
spec:
  features: [TextGeneration]
  url: hf://facebook/opt-125m
  engine: VLLM
  args: [--chat-template=/config/chat-template.jinja]
  minReplicas: 0
  resourceProfile: cpu:1
"""

# KubeAI manifests/models/llama-4-maverick-430k-h100.yaml (args shortened)
KUBEAI_LLAMA4 = """
apiVersion: kubeai.org/v1
kind: Model
metadata: {name: llama-4-maverick-430k-h100, namespace: t}
spec:
  features: [TextGeneration]
  url: hf://meta-llama/Llama-4-Maverick-17B-128E-Instruct-FP8
  engine: VLLM
  args: [--max-model-len=430000, --tensor-parallel-size=8]
  minReplicas: 0
  resourceProfile: nvidia-gpu-h100:8
"""

# AIBrix samples/adapter/adapter.yaml, artifactURL pointed at Llama 4
AIBRIX_ADAPTER = """
apiVersion: model.aibrix.ai/v1alpha1
kind: ModelAdapter
metadata:
  name: qwen-code-lora
  namespace: default
  labels: {model.aibrix.ai/name: qwen-code-lora, model.aibrix.ai/port: "8000"}
spec:
  baseModel: qwen-coder-1-5b-instruct
  podSelector:
    matchLabels:
      model.aibrix.ai/name: qwen-coder-1-5b-instruct
      adapter.model.aibrix.ai/enabled: "true"
  artifactURL: huggingface://ai-blond/Qwen-Qwen2.5-Coder-1.5B-Instruct-lora
  schedulerName: default
"""

# AIBrix config/samples/model_v1alpha1_modelclaim.yaml
AIBRIX_CLAIM = """
apiVersion: model.aibrix.ai/v1alpha1
kind: ModelClaim
metadata: {name: qwen2-7b-sample, namespace: t}
spec:
  modelName: qwen2-7b-instruct
  podSelector:
    matchLabels: {pool.aibrix.ai/name: b300-pool-a}
  artifactURL: huggingface://Qwen/Qwen2-7B-Instruct
  engine: vllm
  replicas: 1
"""

# OME config/models/meta/Llama-4-Scout-17B-16E-Instruct.yaml
OME_CLUSTER_BASE_MODEL = """
apiVersion: ome.io/v1beta1
kind: ClusterBaseModel
metadata: {name: llama-4-scout-17b-16e-instruct}
spec:
  modelCapabilities: [TEXT_TO_TEXT]
  vendor: meta
  disabled: false
  displayName: meta.llama-4-scout-17b-16e-instruct
  version: "1.0.0"
  modelFormat: {name: safetensors, version: "1.0.0"}
  modelFramework: {name: transformers, version: "4.51.0.dev0"}
  modelType: llama
  modelArchitecture: Llama4ForConditionalGeneration
  storage:
    storageUri: hf://meta-llama/Llama-4-Scout-17B-16E-Instruct
    path: /raid/models/meta/llama-4-scout-17b-16e-instruct
    key: "hf-token"
"""

# OME config/samples/isvc/meta/llama-4-scout-17b-16e-instruct.yaml (the InferenceService)
OME_ISVC = """
apiVersion: ome.io/v1beta1
kind: InferenceService
metadata:
  annotations: {ome.io/deploymentMode: RawDeployment}
  name: llama-4-scout-17b-16e-instruct
  namespace: llama-4-scout-17b-16e-instruct
spec:
  model: {name: llama-4-scout-17b-16e-instruct}
  runtime: {name: srt-llama-4-scout-17b-16e-instruct}
  engine: {minReplicas: 1, maxReplicas: 1}
  router: {minReplicas: 1, maxReplicas: 1}
"""

# production-stack operator/config/samples/production-stack_v1alpha1_vllmruntime.yaml
# (lmCache, storage and sidecar settings left out)
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
    hfTokenSecret: {hfTokenSecretName: "huggingface-token", hfTokenKeyName: "token"}
  vllmConfig:
    tensorParallelSize: 1
    gpuMemoryUtilization: "0.8"
    port: 8000
    env: [{name: HF_HOME, value: "/data"}]
  deploymentConfig:
    resources: {cpu: "5", memory: "32Gi", gpu: "1", gpuType: "nvidia.com/gpu"}
    image: {registry: "docker.io", name: "lmcache/vllm-openai:2025-05-27-v1"}
    replicas: 2
    deploymentStrategy: "Recreate"
"""

# production-stack operator/config/samples/production-stack_v1alpha1_loraadapter.yaml
LORA_ADAPTER = """
apiVersion: production-stack.vllm.ai/v1alpha1
kind: LoraAdapter
metadata: {name: loraadapter-sample, namespace: t}
spec:
  baseModel: "Llama-3.1-8B-Instruct"
  adapterSource:
    type: "huggingface"
    adapterName: "llama-3.1-nemoguard-8b-topic-control"
    repository: "nvidia/llama-3.1-nemoguard-8b-topic-control"
    credentialsSecretRef: {name: "huggingface-credentials", key: "hf_token"}
  loraAdapterDeploymentConfig: {algorithm: "default", replicas: 1}
"""

# Dynamo examples/backends/vllm/deploy/disagg.yaml (the decode worker only)
DYNAMO_GRAPH = """
apiVersion: nvidia.com/v1alpha1
kind: DynamoGraphDeployment
metadata: {name: vllm-disagg, namespace: t}
spec:
  services:
    Frontend:
      componentType: frontend
      replicas: 1
      extraPodSpec:
        mainContainer: {image: "nvcr.io/nvidia/ai-dynamo/vllm-runtime:0.4.0"}
    VllmDecodeWorker:
      envFromSecret: hf-token-secret
      componentType: worker
      subComponentType: decode
      replicas: 1
      resources:
        limits: {gpu: "1"}
      extraPodSpec:
        mainContainer:
          image: nvcr.io/nvidia/ai-dynamo/vllm-runtime:0.4.0
          workingDir: /workspace/examples/backends/vllm
          command: [python3, -m, dynamo.vllm]
          args: [--model, Qwen/Qwen3-0.6B, --is-decode-worker]
"""


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


def action(obj: dict[str, Any], tenant: Any = RESTRICTED) -> Action:
    return ENGINE.evaluate(extract_workload(obj), tenant, NOW).action


# --- accelerators -------------------------------------------------------------------------


def test_kubeai_h100_profile_is_an_h100():
    workload = extract_workload(load(KUBEAI_H100))
    [gpu] = workload.accelerators
    assert (gpu.resource, gpu.count, gpu.source) == ("nvidia.com/gpu", 8, "spec.resourceProfile")
    assert action(load(KUBEAI_H100)) is Action.DENY
    assert action(load(KUBEAI_H100), US) is Action.ALLOW


@pytest.mark.parametrize("profile", ["cpu:1", "nvidia-gpu-t4:1"])
def test_kubeai_cpu_and_t4_profiles_are_admitted_for_a_restricted_tenant(profile):
    assert action(load(KUBEAI_CPU, **{"spec.resourceProfile": profile})) is Action.ALLOW


def test_kubeai_profile_of_an_operator_defined_name_is_unknown():
    obj = load(KUBEAI_CPU, **{"spec.resourceProfile": "gpu-large:2"})
    workload = extract_workload(obj)
    [request] = workload.accelerators
    assert request.resource == "resource-profile.kubeai.org/gpu-large"
    decision = ENGINE.evaluate(workload, RESTRICTED, NOW)
    assert decision.action is Action.DENY
    assert "resource-profile.kubeai.org/gpu-large" in decision.message


def test_dynamo_graph_is_still_searched_generically():
    """`generic: true` keeps what the search found: the worker's `gpu` (an `nvidia.com/gpu`,
    the default of `gpuType`: resourceCountKeys; unpinned) and its --model flag."""
    workload = extract_workload(load(DYNAMO_GRAPH))
    assert [a.resource for a in workload.accelerators] == ["nvidia.com/gpu"]
    assert [m.reference for m in workload.models] == ["Qwen/Qwen3-0.6B"]
    assert action(load(DYNAMO_GRAPH)) is Action.DENY
    assert action(load(DYNAMO_GRAPH), US) is Action.ALLOW


# AIBrix brixbench/benchmark/testdata/deployments/dynamo/qwen3-32b-round-robin-4p8d-vke.yaml
# (the decode worker only; args and env shortened): Volcengine RDMA NICs asked for through
# Dynamo's ResourceItem.custom, which the operator copies into the container's resources.
DYNAMO_CUSTOM = """
apiVersion: nvidia.com/v1alpha1
kind: DynamoGraphDeployment
metadata: {name: vllm-dynamo, namespace: t}
spec:
  backendFramework: vllm
  pvcs: [{name: models-pvc, create: false}]
  services:
    VllmDecodeWorker:
      dynamoNamespace: vllm-dynamo
      componentType: worker
      subComponentType: decode
      replicas: 8
      extraPodMetadata:
        annotations:
          k8s.volcengine.com/pod-networks: '[{"cniConf":{"name":"rdma"}}]'
      resources:
        limits:
          gpu: '4'
          custom: {vke.volcengine.com/rdma: '1'}
        requests:
          gpu: '4'
          custom: {vke.volcengine.com/rdma: '1'}
      volumeMounts: [{name: models-pvc, mountPoint: /models}]
      extraPodSpec:
        nodeSelector: {kubernetes.io/hostname: 192.168.0.7}
        mainContainer:
          image: aibrix-public-release-cn-beijing.cr.volces.com/aibrix/ai-dynamo-vllm-runtime:1.2.0
          workingDir: /workspace
          command: [/bin/sh, -c]
          securityContext:
            runAsUser: 0
            capabilities: {add: [IPC_LOCK, SYS_RESOURCE]}
          args:
            - |
              export MODEL=Qwen3-32B
              python3 -m dynamo.vllm --model /models/$MODEL --tensor-parallel-size 4
          env:
            - {name: CUDA_VISIBLE_DEVICES, value: '0,1,2,3'}
            - {name: NCCL_IB_GID_INDEX, value: '7'}
"""
WORKER = "spec.services.VllmDecodeWorker"


def test_dynamo_custom_resources_are_read_as_resources():
    """Finding (sweep 14): `resources.limits.custom` was refused as a malformed device count
    (exit 2 for every tenant). Its names are resources of the list; the Volcengine RDMA
    resource is not in the vocabulary, so it is an unknown one."""
    workload = extract_workload(load(DYNAMO_CUSTOM))
    assert [(a.resource, a.count, a.source) for a in workload.accelerators] == [
        ("nvidia.com/gpu", 4, f"{WORKER}.resources.limits.gpu"),
        (
            "vke.volcengine.com/rdma",
            1,
            f'{WORKER}.resources.limits.custom["vke.volcengine.com/rdma"]',
        ),
    ]
    assert action(load(DYNAMO_CUSTOM)) is Action.DENY
    assert action(load(DYNAMO_CUSTOM), US) is Action.ALLOW


def test_dynamo_custom_resources_are_judged_like_any_resource():
    listed_nic = {"limits": {"cpu": "2", "custom": {"rdma/hca_shared_devices_a": "1"}}}
    obj = load(DYNAMO_CUSTOM, **{f"{WORKER}.resources": listed_nic})
    assert extract_workload(obj).accelerators == ()
    assert action(obj) is Action.ALLOW
    gpus = {"requests": {"custom": {"nvidia.com/gpu": "8"}}}
    obj = load(DYNAMO_CUSTOM, **{f"{WORKER}.resources": gpus})
    [gpu] = extract_workload(obj).accelerators
    assert (gpu.resource, gpu.count) == ("nvidia.com/gpu", 8)
    assert action(obj) is Action.DENY


def test_a_map_under_another_resource_name_is_still_refused():
    """Only the keys the vocabulary lists (nestedResourceMaps: Dynamo's `custom`) nest."""
    odd = {"limits": {"extra": {"nvidia.com/gpu": "1"}}}
    with pytest.raises(InputError) as raised:
        extract_workload(load(DYNAMO_CUSTOM, **{f"{WORKER}.resources": odd}))
    assert raised.value.field == f"{WORKER}.resources.limits.extra"


def test_vllm_runtime_keeps_its_gpu_and_reads_its_model():
    workload = extract_workload(load(VLLM_RUNTIME))
    assert [a.resource for a in workload.accelerators] == ["nvidia.com/gpu"]
    assert "meta-llama/Llama-3.1-8B-Instruct" in [m.reference for m in workload.models]
    assert action(load(VLLM_RUNTIME), US) is Action.ALLOW


# Session 14, second red team (vllmrt_t4.yaml), as written but for one line break.
VLLM_RUNTIME_T4 = """
apiVersion: production-stack.vllm.ai/v1alpha1
kind: VLLMRuntime
metadata: {name: r, namespace: team-n}
spec:
  model: {modelURL: Qwen/Qwen2.5-0.5B-Instruct, maxModelLen: 4096}
  vllmConfig: {port: 8000, v1: true, extraArgs: ["--device", "cpu"]}
  deploymentConfig:
    replicas: 1
    nodeSelectorTerms:
      [{matchExpressions: [{key: nvidia.com/gpu.product, operator: In, values: [Tesla-T4]}]}]
    image: {registry: docker.io, name: lmcache/vllm-openai:latest, pullPolicy: IfNotPresent}
    resources: {cpu: "4", memory: "16Gi", gpu: "1", gpuType: nvidia.com/gpu}
"""


def test_a_flat_resource_map_is_named_by_its_own_fields():
    # The generic search reads {cpu, gpu, ...} as limits; the denial named
    # spec.deploymentConfig.resources.limits.gpu, a field the kind does not have.
    workload = extract_workload(load(VLLM_RUNTIME_T4))
    assert [(a.resource, a.source) for a in workload.accelerators] == [
        ("nvidia.com/gpu", "spec.deploymentConfig.resources.gpu")
    ]
    # The count is now of nvidia.com/gpu (test_count_keys: the T4 pin admits it); unpinned, a
    # `gpuType` the vocabulary does not know is an unknown one, and the denial names the field.
    unknown = {"cpu": "4", "gpu": "1", "gpuType": "example.com/npu"}
    obj = load(
        VLLM_RUNTIME_T4,
        **{
            "spec.deploymentConfig.nodeSelectorTerms": None,
            "spec.deploymentConfig.resources": unknown,
        },
    )
    decision = ENGINE.evaluate(extract_workload(obj), RESTRICTED, NOW)
    assert decision.action is Action.DENY
    assert "spec.deploymentConfig.resources.gpu," in decision.violations[0].message
    assert "limits" not in decision.violations[0].message


# --- models in URL fields -----------------------------------------------------------------

LLAMA4_FOR_EU = [
    ("kubeai-model", load(KUBEAI_LLAMA4, **{"spec.resourceProfile": "nvidia-gpu-t4:1"})),
    (
        "aibrix-modeladapter",
        load(AIBRIX_ADAPTER, **{"spec.artifactURL": f"huggingface://{LLAMA4}"}),
    ),
    ("aibrix-modelclaim", load(AIBRIX_CLAIM, **{"spec.artifactURL": f"huggingface://{LLAMA4}"})),
    ("ome-clusterbasemodel", load(OME_CLUSTER_BASE_MODEL)),
    ("ome-basemodel", {**load(OME_CLUSTER_BASE_MODEL), "kind": "BaseModel"}),
    ("ome-inferenceservice", load(OME_ISVC)),
    ("vllm-runtime", load(VLLM_RUNTIME, **{"spec.model.modelURL": LLAMA4})),
    ("lora-adapter", load(LORA_ADAPTER, **{"spec.adapterSource.repository": LLAMA4})),
    (
        "dynamo-model",
        {
            "apiVersion": "nvidia.com/v1alpha1",
            "kind": "DynamoModel",
            "metadata": {"name": "m", "namespace": "t"},
            "spec": {"modelName": LLAMA4, "baseModelName": LLAMA4},
        },
    ),
]


@pytest.mark.parametrize(("name", "obj"), LLAMA4_FOR_EU, ids=[n for n, _ in LLAMA4_FOR_EU])
def test_llama4_in_a_url_field_is_denied_for_an_eu_tenant(name, obj):
    workload = extract_workload(obj)
    assert workload.models, name
    assert ENGINE.evaluate(workload, EU, NOW).action is Action.DENY
    assert ENGINE.evaluate(workload, US, NOW).action is Action.ALLOW


@pytest.mark.parametrize(
    "text",
    [KUBEAI_CPU, AIBRIX_ADAPTER, AIBRIX_CLAIM, LORA_ADAPTER],
    ids=["kubeai", "lora", "claim", "ps-lora"],
)
def test_unmodified_samples_are_admitted_for_eu_and_restricted_tenants(text):
    assert action(load(text), EU) is Action.ALLOW
    assert action(load(text)) is Action.ALLOW


# --- the adapter option --------------------------------------------------------------------


def test_generic_option_adds_the_search_to_an_adapter():
    text = """
apiVersion: exportgate.dev/v1alpha1
kind: AdapterSet
metadata: {name: site}
adapters:
  - group: acme.example.com
    kinds: [Server]
    generic: %s
    models:
      - {path: spec.url, parse: uri}
"""
    obj = {
        "apiVersion": "acme.example.com/v1",
        "kind": "Server",
        "metadata": {"name": "s", "namespace": "t"},
        "spec": {
            "url": "hf://org/x",
            "worker": {"image": "x", "resources": {"limits": {"nvidia.com/gpu": 1}}},
        },
    }
    for flag, expected in (("true", ["nvidia.com/gpu"]), ("false", [])):
        registry = AdapterRegistry.builtin().extended([parse_adapter_text(text % flag)])
        workload = registry.extract(obj)
        assert [a.resource for a in workload.accelerators] == expected
        assert [m.reference for m in workload.models] == ["hf://org/x"]
