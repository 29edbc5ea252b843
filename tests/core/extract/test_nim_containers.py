"""NVIDIA NIM Operator kinds: the NIM container described by the spec itself, and the init and
sidecar containers beside it (exportgate/data/adapters/nvidia-nim.yaml, ``asContainer``).

Session 14, second red team: a NIMService's or a NIMPipeline service's ``spec.env`` (the NIM
container's variables) and its ``sidecarContainers`` were not read, so
``NVIDIA_VISIBLE_DEVICES=all`` on an H100 node with CPU-only resources was admitted for a
restricted tenant; and an ``initContainers`` entry, whose ``image`` is the operator's
``{repository, tag}`` object (NIMContainerSpec), was refused as malformed. The red team's
manifests are built by `_nim_spec` from what they share.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
import yaml

from exportgate.core.errors import InputError
from exportgate.core.extract import extract_workload
from exportgate.core.extract.access import DEVICE_ACCESS
from exportgate.core.types import Action
from tests.core.extract.fail_closed import T4_GFD, decide

H100_PIN = {"nvidia.com/gpu.product": "NVIDIA-H100-80GB-HBM3"}
T4_PIN = {"nvidia.com/gpu.product": "Tesla-T4"}
ALL_GPUS = [{"name": "NVIDIA_VISIBLE_DEVICES", "value": "all"}]


def _nim_spec(resources: dict[str, Any], pin: dict[str, str], **extra: Any) -> dict[str, Any]:
    """The NIM spec the red team's manifests share (Llama 3.1 8B, a ClusterIP service), with
    its resource limits, its nodeSelector and what each adds."""
    return {
        "image": {"repository": "nvcr.io/nim/meta/llama-3.1-8b-instruct", "tag": "1.3.3"},
        "authSecret": "ngc",
        "expose": {"service": {"type": "ClusterIP", "port": 8000}},
        "resources": {"limits": resources},
        "nodeSelector": pin,
        **extra,
    }


def _nim_service(spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "apps.nvidia.com/v1alpha1",
        "kind": "NIMService",
        "metadata": {"name": "n", "namespace": "team-n"},
        "spec": spec,
    }


def _nim_pipeline(spec: dict[str, Any]) -> dict[str, Any]:
    pipeline = _nim_service({"services": [{"name": "a", "enabled": True, "spec": spec}]})
    pipeline["kind"] = "NIMPipeline"
    return pipeline


BUSYBOX_INIT = [{"name": "s", "image": {"repository": "busybox", "tag": "1"}, "command": ["true"]}]
CUDA_SIDECAR = [
    {"name": "s", "image": {"repository": "nvcr.io/nvidia/cuda", "tag": "12"}, "env": ALL_GPUS}
]
NIM_ENV_H100 = _nim_service(_nim_spec({"cpu": 4}, H100_PIN, env=ALL_GPUS))
NIMP_ENV_H100 = _nim_pipeline(_nim_spec({"cpu": 4}, H100_PIN, env=ALL_GPUS))
NIMP_SIDECAR_H100 = _nim_pipeline(_nim_spec({"cpu": 4}, H100_PIN, sidecarContainers=CUDA_SIDECAR))
NIM_INIT = _nim_service(_nim_spec({"nvidia.com/gpu": 1}, T4_PIN, initContainers=BUSYBOX_INIT))
NIMP_INIT = _nim_pipeline(_nim_spec({"nvidia.com/gpu": 1}, T4_PIN, initContainers=BUSYBOX_INIT))


def _load(text: str) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(text)
    return loaded


def _found(obj: dict[str, Any]) -> set[tuple[str, str]]:
    return {(a.resource, a.source) for a in extract_workload(obj).accelerators}


def _on_t4(obj: dict[str, Any]) -> dict[str, Any]:
    """`obj` with every NIM spec's nodeSelector a T4 (the same text, one value changed)."""
    return _load(yaml.safe_dump(obj).replace("NVIDIA-H100-80GB-HBM3", T4_GFD))


