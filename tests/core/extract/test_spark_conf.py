"""A SparkApplication's ``spec.sparkConf``: the properties Spark turns into annotations, node
selectors and resources of the driver and executor pods (exportgate/data/adapters/
spark-operator.yaml, ``properties``; exportgate/core/extract/properties.py).

Session 14: none of them were read. ``spark.kubernetes.executor.annotation.cdi.k8s.io/x``
(a CDI request on every executor), ``spark.executor.resource.gpu.amount`` with ``.vendor:
nvidia.com`` (an nvidia.com/gpu per executor) and ``spark.kubernetes.driver.node.selector.
nvidia.com/gpu.product`` (which Spark puts over the application's T4 nodeSelector) were all
admitted for a restricted tenant. The base manifest is the operator's example
examples/spark-pi-prometheus-servlet.yaml, whose own sparkConf (driver annotations for
Prometheus) must still pass.
"""

from __future__ import annotations

# ruff: noqa: E501  (the example manifest is copied as written)
import copy
from typing import Any

import pytest
import yaml

from exportgate.core.errors import InputError
from exportgate.core.extract import extract_workload
from exportgate.core.extract.access import DEVICE_ACCESS
from exportgate.core.types import Action
from tests.core.builders import NOW
from tests.core.extract.fail_closed import ENGINE, RESTRICTED, T4_GFD, decide

H100 = "NVIDIA-H100-80GB-HBM3"

# examples/spark-pi-prometheus-servlet.yaml (kubeflow/spark-operator), as written but for the
# namespace.
EXAMPLE: dict[str, Any] = yaml.safe_load("""\
apiVersion: sparkoperator.k8s.io/v1beta2
kind: SparkApplication
metadata:
  name: spark-pi-python
  namespace: team
spec:
  type: Python
  pythonVersion: "3"
  mode: cluster
  image: docker.io/apache/spark:4.0.4
  imagePullPolicy: IfNotPresent
  mainApplicationFile: local:///opt/spark/examples/src/main/python/pi.py
  sparkVersion: 4.0.4
  sparkConf:
    # Expose Spark metrics for Prometheus
    "spark.kubernetes.driver.annotation.prometheus.io/scrape": "true"
    "spark.kubernetes.driver.annotation.prometheus.io/path": "/metrics/executors/prometheus/"
    "spark.kubernetes.driver.annotation.prometheus.io/port": "4040"
    "spark.kubernetes.driver.service.annotation.prometheus.io/scrape": "true"
    "spark.kubernetes.driver.service.annotation.prometheus.io/path": "/metrics/driver/prometheus/"
    "spark.kubernetes.driver.service.annotation.prometheus.io/port": "4040"
    "spark.ui.prometheus.enabled": "true"
    "spark.executor.processTreeMetrics.enabled": "true"
    "spark.metrics.conf.*.sink.prometheusServlet.class": "org.apache.spark.metrics.sink.PrometheusServlet"
    "spark.metrics.conf.driver.sink.prometheusServlet.path": "/metrics/driver/prometheus/"
    "spark.metrics.conf.executor.sink.prometheusServlet.path": "/metrics/executors/prometheus/"
  driver:
    cores: 1
    memory: 512m
    serviceAccount: spark-operator-spark
  executor:
    instances: 1
    cores: 1
    memory: 512m
""")


def with_conf(conf: dict[str, Any], app: dict[str, Any] = EXAMPLE) -> dict[str, Any]:
    changed = copy.deepcopy(app)
    changed["spec"]["sparkConf"].update(conf)
    return changed


def scheduled(app: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "sparkoperator.k8s.io/v1beta2",
        "kind": "ScheduledSparkApplication",
        "metadata": {"name": "nightly", "namespace": "team"},
        "spec": {"schedule": "@daily", "template": copy.deepcopy(app["spec"])},
    }


def found(obj: dict[str, Any]) -> set[tuple[str, str]]:
    return {(a.resource, a.source) for a in extract_workload(obj).accelerators}


def test_the_example_and_its_annotations_ask_for_nothing() -> None:
    assert extract_workload(EXAMPLE).accelerators == ()
    assert decide(EXAMPLE)[1] is Action.ALLOW
    assert decide(scheduled(EXAMPLE))[1] is Action.ALLOW


CDI = "spark.kubernetes.executor.annotation.cdi.k8s.io/x"


@pytest.mark.parametrize("wrap", [lambda app: app, scheduled], ids=["app", "scheduled"])
def test_an_executor_annotation_in_sparkconf_is_the_executor_pods(wrap: Any) -> None:
    app = wrap(with_conf({CDI: "nvidia.com/gpu=all"}))
    base = "spec.template" if app["kind"] == "ScheduledSparkApplication" else "spec"
    assert found(app) == {
        (
            "nvidia.com/gpu",
            f'{base}.sparkConf["spark.kubernetes.executor.annotation."]["cdi.k8s.io/x"]',
        )
    }
    assert decide(app)[1] is Action.DENY
    # Judged as that device: an executor pinned to a T4 through sparkConf gets a T4.
    pinned = wrap(
        with_conf(
            {
                CDI: "nvidia.com/gpu=all",
                "spark.kubernetes.executor.node.selector.nvidia.com/gpu.product": T4_GFD,
            }
        )
    )
    assert decide(pinned)[1] is Action.ALLOW


def test_a_gpu_share_annotation_names_the_property() -> None:
    app = with_conf({"spark.kubernetes.driver.annotation.gpu-fraction": "0.5"})
    assert found(app) == {
        (DEVICE_ACCESS, 'spec.sparkConf["spark.kubernetes.driver.annotation."].gpu-fraction')
    }
    workload, action = decide(app)
    decision = ENGINE.evaluate(workload, RESTRICTED, NOW)
    assert action is Action.DENY
    # The denial says it is a pod annotation, and which property set it.
    assert decision.message.startswith(
        'A device handed to the pod by its annotation spec.sparkConf["spark.kubernetes.driver.'
        'annotation."].gpu-fraction'
    )


