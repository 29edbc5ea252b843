"""Annotations a controller copies onto the pods it creates (adapter files, generic fallback).

Red team 13, F4: a device annotation (``cdi.k8s.io/x: nvidia.com/gpu=all``, ``gpu-fraction``)
put where a controller copies it onto its pods, rather than on a pod template, was not read: an
Argo Workflow's spec.podMetadata and templates[].metadata, a KServe component's ``annotations``
and the InferenceService's own metadata, a Spark driver's or executor's ``annotations``, a
Seldon componentSpec's metadata, a Knative Revision's metadata. Each is now read as its pods'
(the adapters' ``annotations``/``ownAnnotations``, the generic fallback's Argo-style templates),
and only as the pods' it reaches.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
import yaml

from exportgate.core.extract import extract_workload
from exportgate.core.extract.access import DEVICE_ACCESS
from exportgate.core.types import Action
from tests.core.builders import NOW, make_tenant
from tests.core.extract.fail_closed import ENGINE, T4_GFD, decide

PERMITTED = make_tenant("acme", incorporation="SG", headquarters="SG")

# The red team's manifests (f4-controller-copied-annotations.yaml).
RED_TEAM = yaml.safe_load_all("""
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {name: wf, namespace: team}
spec:
  entrypoint: main
  podMetadata:
    annotations: {cdi.k8s.io/x: "nvidia.com/gpu=all"}
  templates:
    - name: main
      metadata:
        annotations: {gpu-fraction: "0.5"}
      container: {image: x}
---
apiVersion: serving.kserve.io/v1beta1
kind: InferenceService
metadata:
  name: isvc
  namespace: team
  annotations: {cdi.k8s.io/x: "nvidia.com/gpu=all"}
spec:
  predictor:
    annotations: {gpu-fraction: "0.5"}
    containers: [{name: kserve-container, image: x}]
---
apiVersion: sparkoperator.k8s.io/v1beta2
kind: SparkApplication
metadata: {name: spark, namespace: team}
spec:
  type: Python
  mode: cluster
  image: x
  mainApplicationFile: local:///x.py
  sparkVersion: "3.5.0"
  driver: {cores: 1, annotations: {cdi.k8s.io/x: "nvidia.com/gpu=all"}}
  executor: {cores: 1, instances: 1, annotations: {gpu-fraction: "0.5"}}
---
apiVersion: machinelearning.seldon.io/v1
kind: SeldonDeployment
metadata: {name: sd, namespace: team}
spec:
  predictors:
    - name: p
      graph: {name: c, type: MODEL}
      componentSpecs:
        - metadata:
            annotations: {cdi.k8s.io/x: "nvidia.com/gpu=all"}
          spec:
            containers: [{name: c, image: x}]
---
apiVersion: serving.knative.dev/v1
kind: Revision
metadata:
  name: rev
  namespace: team
  annotations: {cdi.k8s.io/x: "nvidia.com/gpu=all"}
spec:
  containers: [{image: x}]
""")
MANIFESTS: dict[str, dict[str, Any]] = {doc["kind"]: doc for doc in RED_TEAM}

EXPECTED = {
    # kind: {(resource, where the annotation was read)}
    "Workflow": {
        ("nvidia.com/gpu", 'spec.podMetadata.annotations["cdi.k8s.io/x"]'),
        (DEVICE_ACCESS, "spec.templates[0].metadata.annotations.gpu-fraction"),
    },
    "InferenceService": {
        ("nvidia.com/gpu", 'metadata.annotations["cdi.k8s.io/x"]'),
        (DEVICE_ACCESS, "spec.predictor.annotations.gpu-fraction"),
    },
    "SparkApplication": {
        ("nvidia.com/gpu", 'spec.driver.annotations["cdi.k8s.io/x"]'),
        (DEVICE_ACCESS, "spec.executor.annotations.gpu-fraction"),
    },
    "SeldonDeployment": {
        (
            "nvidia.com/gpu",
            'spec.predictors[0].componentSpecs[0].metadata.annotations["cdi.k8s.io/x"]',
        ),
    },
    "Revision": {("nvidia.com/gpu", 'metadata.annotations["cdi.k8s.io/x"]')},
}


def found(obj: dict[str, Any]) -> set[tuple[str, str]]:
    return {(a.resource, a.source) for a in extract_workload(obj).accelerators}


@pytest.mark.parametrize("kind", list(EXPECTED))
def test_the_red_team_manifests_are_denied_naming_the_annotation(kind: str) -> None:
    obj = MANIFESTS[kind]
    assert found(obj) == EXPECTED[kind]
    workload, action = decide(obj)
    assert action is Action.DENY
    assert ENGINE.evaluate(workload, PERMITTED, NOW).action is Action.ALLOW


@pytest.mark.parametrize("kind", list(EXPECTED))
def test_without_the_annotations_nothing_is_guarded(kind: str) -> None:
    obj = copy.deepcopy(MANIFESTS[kind])
    _strip(obj)
    assert extract_workload(obj).accelerators == ()
    assert decide(obj)[1] is Action.ALLOW


def _strip(value: object) -> None:
    """Remove every ``annotations`` map below `value` (and the podMetadata holding one)."""
    if isinstance(value, dict):
        value.pop("annotations", None)
        for item in value.values():
            _strip(item)
    elif isinstance(value, list):
        for item in value:
            _strip(item)


def test_an_argo_templates_annotations_are_its_pods_alone() -> None:
    # A T4-pinned GPU-sharing step beside a plain CPU step: the CPU step's pod gets no share,
    # so the workflow is admitted (no false denial from reading one template's metadata as
    # every template's).
    workflow = yaml.safe_load(f"""
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {{name: wf, namespace: team}}
spec:
  entrypoint: main
  templates:
    - name: main
      steps: [[{{name: a, template: gpu}}], [{{name: b, template: cpu}}]]
    - name: gpu
      metadata: {{annotations: {{gpu-fraction: "0.5"}}}}
      nodeSelector: {{nvidia.com/gpu.product: {T4_GFD}}}
      container: {{image: x}}
    - name: cpu
      container: {{image: x}}
