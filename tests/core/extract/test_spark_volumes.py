"""Spark Operator: device access through volumes (spark-operator.yaml ``volumes`` and
``properties.hostPathVolumes``; access.py `volume_access`).

Finding (session 14): a SparkApplication's ``spec.volumes`` entry with a ``hostPath`` under
``/dev``, mounted by the executor's ``volumeMounts``, and the same volume set in ``sparkConf``
as ``spark.kubernetes.executor.volumes.hostPath.<name>.options.path``, were not read (listed in
docs/policies.md Limits), while a Pod's ``/dev`` hostPath is device access. The operator's pod
webhook gives each pod the volumes its role's ``volumeMounts`` name
(sparkpod_defaulter.go addVolumes), and Spark mounts the sparkConf volumes itself.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
import yaml

from exportgate.core.extract import extract_workload
from exportgate.core.extract.access import DEVICE_ACCESS
from exportgate.core.types import Action
from tests.core.extract.fail_closed import T4_GFD, decide

# kubeflow/spark-operator examples/spark-pi.yaml (security contexts left out), with the host's
# /dev as a volume the executor mounts.
SPARK_PI_DEV = """\
apiVersion: sparkoperator.k8s.io/v1beta2
kind: SparkApplication
metadata:
  name: spark-pi
  namespace: default
spec:
  type: Scala
  mode: cluster
  image: docker.io/apache/spark:4.0.4
  imagePullPolicy: IfNotPresent
  mainClass: org.apache.spark.examples.SparkPi
  mainApplicationFile: local:///opt/spark/examples/jars/spark-examples.jar
  arguments:
  - "5000"
  sparkVersion: 4.0.4
  volumes:
  - name: dev
    hostPath:
      path: /dev
  - name: scratch
    emptyDir: {}
  driver:
    labels:
      version: 4.0.0
    cores: 1
    memory: 512m
    serviceAccount: spark-operator-spark
    volumeMounts:
    - {name: scratch, mountPath: /scratch}
  executor:
    labels:
      version: 4.0.0
    instances: 1
    cores: 1
    memory: 512m
    volumeMounts:
    - {name: dev, mountPath: /dev}
"""


def _app() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(SPARK_PI_DEV)
    return loaded


def _scheduled(app: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "sparkoperator.k8s.io/v1beta2",
        "kind": "ScheduledSparkApplication",
        "metadata": {"name": "s", "namespace": "default"},
        "spec": {"schedule": "@every 5m", "template": copy.deepcopy(app["spec"])},
    }


def _found(obj: dict[str, Any]) -> set[tuple[str, str]]:
    return {(a.resource, a.source) for a in extract_workload(obj).accelerators}


@pytest.mark.parametrize("wrap", [lambda a: a, _scheduled], ids=["application", "scheduled"])
def test_a_dev_host_path_volume_the_executor_mounts_is_device_access(wrap: Any) -> None:
    obj = wrap(_app())
    root = "spec" if obj["kind"] == "SparkApplication" else "spec.template"
    assert _found(obj) == {(DEVICE_ACCESS, f"{root}.volumes[0].hostPath.path")}
    assert decide(obj)[1] is Action.DENY
    # Narrowed by the executor's placement, as any device access: a T4 executor is a T4.
    spec = obj["spec"] if root == "spec" else obj["spec"]["template"]
    spec["executor"]["nodeSelector"] = {"nvidia.com/gpu.product": T4_GFD}
    assert decide(obj)[1] is Action.ALLOW


def test_a_volume_no_pod_mounts_reaches_nothing() -> None:
    # The webhook adds only the volumes a role's volumeMounts name; the driver mounts scratch.
    obj = _app()
    del obj["spec"]["executor"]["volumeMounts"]
    assert _found(obj) == set()
    assert decide(obj)[1] is Action.ALLOW


def test_a_dev_volume_mounted_by_the_driver_is_the_drivers() -> None:
    obj = _app()
    obj["spec"]["driver"]["volumeMounts"].append({"name": "dev", "mountPath": "/dev"})
    obj["spec"]["executor"]["nodeSelector"] = {"nvidia.com/gpu.product": T4_GFD}
    # The executor is a T4, the driver is unpinned: denied for the driver's device access.
    assert decide(obj)[1] is Action.DENY


def test_an_ordinary_host_path_volume_is_no_device_access() -> None:
    obj = _app()
    obj["spec"]["volumes"][0]["hostPath"]["path"] = "/var/log/spark"
    assert _found(obj) == set()


@pytest.mark.parametrize("role", ["driver", "executor"])
def test_a_dev_host_path_volume_in_sparkconf_is_device_access(role: str) -> None:
    obj = _app()
    del obj["spec"]["volumes"]
    del obj["spec"]["executor"]["volumeMounts"]
    del obj["spec"]["driver"]["volumeMounts"]
    prefix = f"spark.kubernetes.{role}.volumes.hostPath.dev"
    obj["spec"]["sparkConf"] = {f"{prefix}.mount.path": "/dev", f"{prefix}.options.path": "/dev"}
    assert _found(obj) == {(DEVICE_ACCESS, f'spec.sparkConf["{prefix}.options.path"]')}
    assert decide(obj)[1] is Action.DENY
    obj["spec"]["sparkConf"][f"{prefix}.options.path"] = "/mnt/data"
    assert _found(obj) == set()
