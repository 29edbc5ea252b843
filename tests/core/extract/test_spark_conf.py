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
                "spark.kubernetes.node.selector.nvidia.com/gpu.product": T4_GFD,
            }
        )
    )
    assert decide(pinned)[1] is Action.ALLOW
    # The executor's own selector property agrees, and pins nothing alone (Spark < 3.3.0
    # ignores it: test_role_node_selectors_pin_nothing_alone).
    executor = "spark.kubernetes.executor.node.selector.nvidia.com/gpu.product"
    general = "spark.kubernetes.node.selector.nvidia.com/gpu.product"
    both = wrap(with_conf({CDI: "nvidia.com/gpu=all", general: T4_GFD, executor: T4_GFD}))
    assert decide(both)[1] is Action.ALLOW
    alone = wrap(with_conf({CDI: "nvidia.com/gpu=all", executor: T4_GFD}))
    assert decide(alone)[1] is Action.DENY


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


# Session 14, second red team: its SparkApplications, built by `_red_team_app` from what they
# share (SparkPi, one executor) and what each sets.


def _load(text: str) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(text)
    return loaded


def _messages(obj: dict[str, Any]) -> str:
    workload = extract_workload(obj)
    decision = ENGINE.evaluate(workload, RESTRICTED, NOW)
    return " ".join(v.message + " " + v.remedy for v in decision.violations)


def _red_team_app(
    spark_conf: dict[str, str], executor: dict[str, Any] | None = None, spark: str = "3.5.0"
) -> dict[str, Any]:
    """The red team's SparkApplication (session 14, /tmp/rt14): Spark's SparkPi with its own
    sparkConf and executor fields, the Spark version in the image and sparkVersion."""
    return {
        "apiVersion": "sparkoperator.k8s.io/v1beta2",
        "kind": "SparkApplication",
        "metadata": {"name": "s1", "namespace": "team-n"},
        "spec": {
            "type": "Scala",
            "mode": "cluster",
            "image": f"apache/spark:{spark}" if spark != "3.5.0" else "spark:3.5.0",
            "mainClass": "org.apache.spark.examples.SparkPi",
            "mainApplicationFile": "local:///opt/spark/examples/jars/spark-examples.jar",
            "sparkVersion": spark,
            "sparkConf": dict(spark_conf),
            "driver": {"cores": 1, "memory": "512m", "serviceAccount": "spark"},
            "executor": {"cores": 1, "instances": 1, "memory": "512m", **(executor or {})},
        },
    }


SPARK_TPL_EQ = _red_team_app(
    {"spark.kubernetes.executor.podTemplateFile=https://evil.example/t.yaml?x": "y"}
)

SCHED_TPL_EQ = """\
apiVersion: sparkoperator.k8s.io/v1beta2
kind: ScheduledSparkApplication
metadata: {name: ss, namespace: team-n}
spec:
  schedule: "@every 1h"
  template:
    type: Scala
    mode: cluster
    image: spark:3.5.0
    mainApplicationFile: local:///opt/spark/examples/jars/spark-examples.jar
    sparkVersion: 3.5.0
    sparkConf:
      "spark.kubernetes.executor.podTemplateFile=https://evil.example/h100-template.yaml?v": "1"
      "spark.kubernetes.driver.podTemplateFile=https://evil.example/h100-driver.yaml?v": "1"
    driver: {cores: 1}
    executor: {cores: 1, instances: 2}
"""


def test_a_key_is_cut_at_its_first_equals_sign_as_spark_does() -> None:
    # H1: the operator passes `--conf <key>=<value>` and Spark splits at the first "=", so this
    # entry sets spark.kubernetes.executor.podTemplateFile to https://evil.example/t.yaml?x=y.
    app = copy.deepcopy(SPARK_TPL_EQ)
    key = "spark.kubernetes.executor.podTemplateFile=https://evil.example/t.yaml?x"
    assert found(app) == {(DEVICE_ACCESS, f'spec.sparkConf["{key}"]')}
    assert decide(app)[1] is Action.DENY
    scheduled_app = _load(SCHED_TPL_EQ)
    assert {resource for resource, _ in found(scheduled_app)} == {DEVICE_ACCESS}
    assert decide(scheduled_app)[1] is Action.DENY
    # The same cut for prefixes: an annotation, a resource amount, a node selector.
    cut = with_conf({"spark.kubernetes.executor.annotation.cdi.k8s.io/x=nvidia.com/gpu": "all"})
    assert {resource for resource, _ in found(cut)} == {"nvidia.com/gpu"}
    amount = with_conf(
        {
            "spark.executor.resource.gpu.amount=8": "",
            "spark.executor.resource.gpu.vendor": "nvidia.com",
        }
    )
    with pytest.raises(InputError):  # Spark reads the amount "8=": not a number
        extract_workload(amount)
    general = "spark.kubernetes.node.selector.nvidia.com/gpu.product"
    pinned = with_conf({CDI: "nvidia.com/gpu=all", general: T4_GFD})
    assert decide(pinned)[1] is Action.ALLOW
    h100 = with_conf({f"{general}=NVIDIA-H100-80GB": "HBM3"}, pinned)  # ...=NVIDIA-H100-80GB-HBM3
    with pytest.raises(InputError, match="different values"):
        extract_workload(h100)