def test_gpus_requested_through_spark_resource_properties() -> None:
    app = with_conf(
        {
            "spark.executor.resource.gpu.amount": "2",
            "spark.executor.resource.gpu.vendor": "nvidia.com",
            "spark.executor.resource.gpu.discoveryScript": "/opt/spark/getGpusResources.sh",
            "spark.task.resource.gpu.amount": "0.5",
        }
    )
    requests = extract_workload(app).accelerators
    assert [(a.resource, a.count, a.source) for a in requests] == [
        ("nvidia.com/gpu", 2, 'spec.sparkConf["spark.executor.resource.gpu.amount"]')
    ]
    assert decide(app)[1] is Action.DENY
    # Placed like the executor pod: its nodeSelector narrows it.
    pinned = copy.deepcopy(app)
    pinned["spec"]["executor"]["nodeSelector"] = {"nvidia.com/gpu.product": T4_GFD}
    assert decide(pinned)[1] is Action.ALLOW
    # An amount without a vendor is device access (a vendor may be set where it is not seen).
    bare = with_conf({"spark.driver.resource.gpu.amount": "1"})
    assert found(bare) == {(DEVICE_ACCESS, 'spec.sparkConf["spark.driver.resource.gpu.amount"]')}
    assert decide(bare)[1] is Action.DENY
    # Zero asks for nothing.
    assert extract_workload(with_conf({"spark.driver.resource.gpu.amount": "0"})).accelerators == ()


def test_a_sparkconf_node_selector_that_contradicts_the_spec_pins_nothing() -> None:
    # spec.driver.gpu pinned to a T4 by spec.nodeSelector; Spark puts the driver node selector
    # over it (spark.kubernetes.driver.node.selector.<label> wins over
    # spark.kubernetes.node.selector.<label>, which the operator writes from spec.nodeSelector).
    app = copy.deepcopy(EXAMPLE)
    app["spec"]["nodeSelector"] = {"nvidia.com/gpu.product": T4_GFD}
    app["spec"]["driver"]["gpu"] = {"name": "nvidia.com/gpu", "quantity": 1}
    assert decide(app)[1] is Action.ALLOW
    for key in (
        "spark.kubernetes.driver.node.selector.nvidia.com/gpu.product",
        "spark.kubernetes.node.selector.nvidia.com/gpu.product",
    ):
        assert decide(with_conf({key: H100}, app))[1] is Action.DENY, key
    # The same through the driver's annotations (read with the driver pod's placement).
    annotated = copy.deepcopy(EXAMPLE)
    annotated["spec"]["driver"]["nodeSelector"] = {"nvidia.com/gpu.product": T4_GFD}
    annotated["spec"]["driver"]["annotations"] = {"gpu-fraction": "0.5"}
    assert decide(annotated)[1] is Action.ALLOW
    key = "spark.kubernetes.driver.node.selector.nvidia.com/gpu.product"
    assert decide(with_conf({key: H100}, annotated))[1] is Action.DENY
    # An executor's selector does not place the driver; an agreeing one changes nothing.
    executor_key = "spark.kubernetes.executor.node.selector.nvidia.com/gpu.product"
    assert decide(with_conf({executor_key: H100}, annotated))[1] is Action.ALLOW
    assert decide(with_conf({key: T4_GFD}, annotated))[1] is Action.ALLOW


def test_a_pod_template_file_in_sparkconf_is_unreadable() -> None:
    app = with_conf({"spark.kubernetes.executor.podTemplateFile": "s3a://bucket/gpu-pod.yaml"})
    assert found(app) == {
        (DEVICE_ACCESS, 'spec.sparkConf["spark.kubernetes.executor.podTemplateFile"]')
    }
    assert decide(app)[1] is Action.DENY
    assert (
        extract_workload(
            with_conf({"spark.kubernetes.driver.podTemplateContainerName": "spark"})
        ).accelerators
        == ()
    )


def test_ordinary_cpu_properties_pass() -> None:
    app = with_conf(
        {
            "spark.kubernetes.executor.annotation.yunikorn.apache.org/app-id": "{{APP_ID}}",
            "spark.kubernetes.driver.label.queue": "root.default",
            "spark.kubernetes.node.selector.topology.kubernetes.io/zone": "us-east-1a",
            "spark.kubernetes.executor.limit.cores": "2",
            "spark.executor.resource.gpu.vendor": "nvidia.com",
            "spark.dynamicAllocation.enabled": "true",
        }
    )
    assert extract_workload(app).accelerators == ()
    assert decide(app)[1] is Action.ALLOW


def test_what_cannot_be_read_is_named() -> None:
    app = copy.deepcopy(EXAMPLE)
    app["spec"]["sparkConf"] = ["spark.executor.resource.gpu.amount=1"]
    with pytest.raises(InputError, match="expected an object") as raised:
        extract_workload(app)
    assert raised.value.field == "spec.sparkConf"
    with pytest.raises(InputError) as raised:
        extract_workload(with_conf({"spark.executor.resource.gpu.amount": "lots"}))
    assert raised.value.field == 'spec.sparkConf["spark.executor.resource.gpu.amount"]'
    # A node selector is read where a device is placed by it.
    selector: dict[str, Any] = {CDI: "nvidia.com/gpu=all", "spark.kubernetes.node.selector.a": 1}
    with pytest.raises(InputError):
        extract_workload(with_conf(selector))
