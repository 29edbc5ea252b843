"""NVIDIA NIM Operator kinds: the annotations the operator puts on the pods it creates, NIMPipeline
and NIMBuild (exportgate/data/adapters/nvidia-nim.yaml).

Session 14: a NIMService's ``spec.annotations`` (which the operator copies onto the pods of its
Deployment, LeaderWorkerSet or KServe predictor) were not read, so a KAI ``gpu-fraction`` or a
CDI request there was admitted for a restricted tenant; a NIMPipeline (a NIMServiceSpec per
service) and a NIMBuild (one engine-build pod, always on GPUs, annotated with the NIMBuild's own
metadata) had no adapter. The manifests below are the operator's samples
(config/samples/nim/...), with the annotation added.
"""

from __future__ import annotations

import copy
from typing import Any

import yaml

from exportgate.core.extract import extract_workload
from exportgate.core.extract.access import DEVICE_ACCESS
from exportgate.core.types import Action
from tests.core.builders import NOW, make_tenant
from tests.core.extract.fail_closed import ENGINE, RESTRICTED, T4_GFD, decide

PERMITTED = make_tenant("acme", incorporation="SG", headquarters="SG")

# config/samples/nim/serving/standalone/full/llm.yaml (the NIMService), trimmed to what matters.
NIM_SERVICE: dict[str, Any] = yaml.safe_load("""\
apiVersion: apps.nvidia.com/v1alpha1
kind: NIMService
metadata:
  name: meta-llama-3-2-1b-instruct
  namespace: nim-service
spec:
  image:
    repository: nvcr.io/nim/meta/llama-3.2-1b-instruct
    tag: "1.12.0"
    pullPolicy: IfNotPresent
    pullSecrets:
      - ngc-secret
  authSecret: ngc-api-secret
  storage:
    nimCache:
      name: meta-llama-3-2-1b-instruct
      profile: ''
  replicas: 1
  resources:
    limits:
      cpu: "4"
  expose:
    service:
      type: ClusterIP
      port: 8000
""")


def _with(obj: dict[str, Any], **spec: Any) -> dict[str, Any]:
    changed = copy.deepcopy(obj)
    changed["spec"].update(spec)
    return changed


def found(obj: dict[str, Any]) -> set[tuple[str, str]]:
    return {(a.resource, a.source) for a in extract_workload(obj).accelerators}


def test_a_nimservices_annotations_are_its_pods() -> None:
    fraction = _with(NIM_SERVICE, annotations={"gpu-fraction": "0.5"})
    assert found(fraction) == {(DEVICE_ACCESS, "spec.annotations.gpu-fraction")}
    assert decide(fraction)[1] is Action.DENY
    cdi = _with(NIM_SERVICE, annotations={"cdi.k8s.io/gpu": "nvidia.com/gpu=all"})
    assert found(cdi) == {("nvidia.com/gpu", 'spec.annotations["cdi.k8s.io/gpu"]')}
    assert decide(cdi)[1] is Action.DENY
    # Judged as that device, like the same annotation on a pod: pinned to a T4, admitted.
    pinned = _with(fraction, nodeSelector={"nvidia.com/gpu.product": T4_GFD})
    workload = extract_workload(pinned)
    assert ENGINE.evaluate(workload, RESTRICTED, NOW).action is Action.ALLOW
    assert ENGINE.evaluate(extract_workload(cdi), PERMITTED, NOW).action is Action.ALLOW


def test_a_nimservices_own_metadata_is_not_its_pods() -> None:
    # GetNIMServiceAnnotations reads spec.annotations only.
    obj = copy.deepcopy(NIM_SERVICE)
    obj["metadata"]["annotations"] = {"gpu-fraction": "0.5"}
    assert found(obj) == set()


def test_harmless_annotations_change_nothing() -> None:
    # The operator's own samples: KServe's deployment mode, Multus networks (kserve/standard,
    # multi-node-nimservice-rdma).
    plain = extract_workload(NIM_SERVICE)
    for harmless in (
        {"serving.kserve.io/deploymentMode": "Standard"},
        {"k8s.v1.cni.cncf.io/networks": "example-ipoibnetwork"},
        {"autoscaling.knative.dev/metric": "concurrency"},
    ):
        annotated = extract_workload(_with(NIM_SERVICE, annotations=harmless))
        assert annotated.accelerators == plain.accelerators == ()
        assert decide(_with(NIM_SERVICE, annotations=harmless))[1] is decide(NIM_SERVICE)[1]


