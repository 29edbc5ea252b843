"""KServe Managed DRA: an LLMInferenceService's ``serving.kserve.io/exp-dra-*`` annotations are
the device request of the claim template the controller gives every pod of the service.

Red team finding (sweep 14): kserve/kserve docs/samples/llmisvc/managed-dra/
llm-inference-service-managed-dra-minimal.yaml and ...-multi-device.yaml were admitted for a
tenant headquartered in China with no accelerator found: the GPUs come from the annotations
alone, and the webhook sees the service before any ResourceClaimTemplate exists.
"""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from exportgate.core.errors import InputError
from exportgate.core.extract import extract_workload
from exportgate.core.extract.dra_refs import DraObjects
from exportgate.core.types import Action
from tests.core.builders import NOW, make_tenant
from tests.core.extract.fail_closed import ENGINE, RESTRICTED, device_class

US = make_tenant("us-corp", incorporation="US", headquarters="US")
CLASS_FIELD = 'metadata.annotations["serving.kserve.io/exp-dra-device-class"]'

# kserve docs/samples/llmisvc/managed-dra/llm-inference-service-managed-dra-minimal.yaml
MINIMAL = """
apiVersion: serving.kserve.io/v1alpha2
kind: LLMInferenceService
metadata:
  name: qwen2-7b-instruct-dra-minimal
  annotations:
    serving.kserve.io/exp-dra-device-class: gpu.nvidia.com
spec:
  model:
    uri: hf://Qwen/Qwen2.5-7B-Instruct
    name: Qwen/Qwen2.5-7B-Instruct
  replicas: 1
  router:
    scheduler: {}
    route: {}
    gateway: {}
  template:
    containers:
      - name: main
        resources:
          limits: {cpu: "4", memory: 32Gi}
          requests: {cpu: "2", memory: 16Gi}
        livenessProbe:
          httpGet: {path: /health, port: 8000, scheme: HTTPS}
          initialDelaySeconds: 120
          periodSeconds: 30
          timeoutSeconds: 30
          failureThreshold: 5
"""

# kserve docs/samples/llmisvc/managed-dra/llm-inference-service-managed-dra-multi-device.yaml
MULTI_DEVICE = """
apiVersion: serving.kserve.io/v1alpha2
kind: LLMInferenceService
metadata:
  name: qwen2-7b-instruct-dra-multi
  annotations:
    serving.kserve.io/exp-dra-device-class: gpu.nvidia.com
    serving.kserve.io/exp-dra-device-count: "2"
    serving.kserve.io/exp-dra-container-name: main
    serving.kserve.io/exp-dra-cel-selector: |
      device.attributes['gpu.nvidia.com']['type'] == 'A100'
      device.capacity['gpu.nvidia.com']['memory'].compareTo(quantity('40Gi')) >= 0
spec:
  model:
    uri: hf://Qwen/Qwen2.5-7B-Instruct
    name: Qwen/Qwen2.5-7B-Instruct
  replicas: 1
  router:
    scheduler: {}
    route: {}
    gateway: {}
  template:
    containers:
      - name: sidecar
        image: busybox:1.36
        command: [sh, -c, while true; do sleep 3600; done]
        resources:
          requests: {cpu: 100m, memory: 64Mi}
      - name: main
        resources:
          limits: {cpu: "8", memory: 64Gi}
          requests: {cpu: "4", memory: 32Gi}
"""


def load(text: str, annotations: dict[str, str] | None = None, **fields: Any) -> dict[str, Any]:
    """The manifest, namespaced, with its annotations replaced when `annotations` is given and
    top-level `spec` fields set from `fields` (None removes one)."""
    obj: dict[str, Any] = yaml.safe_load(text)
    obj["metadata"]["namespace"] = "team"
    if annotations is not None:
        obj["metadata"]["annotations"] = annotations
    for key, value in fields.items():
        if value is None:
            obj["spec"].pop(key, None)
        else:
            obj["spec"][key] = value
    return obj


def action(obj: dict[str, Any], tenant: Any = RESTRICTED, dra: DraObjects | None = None) -> Action:
    return ENGINE.evaluate(extract_workload(obj, dra=dra), tenant, NOW).action


@pytest.mark.parametrize(
    ("text", "count"), [(MINIMAL, 1), (MULTI_DEVICE, 2)], ids=["minimal", "multi-device"]
)
def test_the_upstream_samples_ask_for_unpinned_nvidia_gpus(text: str, count: int) -> None:
    """The finding: `type == 'A100'` and a memory bound pin no product name (only productName
    selectors do, as in any DRA claim), so the request is any NVIDIA GPU."""
    workload = extract_workload(load(text))
    [gpu] = workload.accelerators
    assert (gpu.resource, gpu.count, gpu.hints, gpu.source) == (
        "gpu.nvidia.com",
        count,
        (),
        CLASS_FIELD,
    )
    assert action(load(text)) is Action.DENY
    assert action(load(text), US) is Action.ALLOW


