"""Spark Operator pod templates: ``spec.driver.template`` / ``spec.executor.template`` of a
SparkApplication (and the same under a ScheduledSparkApplication's ``spec.template``), read as
pods of the application (exportgate/data/adapters/spark-operator.yaml).

Red team 13b, L2 (copied/spark-template.yaml): a driver template with the annotations
``gpu-fraction`` and a CDI request, ``nvidia.com/gpu: 8`` and an H100 nodeSelector was admitted,
because only the driver's and executor's own fields were read. Spark builds the pod from the
template (spark-operator passes it as ``spark.kubernetes.driver.podTemplateFile``), so its
containers, placement and annotations are the pod's.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
import yaml

from exportgate.core.extract import extract_workload
from exportgate.core.extract.access import DEVICE_ACCESS
from exportgate.core.types import Action
from tests.core.builders import NOW
from tests.core.extract.fail_closed import ENGINE, RESTRICTED, T4_GFD, decide

# The red team's manifest, as written.
RED_TEAM: dict[str, Any] = yaml.safe_load("""\
apiVersion: sparkoperator.k8s.io/v1beta2
kind: SparkApplication
metadata: {name: sp, namespace: team}
spec:
  type: Python
  mode: cluster
  image: spark:3.5.3
  mainApplicationFile: local:///x.py
  sparkVersion: 3.5.3
  driver:
    template:
      metadata:
        annotations: {gpu-fraction: "1", "cdi.k8s.io/x": "nvidia.com/gpu=all"}
      spec:
        containers:
        - name: spark-kubernetes-driver
          resources: {limits: {nvidia.com/gpu: "8"}}
        nodeSelector: {nvidia.com/gpu.product: NVIDIA-H100-80GB-HBM3}
  executor:
    instances: 1
""")


def _scheduled(app: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "sparkoperator.k8s.io/v1beta2",
        "kind": "ScheduledSparkApplication",
        "metadata": {"name": "nightly", "namespace": "team"},
        "spec": {"schedule": "@daily", "template": copy.deepcopy(app["spec"])},
    }


@pytest.mark.parametrize(
    ("obj", "prefix"),
    [(RED_TEAM, "spec"), (_scheduled(RED_TEAM), "spec.template")],
    ids=["application", "scheduled"],
)
def test_the_red_team_template_is_denied_as_the_h100_it_asks_for(
    obj: dict[str, Any], prefix: str
) -> None:
    workload, action = decide(obj)
    assert action is Action.DENY
    sources = {a.source for a in workload.accelerators}
    template = f"{prefix}.driver.template"
    assert f'{template}.spec.containers[0].resources.limits["nvidia.com/gpu"]' in sources
    assert f"{template}.metadata.annotations.gpu-fraction" in sources
    decision = ENGINE.evaluate(workload, RESTRICTED, NOW)
    assert {a.candidates for a in decision.accelerators} == {("nvidia-h100-sxm",)}


def test_every_annotation_of_the_template_is_read() -> None:
    """Without the GPU request, the annotations alone still hand the pod a device."""
    app = copy.deepcopy(RED_TEAM)
    del app["spec"]["driver"]["template"]["spec"]["containers"][0]["resources"]
    workload, action = decide(app)
    assert action is Action.DENY
    assert {a.resource for a in workload.accelerators} == {DEVICE_ACCESS, "nvidia.com/gpu"}
    del app["spec"]["driver"]["template"]["metadata"]["annotations"]["cdi.k8s.io/x"]
    assert [a.resource for a in extract_workload(app).accelerators] == [DEVICE_ACCESS]


def test_the_executor_template_and_the_drivers_annotations_reach_the_template_pod() -> None:
    app = copy.deepcopy(RED_TEAM)
    app["spec"]["executor"]["template"] = app["spec"]["driver"].pop("template")
    workload, action = decide(app)
    assert action is Action.DENY
    assert all(a.source.startswith("spec.executor.template") for a in workload.accelerators)
    # The executor's own annotations are put on the same pod as the template's.
    app = copy.deepcopy(RED_TEAM)
    app["spec"]["driver"]["template"] = {"spec": {"containers": [{"name": "c"}]}}
    app["spec"]["driver"]["annotations"] = {"gpu-fraction": "0.5"}
    sources = {a.source for a in extract_workload(app).accelerators}
    assert sources == {"spec.driver.annotations.gpu-fraction"}


@pytest.mark.parametrize(
    "template",
    [
        # An ordinary template: tolerations, a volume, a log sidecar.
        {
            "metadata": {"labels": {"team": "data"}},
            "spec": {
                "tolerations": [{"key": "spark", "operator": "Exists"}],
                "volumes": [{"name": "scratch", "emptyDir": {}}],
                "containers": [
                    {"name": "spark-kubernetes-driver"},
                    {"name": "logs", "image": "fluent-bit:3", "resources": {"limits": {"cpu": 1}}},
                ],
            },
        },
        # A T4 GPU the restricted tenant may use, pinned by the template's own nodeSelector.
        {
            "spec": {
                "containers": [{"name": "d", "resources": {"limits": {"nvidia.com/gpu": 1}}}],
                "nodeSelector": {"nvidia.com/gpu.product": T4_GFD},
            }
        },
    ],
    ids=["plain", "t4"],
)
def test_ordinary_templates_stay_admitted(template: dict[str, Any]) -> None:
    app = copy.deepcopy(RED_TEAM)
    app["spec"]["driver"]["template"] = template
    assert decide(app)[1] is Action.ALLOW
    assert decide(_scheduled(app))[1] is Action.ALLOW