# config/samples/nim/pipelines/rag/rag-pipeline.yaml, two of its services.
PIPELINE: dict[str, Any] = yaml.safe_load("""\
apiVersion: apps.nvidia.com/v1alpha1
kind: NIMPipeline
metadata:
  name: rag-pipeline
  namespace: nim-service
spec:
  services:
    - name: meta-llama3-8b-instruct
      enabled: true
      spec:
        image:
          repository: nvcr.io/nim/meta/llama-3.1-8b-instruct
          tag: 1.3.3
          pullPolicy: IfNotPresent
          pullSecrets:
          - ngc-secret
        authSecret: ngc-api-secret
        storage:
          nimCache:
            name: meta-llama3-8b-instruct
            profile: ''
        replicas: 1
        resources:
          limits:
            nvidia.com/gpu: 1
        expose:
          service:
            type: ClusterIP
            port: 8000
    - name: nv-embedqa-1b-v2
      enabled: true
      spec:
        image:
          repository: nvcr.io/nim/nvidia/llama-3.2-nv-embedqa-1b-v2
          tag: 1.3.1
        authSecret: ngc-api-secret
        replicas: 1
        expose:
          service:
            type: ClusterIP
            port: 8000
""")


def test_a_nimpipelines_services_are_read_like_nimservices() -> None:
    workload = extract_workload(PIPELINE)
    assert {(a.resource, a.source) for a in workload.accelerators} == {
        ("nvidia.com/gpu", 'spec.services[0].spec.resources.limits["nvidia.com/gpu"]')
    }
    assert {m.reference for m in workload.models} == {
        "meta/llama-3.1-8b-instruct",
        "nvidia/llama-3.2-nv-embedqa-1b-v2",
    }
    # A service's annotations are its own pods': a share of a GPU for the embedding service.
    pipeline = copy.deepcopy(PIPELINE)
    pipeline["spec"]["services"][1]["spec"]["annotations"] = {"gpu-memory": "4000"}
    assert (DEVICE_ACCESS, "spec.services[1].spec.annotations.gpu-memory") in found(pipeline)
    assert decide(pipeline)[1] is Action.DENY


# A NIMBuild as the API defines it (api/apps/v1alpha1/nimbuild_types.go).
NIM_BUILD: dict[str, Any] = yaml.safe_load("""\
apiVersion: apps.nvidia.com/v1alpha1
kind: NIMBuild
metadata:
  name: llama-engine
  namespace: nim-service
spec:
  nimCache:
    name: meta-llama-3-2-1b-instruct
    profile: tensorrt_llm-buildable
  image:
    repository: nvcr.io/nim/meta/llama-3.2-1b-instruct
    tag: "1.12.0"
""")


def test_a_nimbuild_always_builds_on_gpus() -> None:
    # Without nvidia.com/gpu in spec.resources.requests the operator requests the profile's
    # tensor parallelism: one nvidia.com/gpu at least, placed by spec.nodeSelector.
    assert found(NIM_BUILD) == {("nvidia.com/gpu", "spec")}
    assert decide(NIM_BUILD)[1] is Action.DENY
    pinned = _with(NIM_BUILD, nodeSelector={"nvidia.com/gpu.product": T4_GFD})
    assert ENGINE.evaluate(extract_workload(pinned), RESTRICTED, NOW).action is Action.ALLOW
    counted = _with(NIM_BUILD, resources={"requests": {"nvidia.com/gpu": 2}})
    assert {(a.resource, a.count) for a in extract_workload(counted).accelerators} == {
        ("nvidia.com/gpu", 2)
    }


def test_a_nimbuilds_metadata_annotations_are_its_build_pods() -> None:
    pinned = _with(NIM_BUILD, nodeSelector={"nvidia.com/gpu.product": T4_GFD})
    annotated = copy.deepcopy(pinned)
    annotated["metadata"]["annotations"] = {"cdi.k8s.io/x": "nvidia.com/pgpu=0"}
    assert (DEVICE_ACCESS, 'metadata.annotations["cdi.k8s.io/x"]') in found(annotated)
    # As on a pod: a device the annotation hands out is narrowed by the placement (a T4)...
    assert decide(annotated)[1] is Action.ALLOW
    # ... but a peer pod's VM is its own machine, which the placement does not narrow.
    annotated["metadata"]["annotations"] = {
        "io.katacontainers.config.hypervisor.machine_type": "p5.48xlarge"
    }
    assert decide(annotated)[1] is Action.DENY
    # kubectl's own annotation is no device.
    annotated["metadata"]["annotations"] = {
        "kubectl.kubernetes.io/last-applied-configuration": "{}"
    }
    assert decide(annotated)[1] is decide(pinned)[1]
