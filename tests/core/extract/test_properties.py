"""Property maps a controller turns into pod settings (exportgate/core/extract/properties.py):
the prefixed views and Spark's resource properties, read alone."""

from __future__ import annotations

from typing import Any

import pytest

from exportgate.core.errors import InputError
from exportgate.core.extract import AdapterRegistry, parse_adapter_text
from exportgate.core.extract.access import DEVICE_ACCESS
from exportgate.core.extract.paths import compile_path
from exportgate.core.extract.properties import PrefixedMap, PropertyRule, property_entries

VOCABULARY = AdapterRegistry.builtin().vocabulary

CONF = {
    "spark.kubernetes.node.selector.zone": "a",
    "spark.kubernetes.node.selector.": "the prefix alone names no label",
    "spark.kubernetes.driver.node.selector.nvidia.com/gpu.product": "Tesla-T4",
    "spark.kubernetes.driver.annotation.gpu-fraction": "0.5",
    "spark.driver.resource.gpu.amount": "1",
    "spark.driver.resource.gpu.vendor": "nvidia.com",
    "spark.driver.resource.fpga.amount": 2,
    "spark.driver.resource.fpga.vendor": "xilinx.com",
    "spark.driver.resource.gpu.discoveryScript": "/x.sh",
    "spark.kubernetes.driver.podTemplateFile": "/opt/templates/driver.yaml",
    "spark.kubernetes.executor.podTemplateFile": " ",
}
OBJ: dict[str, Any] = {"spec": {"sparkConf": CONF}}


def test_a_prefixed_map_is_the_keys_under_the_prefix() -> None:
    view = PrefixedMap(compile_path("sparkConf"), "spark.kubernetes.node.selector.")
    assert view.resolve(OBJ["spec"], "spec") == [
        ('spec.sparkConf["spark.kubernetes.node.selector."]', {"zone": "a"})
    ]
    assert PrefixedMap(compile_path("sparkConf"), "nothing.").resolve(OBJ["spec"]) == []
    assert PrefixedMap(compile_path("absent"), "x.").resolve(OBJ["spec"]) == []
    with pytest.raises(InputError, match="expected an object"):
        PrefixedMap(compile_path("a"), "x.").resolve({"a": "x.y=z"})


def test_a_property_rule_reads_annotations_selectors_and_resources() -> None:
    rule = PropertyRule(
        compile_path("spec.sparkConf"),
        annotations=("spark.kubernetes.driver.annotation.",),
        node_selectors=(
            "spark.kubernetes.node.selector.",
            "spark.kubernetes.driver.node.selector.",
        ),
        resources=("spark.driver.resource.",),
        unreadable=(
            "spark.kubernetes.driver.podTemplateFile",
            "spark.kubernetes.executor.podTemplateFile",
        ),
    )
    found = rule.read(OBJ, VOCABULARY)
    base = "spec.sparkConf"
    assert found.annotations == (
        (f'{base}["spark.kubernetes.driver.annotation."]', {"gpu-fraction": "0.5"}),
    )
    assert found.selectors == (
        (f'{base}["spark.kubernetes.node.selector."]', {"zone": "a"}),
        (
            f'{base}["spark.kubernetes.driver.node.selector."]',
            {"nvidia.com/gpu.product": "Tesla-T4"},
        ),
    )
    assert set(found.requests) == {
        (f'{base}["spark.driver.resource.gpu.amount"]', "nvidia.com/gpu", 1),
        (f'{base}["spark.driver.resource.fpga.amount"]', "xilinx.com/fpga", 2),
        (f'{base}["spark.kubernetes.driver.podTemplateFile"]', DEVICE_ACCESS, 1),
    }


def test_a_resource_the_vocabulary_calls_no_accelerator_asks_for_nothing() -> None:
    rule = PropertyRule(compile_path("c"), resources=("spark.executor.resource.",))
    # An SGX enclave page cache (ignoredResources), as Spark would name it: no accelerator.
    conf = {
        "spark.executor.resource.epc.amount": "1",
        "spark.executor.resource.epc.vendor": "sgx.intel.com",
    }
    assert not VOCABULARY.requested_accelerator("sgx.intel.com/epc")
    assert rule.read({"c": conf}, VOCABULARY).requests == ()
    assert rule.read({"c": {}}, VOCABULARY).requests == ()


def test_many_properties_are_read_in_one_pass_each() -> None:
    # No key is looked at more than once per prefix: a large map is read in linear time.
    conf = {f"spark.kubernetes.executor.label.k{i}": "v" for i in range(50_000)}
    conf["spark.kubernetes.executor.annotation.gpu-memory"] = "4000"
    rule = PropertyRule(compile_path("c"), annotations=("spark.kubernetes.executor.annotation.",))
    assert rule.read({"c": conf}, VOCABULARY).annotations == (
        ('c["spark.kubernetes.executor.annotation."]', {"gpu-memory": "4000"}),
    )


SITE = """\
apiVersion: exportgate.dev/v1alpha1
kind: AdapterSet
metadata: {name: site}
adapters:
  - group: batch.example.com
    kinds: [ConfJob]
    podSpecs:
      - path: spec.worker
        properties: {from: spec.conf, annotations: [worker.annotation.], PROPS}
    accelerators:
      - {each: spec, resource: example.com/npu, nodeSelectors: [{from: conf, SELECTOR}]}
"""


def _site(props: str = "resources: [worker.resource.]", selector: str = "keyPrefix: x.") -> str:
    return SITE.replace("PROPS", props).replace("SELECTOR", selector)