@pytest.mark.parametrize(
    ("text", "field"),
    [
        (NIM_ENV_H100, "spec.env[0]"),
        (NIMP_ENV_H100, "spec.services[0].spec.env[0]"),
        (NIMP_SIDECAR_H100, "spec.services[0].spec.sidecarContainers[0].env[0]"),
    ],
    ids=["nimservice-env", "nimpipeline-env", "nimpipeline-sidecar"],
)
def test_a_device_variable_of_a_nim_container_is_device_access(
    text: dict[str, Any], field: str
) -> None:
    obj = copy.deepcopy(text)
    assert _found(obj) == {(DEVICE_ACCESS, field)}
    assert decide(obj)[1] is Action.DENY
    # The same on a T4 node is a T4.
    assert decide(_on_t4(obj))[1] is Action.ALLOW


@pytest.mark.parametrize("text", [NIM_INIT, NIMP_INIT], ids=["nimservice", "nimpipeline"])
def test_an_init_container_with_an_image_object_is_read(text: dict[str, Any]) -> None:
    # L1: refused before as "expected a string, found an object"; a T4 NIM with an init step.
    obj = copy.deepcopy(text)
    workload = extract_workload(obj)
    assert {a.resource for a in workload.accelerators} == {"nvidia.com/gpu"}
    assert decide(obj)[1] is Action.ALLOW
    # The GPUs are counted once (spec.resources is the NIM container's, read once).
    assert [a.count for a in workload.accelerators] == [1]


def test_an_init_or_sidecar_image_that_is_a_nim_names_its_model() -> None:
    obj = copy.deepcopy(NIM_INIT)
    obj["spec"]["initContainers"][0]["image"] = {
        "repository": "nvcr.io/nim/deepseek-ai/deepseek-r1",
        "tag": "1.7.3",
    }
    models = {m.reference for m in extract_workload(obj).models}
    assert "deepseek-ai/deepseek-r1" in models
    # An image that is neither a string nor {repository} is still named.
    obj["spec"]["initContainers"][0]["image"] = ["busybox"]
    with pytest.raises(InputError, match="expected a string"):
        extract_workload(obj)


# NVIDIA/k8s-nim-operator config/samples/nim/caching/ngc/nimcache.yaml, with an init container
# (NIMCacheSpec.InitContainers, NIMContainerSpec) that asks the runtime for every GPU.
NIMCACHE_INIT = """\
apiVersion: apps.nvidia.com/v1alpha1
kind: NIMCache
metadata:
  labels:
    app.kubernetes.io/name: k8s-nim-operator
  name: meta-llama-3-2-1b-instruct
  namespace: nim-service
spec:
  source:
    ngc:
      modelPuller: nvcr.io/nim/meta/llama-3.2-1b-instruct:1.12.0
      pullSecret: ngc-secret
      authSecret: ngc-api-secret
      model:
        engine: "tensorrt"
        tensorParallelism: "1"
  storage:
    pvc:
      create: true
      size: "50Gi"
      volumeAccessMode: ReadWriteOnce
  initContainers:
  - name: warm
    image: {repository: busybox, tag: "1.36"}
    command: [sh, -c, nvidia-smi]
    env:
    - {name: NVIDIA_VISIBLE_DEVICES, value: all}
"""


def test_a_nimcache_sample_runs_nothing_guarded() -> None:
    obj = _load(NIMCACHE_INIT)
    del obj["spec"]["initContainers"]
    assert _found(obj) == set()
    assert decide(obj)[1] is Action.ALLOW


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({}, "spec.initContainers[0].env[0]"),
        # The caching job's container gets spec.env (MergeEnvVars(Containers[0].Env, Spec.Env)).
        (
            {"initContainers": None, "env": [{"name": "NVIDIA_VISIBLE_DEVICES", "value": "all"}]},
            "spec.env[0]",
        ),
        ({"initContainers": None, "runtimeClassName": "nvidia"}, "spec.runtimeClassName"),
    ],
    ids=["init-container-env", "job-env", "runtime-class"],
)
def test_a_nimcache_job_with_device_access_is_judged(change: dict[str, Any], field: str) -> None:
    """Finding (session 14): NIMCache had no pod spec in its adapter, so device access in its
    caching job (an init container's env, spec.env, the runtime class) was not read."""
    obj = _load(NIMCACHE_INIT)
    obj["spec"].update(change)
    assert _found(obj) == {(DEVICE_ACCESS, field)}
    assert decide(obj)[1] is Action.DENY
    # Placed on a T4 by spec.nodeSelector (the job's), it is a T4.
    obj["spec"]["nodeSelector"] = {"nvidia.com/gpu.product": T4_GFD}
    assert decide(obj)[1] is Action.ALLOW