""")
    assert found(workflow) == {
        (DEVICE_ACCESS, "spec.templates[1].metadata.annotations.gpu-fraction")
    }
    assert decide(workflow)[1] is Action.ALLOW
    # spec.podMetadata reaches every pod, the CPU step's too.
    workflow["spec"]["podMetadata"] = {"annotations": {"gpu-fraction": "0.5"}}
    assert decide(workflow)[1] is Action.DENY


def test_argo_template_defaults_and_the_other_kinds() -> None:
    for kind, prefix in (
        ("WorkflowTemplate", "spec"),
        ("ClusterWorkflowTemplate", "spec"),
        ("CronWorkflow", "spec.workflowSpec"),
    ):
        body = {
            "templateDefaults": {"metadata": {"annotations": {"gpu-memory": "4000"}}},
            "templates": [{"name": "main", "container": {"image": "x"}}],
        }
        spec: dict[str, Any] = {"workflowSpec": body} if kind == "CronWorkflow" else body
        obj = {
            "apiVersion": "argoproj.io/v1alpha1",
            "kind": kind,
            "metadata": {"name": "w", "namespace": "team"},
            "spec": spec,
        }
        assert (
            DEVICE_ACCESS,
            f"{prefix}.templateDefaults.metadata.annotations.gpu-memory",
        ) in found(obj), kind


def test_kserve_components_and_pinned_placement() -> None:
    isvc = copy.deepcopy(MANIFESTS["InferenceService"])
    del isvc["metadata"]["annotations"]
    isvc["spec"]["predictor"]["nodeSelector"] = {"nvidia.com/gpu.product": T4_GFD}
    assert decide(isvc)[1] is Action.ALLOW  # a share of a T4
    isvc["spec"]["transformer"] = {
        "annotations": {"cdi.k8s.io/g": "nvidia.com/gpu=0"},
        "containers": [{"name": "t", "image": "x"}],
    }
    assert ("nvidia.com/gpu", 'spec.transformer.annotations["cdi.k8s.io/g"]') in found(isvc)
    assert decide(isvc)[1] is Action.DENY


def test_spark_driver_and_executor_keep_their_own_placement() -> None:
    app = copy.deepcopy(MANIFESTS["SparkApplication"])
    del app["spec"]["driver"]["annotations"]
    app["spec"]["executor"]["nodeSelector"] = {"nvidia.com/gpu.product": T4_GFD}
    assert decide(app)[1] is Action.ALLOW
    scheduled = {
        "apiVersion": "sparkoperator.k8s.io/v1beta2",
        "kind": "ScheduledSparkApplication",
        "metadata": {"name": "s", "namespace": "team"},
        "spec": {
            "schedule": "@daily",
            "template": copy.deepcopy(MANIFESTS["SparkApplication"])["spec"],
        },
    }
    assert decide(scheduled)[1] is Action.DENY


def test_seldon_deployment_annotations_reach_every_component() -> None:
    sd = copy.deepcopy(MANIFESTS["SeldonDeployment"])
    del sd["spec"]["predictors"][0]["componentSpecs"][0]["metadata"]
    sd["spec"]["annotations"] = {"gpu-fraction": "0.5"}
    assert found(sd) == {(DEVICE_ACCESS, "spec.annotations.gpu-fraction")}


def test_knative_service_templates_stay_read() -> None:
    service = {
        "apiVersion": "serving.knative.dev/v1",
        "kind": "Service",
        "metadata": {"name": "s", "namespace": "team"},
        "spec": {
            "template": {
                "metadata": {"annotations": {"gpu-fraction": "0.5"}},
                "spec": {"containers": [{"image": "x"}]},
            }
        },
    }
    assert decide(service)[1] is Action.DENY


def test_the_generic_fallback_reads_an_argo_style_templates_metadata() -> None:
    unknown: dict[str, Any] = {
        "apiVersion": "example.com/v1",
        "kind": "Pipeline",
        "metadata": {"name": "p", "namespace": "team"},
        "spec": {
            "steps": [
                {
                    "name": "s",
                    "metadata": {"annotations": {"cdi.k8s.io/x": "nvidia.com/gpu=all"}},
                    "container": {"image": "x"},
                },
                {"name": "plain", "script": {"image": "x", "source": "echo"}},
            ]
        },
    }
    assert found(unknown) == {
        ("nvidia.com/gpu", 'spec.steps[0].metadata.annotations["cdi.k8s.io/x"]')
    }
    assert decide(unknown)[1] is Action.DENY
    del unknown["spec"]["steps"][0]["metadata"]
    assert decide(unknown)[1] is Action.ALLOW