def test_without_the_annotations_the_sample_is_admitted_as_before() -> None:
    obj = load(MULTI_DEVICE, annotations={})
    assert extract_workload(obj).accelerators == ()
    assert action(obj) is Action.ALLOW


def test_a_product_name_selector_pins_like_a_claims_does() -> None:
    pinned = {
        "serving.kserve.io/exp-dra-device-class": "gpu.nvidia.com",
        "serving.kserve.io/exp-dra-cel-selector": (
            "device.attributes['gpu.nvidia.com'].productName == 'Tesla T4'\n"
        ),
    }
    assert action(load(MINIMAL, annotations=pinned)) is Action.ALLOW
    h100 = {
        **pinned,
        "serving.kserve.io/exp-dra-cel-selector": (
            "device.attributes['gpu.nvidia.com'].productName == 'NVIDIA H100 80GB HBM3'"
        ),
    }
    assert action(load(MINIMAL, annotations=h100)) is Action.DENY


def test_the_request_holds_for_pods_from_base_configs_too() -> None:
    """The controller adds the claim to the merged pod templates, so a service that writes no
    template of its own (baseRefs) still gets the devices."""
    obj = load(MINIMAL, template=None, baseRefs=[{"name": "kserve-config-llm-template"}])
    assert [a.resource for a in extract_workload(obj).accelerators] == ["gpu.nvidia.com"]
    assert action(obj) is Action.DENY


def test_a_platform_class_is_read_from_its_device_class() -> None:
    annotations = {"serving.kserve.io/exp-dra-device-class": "big-gpus"}
    obj = load(MINIMAL, annotations=annotations)
    [unknown] = extract_workload(obj).accelerators
    assert unknown.resource == "DeviceClass big-gpus"
    assert action(obj) is Action.DENY
    nics = DraObjects.from_objects([device_class("big-gpus", 'device.driver == "dra.net"')])
    assert extract_workload(obj, dra=nics).accelerators == ()
    assert action(obj, dra=nics) is Action.ALLOW


@pytest.mark.parametrize(
    ("annotations", "field", "words"),
    [
        (
            {"serving.kserve.io/exp-dra-device-class": "  "},
            CLASS_FIELD,
            "device class is empty",
        ),
        (
            {
                "serving.kserve.io/exp-dra-device-class": "gpu.nvidia.com",
                "serving.kserve.io/exp-dra-device-count": "0",
            },
            'metadata.annotations["serving.kserve.io/exp-dra-device-count"]',
            "not a device count",
        ),
        (
            {
                "serving.kserve.io/exp-dra-device-class": "gpu.nvidia.com",
                "serving.kserve.io/exp-dra-device-count": "2.5",
            },
            'metadata.annotations["serving.kserve.io/exp-dra-device-count"]',
            "not a device count",
        ),
        (
            {
                "serving.kserve.io/exp-dra-device-class": "gpu.nvidia.com",
                "serving.kserve.io/exp-dra-device-count": "9" * 5000,
            },
            'metadata.annotations["serving.kserve.io/exp-dra-device-count"]',
            "not a device count",
        ),
    ],
    ids=["empty-class", "zero-count", "fraction", "huge"],
)
def test_values_kserve_refuses_are_refused_naming_the_annotation(
    annotations: dict[str, str], field: str, words: str
) -> None:
    with pytest.raises(InputError) as raised:
        extract_workload(load(MINIMAL, annotations=annotations))
    assert raised.value.field == field and words in str(raised.value)


def test_only_the_llm_inference_service_reads_them() -> None:
    """An LLMInferenceServiceConfig's own annotations and an InferenceService's turn nothing on
    (KServe reads the service's annotations only)."""
    config = load(MINIMAL)
    config["kind"] = "LLMInferenceServiceConfig"
    assert extract_workload(config).accelerators == ()
    isvc = {
        "apiVersion": "serving.kserve.io/v1beta1",
        "kind": "InferenceService",
        "metadata": {
            "name": "sklearn-iris",
            "namespace": "team",
            "annotations": {"serving.kserve.io/exp-dra-device-class": "gpu.nvidia.com"},
        },
        "spec": {
            "predictor": {
                "model": {
                    "modelFormat": {"name": "sklearn"},
                    "storageUri": "gs://kfserving-examples/models/sklearn/1.0/model",
                }
            }
        },
    }
    assert extract_workload(isvc).accelerators == ()
    assert action(isvc) is Action.ALLOW