def test_two_entries_that_set_one_property_are_read_only_when_they_agree() -> None:
    # Which --conf comes last is Go's map order: random. Equal values are one setting.
    template = "spark.kubernetes.executor.podTemplateFile"
    same = with_conf({f"{template}=s3a://b/t.yaml?a": "b", template: "s3a://b/t.yaml?a=b"})
    assert {resource for resource, _ in found(same)} == {DEVICE_ACCESS}
    differ = with_conf({f"{template}=s3a://b/t.yaml?a": "b", template: "s3a://b/u.yaml"})
    with pytest.raises(InputError, match="different values") as raised:
        extract_workload(differ)
    assert raised.value.field is not None and template in raised.value.field
    # Ordinary keys never meet: the example's metrics keys hold no "=".
    assert extract_workload(EXAMPLE).accelerators == ()


EXECUTOR_SELECTOR = "spark.kubernetes.executor.node.selector.nvidia.com/gpu.product"
SPARK_SEL32 = _red_team_app(
    {
        "spark.executor.resource.gpu.amount": "8",
        "spark.executor.resource.gpu.vendor": "nvidia.com",
        EXECUTOR_SELECTOR: "Tesla-T4",
        "spark.kubernetes.driver.node.selector.nvidia.com/gpu.product": "Tesla-T4",
    },
    spark="3.2.4",
)
SPARK_SEL_GPU = _red_team_app(
    {EXECUTOR_SELECTOR: "Tesla-T4"},
    {"gpu": {"name": "nvidia.com/gpu", "quantity": 8}},
    spark="3.2.4",
)


@pytest.mark.parametrize("text", [SPARK_SEL32, SPARK_SEL_GPU], ids=["properties", "gpu"])
def test_role_node_selectors_pin_nothing_alone(text: dict[str, Any]) -> None:
    # H2: Spark applies spark.kubernetes.{driver,executor}.node.selector.* only since 3.3.0
    # (SPARK-36075); the application's image (3.2.4 here) chooses the version, so the executor
    # may land on any node.
    app = copy.deepcopy(text)
    assert decide(app)[1] is Action.DENY
    message = _messages(app)
    assert "only since 3.3.0" in message
    assert "spark.kubernetes.node.selector.<label>" in message
    assert "the executor's nodeSelector" in message
    # A pin every version applies keeps the genuine T4 application admitted, with the role's
    # selector agreeing or absent; a role selector that disagrees wins on Spark >= 3.3.
    for where in ("spec", "executor"):
        pinned = copy.deepcopy(app)
        holder = pinned["spec"] if where == "spec" else pinned["spec"]["executor"]
        holder["nodeSelector"] = {"nvidia.com/gpu.product": T4_GFD}
        if where == "spec":
            pinned["spec"]["driver"]["nodeSelector"] = {"nvidia.com/gpu.product": T4_GFD}
        assert decide(pinned)[1] is Action.ALLOW, where
        key = "spark.kubernetes.executor.node.selector.nvidia.com/gpu.product"
        assert decide(with_conf({key: H100}, pinned))[1] is Action.DENY, where
    general = with_conf({"spark.kubernetes.node.selector.nvidia.com/gpu.product": T4_GFD}, app)
    assert decide(general)[1] is Action.ALLOW
    assert decide(scheduled(general))[1] is Action.ALLOW
    assert decide(scheduled(app))[1] is Action.DENY


def _executor(**fields: Any) -> dict[str, Any]:
    app = copy.deepcopy(EXAMPLE)
    app["spec"]["executor"].update(fields)
    return app