def test_an_adapter_file_names_properties_and_prefixed_selectors() -> None:
    registry = AdapterRegistry.builtin().extended([parse_adapter_text(_site(), "site.yaml")])
    job = {
        "apiVersion": "batch.example.com/v1",
        "kind": "ConfJob",
        "metadata": {"name": "j", "namespace": "t"},
        "spec": {
            "worker": {"containers": [{"name": "w", "image": "busybox"}]},
            "conf": {
                "worker.annotation.cdi.k8s.io/x": "nvidia.com/gpu=all",
                "worker.resource.gpu.amount": "1",
                "worker.resource.gpu.vendor": "amd.com",
                "x.nvidia.com/gpu.product": "Tesla-T4",
            },
        },
    }
    found = {(a.resource, a.source) for a in registry.extract(job).accelerators}
    assert found == {
        ("nvidia.com/gpu", 'spec.conf["worker.annotation."]["cdi.k8s.io/x"]'),
        ("amd.com/gpu", 'spec.conf["worker.resource.gpu.amount"]'),
        ("example.com/npu", "spec"),
    }
    npu = next(a for a in registry.extract(job).accelerators if a.resource == "example.com/npu")
    assert [(h.key, h.values) for h in npu.hints] == [("nvidia.com/gpu.product", ("Tesla-T4",))]


@pytest.mark.parametrize(
    ("props", "selector", "field"),
    [
        ("labels: [x.]", "keyPrefix: x.", "adapters[0].podSpecs[0]"),
        ("resources: worker.resource.", "keyPrefix: x.", None),
        ("resources: []", "prefix: x.", None),
    ],
)
def test_a_misspelt_property_rule_is_an_error(props: str, selector: str, field: str | None) -> None:
    with pytest.raises(InputError) as caught:
        parse_adapter_text(_site(props, selector), "site.yaml")
    if field is not None:
        assert caught.value.field == field


def test_keys_are_cut_at_their_first_equals_sign() -> None:
    # Spark splits `--conf <key>=<value>` at the first "=" (session 14, second red team:
    # "spark.kubernetes.executor.podTemplateFile=https://evil.example/t.yaml?x": "y").
    key = "spark.kubernetes.executor.podTemplateFile=https://evil.example/t.yaml?x"
    entries = property_entries({key: "y", "a": "b", 3: "not a string key"}, "c")
    assert entries == {
        "spark.kubernetes.executor.podTemplateFile": (
            f'c["{key}"]',
            "https://evil.example/t.yaml?x=y",
        ),
        "a": ("c.a", "b"),
    }
    # A value that is no string is written as the controller writes it, or refused.
    assert property_entries({"k=1": 2, "b=": True}, "c") == {
        "k": ('c["k=1"]', "1=2"),
        "b": ('c["b="]', "=true"),
    }
    with pytest.raises(InputError, match="expected a string"):
        property_entries({"k=1": ["x"]}, "c")
    # Two entries that come to one key: read when they agree, refused when they do not.
    assert property_entries({"k=a": "b", "k": "a=b"}, "c") == {"k": ('c["k=a"]', "a=b")}
    with pytest.raises(InputError, match="different values") as raised:
        property_entries({"k=a": "b", "k": "a"}, "c")
    assert raised.value.field == "c.k"
    rule = PropertyRule(
        compile_path("c"), unreadable=("spark.kubernetes.executor.podTemplateFile",)
    )
    assert rule.read({"c": {key: "y"}}, VOCABULARY).requests == ((f'c["{key}"]', DEVICE_ACCESS, 1),)
    view = PrefixedMap(compile_path("c"), "spark.kubernetes.node.selector.")
    assert view.resolve({"c": {"spark.kubernetes.node.selector.zone=a": ""}}) == [
        ('c["spark.kubernetes.node.selector."]', {"zone": "a="})
    ]


def test_environment_java_options_and_selectors_that_may_be_ignored() -> None:
    rule = PropertyRule(
        compile_path("spec.sparkConf"),
        node_selectors=("spark.kubernetes.node.selector.",),
        ignorable_selectors=(("spark.kubernetes.executor.node.selector.", "why"),),
        selector_maps=(compile_path("spec.nodeSelector"),),
        env=("spark.executorEnv.",),
        env_maps=(compile_path("spec.executor.envVars"),),
        java_options=("spark.driver.extraJavaOptions",),
        java_options_from=(compile_path("spec.driver.javaOptions"),),
    )
    obj = {
        "spec": {
            "nodeSelector": {"zone": "a"},
            "sparkConf": {
                "spark.kubernetes.executor.node.selector.nvidia.com/gpu.product": "Tesla-T4",
                "spark.executorEnv.NVIDIA_VISIBLE_DEVICES": "all",
                "spark.executorEnv.CUDA_VISIBLE_DEVICES": "0",
                "spark.executorEnv.AMD_VISIBLE_DEVICES": "void",
                "spark.driver.extraJavaOptions": "-XX:+UseG1GC -Dspark.x=1",
            },
            "executor": {"envVars": {"NVIDIA_VISIBLE_DEVICES": "0", "TZ": "UTC"}},
            "driver": {"javaOptions": "-Dlog4j.configurationFile=x"},
        }
    }
    found = rule.read(obj, VOCABULARY)
    base = "spec.sparkConf"
    assert found.selectors == (("spec.nodeSelector", {"zone": "a"}),)
    assert found.ignorable_selectors == (
        (
            f'{base}["spark.kubernetes.executor.node.selector."]',
            {"nvidia.com/gpu.product": "Tesla-T4"},
            "why",
        ),
    )
    assert found.requests == (
        (f'{base}["spark.executorEnv.NVIDIA_VISIBLE_DEVICES"]', DEVICE_ACCESS, 1),
        (f'{base}["spark.driver.extraJavaOptions"]', DEVICE_ACCESS, 1),
        ("spec.executor.envVars.NVIDIA_VISIBLE_DEVICES", DEVICE_ACCESS, 1),
    )