H100_SELECTOR = {"nvidia.com/gpu.product": "NVIDIA-H100-80GB-HBM3"}
SPARK_ENV = _red_team_app(
    {}, {"nodeSelector": H100_SELECTOR, "env": [{"name": "NVIDIA_VISIBLE_DEVICES", "value": "all"}]}
)
SPARK_PRIV = _red_team_app(
    {}, {"nodeSelector": H100_SELECTOR, "securityContext": {"privileged": True}}
)
SPARK_EXECENV = _red_team_app(
    {
        "spark.executorEnv.NVIDIA_VISIBLE_DEVICES": "all",
        EXECUTOR_SELECTOR: "NVIDIA-H100-80GB-HBM3",
    }
)
SPARK_DJO = _red_team_app(
    {
        "spark.driver.extraJavaOptions": "-Dspark.executor.resource.gpu.amount=8 "
        "-Dspark.executor.resource.gpu.vendor=nvidia.com"
    }
)


@pytest.mark.parametrize(
    ("text", "field"),
    [
        (SPARK_ENV, "spec.executor.env[0]"),
        (SPARK_PRIV, "spec.executor.securityContext.privileged"),
        (SPARK_EXECENV, 'spec.sparkConf["spark.executorEnv.NVIDIA_VISIBLE_DEVICES"]'),
        (SPARK_DJO, 'spec.sparkConf["spark.driver.extraJavaOptions"]'),
    ],
    ids=["env", "privileged", "executorEnv", "driver-java-options"],
)
def test_device_access_of_the_driver_and_executor_is_read(text: dict[str, Any], field: str) -> None:
    # H4: an executor's env and securityContext are its container's; spark.executorEnv.<NAME>
    # is a variable of each executor; -Dspark... in the driver's JVM options becomes the
    # driver's SparkConf, which builds the executors (with 8 GPUs here).
    app = copy.deepcopy(text)
    assert (DEVICE_ACCESS, field) in found(app)
    assert decide(app)[1] is Action.DENY
    assert decide(scheduled(app))[1] is Action.DENY


def test_device_access_on_a_t4_executor_and_ordinary_settings_pass() -> None:
    t4 = {"nvidia.com/gpu.product": T4_GFD}
    for fields in (
        {"env": [{"name": "NVIDIA_VISIBLE_DEVICES", "value": "all"}]},
        {"securityContext": {"privileged": True}},
        {"envVars": {"NVIDIA_VISIBLE_DEVICES": "all"}},
    ):
        assert decide(_executor(nodeSelector=t4, **fields))[1] is Action.ALLOW, fields
        assert decide(_executor(**fields))[1] is Action.DENY, fields
    ordinary = _executor(
        env=[{"name": "NVIDIA_VISIBLE_DEVICES", "value": "void"}, {"name": "TZ", "value": "UTC"}],
        envVars={"SPARK_LOCAL_DIRS": "/tmp"},
        securityContext={"runAsNonRoot": True},
        javaOptions="-XX:+UseG1GC -Dspark.kubernetes.executor.node.selector.x=y",
    )
    ordinary["spec"]["driver"]["javaOptions"] = "-Dlog4j.configurationFile=/opt/log4j2.xml"
    ordinary["spec"]["sparkConf"]["spark.executorEnv.TZ"] = "UTC"
    ordinary["spec"]["sparkConf"]["spark.kubernetes.driverEnv.NVIDIA_VISIBLE_DEVICES"] = "none"
    assert extract_workload(ordinary).accelerators == ()
    assert decide(ordinary)[1] is Action.ALLOW


def test_driver_variables_and_java_options_fields_are_read() -> None:
    driver_env = with_conf({"spark.kubernetes.driverEnv.NVIDIA_VISIBLE_DEVICES": "all"})
    assert found(driver_env) == {
        (DEVICE_ACCESS, 'spec.sparkConf["spark.kubernetes.driverEnv.NVIDIA_VISIBLE_DEVICES"]')
    }
    for field, value in (
        ("envVars", {"NVIDIA_VISIBLE_DEVICES": "all"}),
        ("javaOptions", "-Dspark.executor.resource.gpu.amount=8"),
    ):
        app = copy.deepcopy(EXAMPLE)
        app["spec"]["driver"][field] = value
        where = f"spec.driver.{field}" + (".NVIDIA_VISIBLE_DEVICES" if field == "envVars" else "")
        assert found(app) == {(DEVICE_ACCESS, where)}
        assert decide(app)[1] is Action.DENY
    defaults = with_conf({"spark.driver.defaultJavaOptions": "-Dspark.kubernetes.x=1"})
    assert {resource for resource, _ in found(defaults)} == {DEVICE_ACCESS}
