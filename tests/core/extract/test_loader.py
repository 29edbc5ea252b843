"""Adapter files: a platform engineer adds a kind as data; mistakes name file, line and field."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from exportgate.core.engine import PolicyEngine
from exportgate.core.errors import InputError
from exportgate.core.extract import AdapterRegistry, load_adapter_file, parse_adapter_text
from exportgate.core.types import Action
from tests.core.builders import NOW, make_tenant

ADAPTER = """\
apiVersion: exportgate.dev/v1alpha1
kind: AdapterSet
metadata:
  name: acme-training
adapters:
  - group: training.example.com
    kinds: [GpuJob]
    podTemplates: ["spec.roles[*].template"]
    accelerators:
      - resource: nvidia.com/gpu
        countFrom: spec.gpus
        hints:
          - {key: nvidia.com/gpu.product, from: spec.gpuModel}
        requireHints: true
    models:
      - {path: spec.model, parse: uri}
"""

GPU_JOB: dict[str, Any] = {
    "apiVersion": "training.example.com/v1",
    "kind": "GpuJob",
    "metadata": {"name": "j", "namespace": "team"},
    "spec": {
        "gpus": "4",
        "gpuModel": "NVIDIA-H100-80GB-HBM3",
        "model": "hf://meta-llama/Llama-4-Scout-17B-16E",
        "roles": [
            {"template": {"spec": {"containers": [
                {"name": "c", "image": "x", "resources": {"limits": {"amd.com/gpu": 1}}}
            ]}}}
        ],
    },
}


def test_a_new_kind_is_added_as_data(tmp_path: Path) -> None:
    path = tmp_path / "acme.yaml"
    path.write_text(ADAPTER)
    # Without the adapter the generic fallback still reads the pod template (never "nothing"),
    # but only the adapter knows the node-pool-style request and the model field.
    generic = AdapterRegistry.builtin().extract(GPU_JOB)
    assert [(a.resource, a.count) for a in generic.accelerators] == [("amd.com/gpu", 1)]
    registry = AdapterRegistry.with_files([path])
    workload = registry.extract(GPU_JOB)
    found = {(a.resource, a.count, tuple(h.values for h in a.hints)) for a in workload.accelerators}
    assert found == {
        ("nvidia.com/gpu", 4, (("NVIDIA-H100-80GB-HBM3",),)),
        ("amd.com/gpu", 1, ()),
    }
    assert [m.reference for m in workload.models] == ["hf://meta-llama/Llama-4-Scout-17B-16E"]
    decision = PolicyEngine.build().evaluate(workload, make_tenant(incorporation="CN"), NOW)
    assert decision.action is Action.DENY


def test_a_later_file_replaces_the_builtin_adapter_for_a_kind() -> None:
    override = parse_adapter_text(
        ADAPTER.replace("training.example.com", "apps").replace("[GpuJob]", "[Deployment]"),
        "override.yaml",
    )
    registry = AdapterRegistry.builtin().extended([override])
    adapter = registry.adapter_for("apps/v1", "Deployment")
    assert adapter is not None and adapter.origin.startswith("override.yaml")
    # The other kinds of the built-in entry are untouched.
    statefulset = registry.adapter_for("apps/v1", "StatefulSet")
    assert statefulset is not None and "kubernetes-core" in statefulset.origin


def test_scope_is_namespaced_unless_an_adapter_says_cluster() -> None:
    registry = AdapterRegistry.builtin()
    assert registry.cluster_scoped("karpenter.sh/v1", "NodePool")
    assert registry.cluster_scoped("karpenter.sh/v1alpha5", "Provisioner")
    assert registry.cluster_scoped("serving.kserve.io/v1alpha1", "ClusterServingRuntime")
    assert not registry.cluster_scoped("serving.kserve.io/v1alpha1", "ServingRuntime")
    assert registry.cluster_scoped("trainer.kubeflow.org/v1alpha1", "ClusterTrainingRuntime")
    assert not registry.cluster_scoped("trainer.kubeflow.org/v1alpha1", "TrainingRuntime")
    for namespaced in [("v1", "Pod"), ("apps/v1", "Deployment"), ("v1", "ConfigMap"),
                       ("eks.services.k8s.aws/v1alpha1", "Nodegroup")]:
        assert not registry.cluster_scoped(*namespaced)
    plain = parse_adapter_text(ADAPTER, "acme.yaml")
    assert not plain.adapters[0].cluster_scoped
    cluster = parse_adapter_text(
        ADAPTER.replace("kinds: [GpuJob]", "kinds: [GpuJob]\n    scope: Cluster"), "acme.yaml"
    )
    assert cluster.adapters[0].cluster_scoped


BROKEN = [
    # (case, (old, new), line, field, words)
    ("bad-path", ('"spec.roles[*].template"', '"spec.roles[*.template"'), 8,
     "adapters[0].podTemplates[0]", "bad path"),
    ("unknown-parse", ("parse: uri", "parse: url"), 16, "adapters[0].models[0].parse",
     "'url' is not one of"),
    ("misspelt-key", ("kinds: [GpuJob]", "kind: [GpuJob]"), 7, "adapters[0].kind", "unknown field"),
    ("unknown-parser", ("resource: nvidia.com/gpu", "parser: nope"), 10,
     "adapters[0].accelerators[0].parser", "unknown parser 'nope'"),
    ("wrong-type", ("group: training.example.com", "group: 7"), 6, "adapters[0].group",
     "is not of type 'string'"),
    ("broken-yaml", ("adapters:\n", "adapters: [\n"), 6, None, "not valid YAML"),
    ("unknown-scope", ("kinds: [GpuJob]", "kinds: [GpuJob]\n    scope: Global"), 8,
     "adapters[0].scope", "'Global' is not one of ['Cluster', 'Namespaced']"),
    ("bad-matching", ("from: spec.gpuModel}", "from: spec.gpuModel, matching: '(H100'}"), 13,
     "adapters[0].accelerators[0].hints[0].matching", "bad regular expression"),
    ("kinds-and-pattern", ("kinds: [GpuJob]", "kinds: [GpuJob]\n    kindPattern: '.*Job'"), 6,
     "adapters[0]", "exactly one of kinds and kindPattern"),
    ("neither-kinds-nor-pattern", ("    kinds: [GpuJob]\n", ""), 6, "adapters[0]",
     "exactly one of kinds and kindPattern"),
    ("bad-kind-pattern", ("kinds: [GpuJob]", "kindPattern: '(Gpu'"), 7,
     "adapters[0].kindPattern", "bad regular expression"),
    ("when-in-and-not-in",
     ("requireHints: true", "when: [{field: spec.on, in: [a], notIn: [b]}]"), 14,
     "adapters[0].accelerators[0].when[0]", "is valid under each of"),
    ("when-without-values", ("requireHints: true", "when: [{field: spec.on}]"), 14,
     "adapters[0].accelerators[0].when[0]", "'in' is a required property"),
    ("joined-from-of-one", ("from: spec.gpuModel}", "from: [spec.gpuModel]}"), 13,
     "adapters[0].accelerators[0].hints[0].from", "is too short"),
    ("joined-from-bad-path", ("from: spec.gpuModel}", "from: [spec.vendor, 'spec.x[']}"), 13,
     "adapters[0].accelerators[0].hints[0].from[1]", "bad path"),
]


@pytest.mark.parametrize(
    ("change", "line", "field", "words"), [b[1:] for b in BROKEN], ids=[b[0] for b in BROKEN]
)
def test_broken_adapter_file_names_file_line_and_field(
    tmp_path: Path, change: tuple[str, str], line: int, field: str | None, words: str
) -> None:
    assert change[0] in ADAPTER
    path = tmp_path / "acme.yaml"
    path.write_text(ADAPTER.replace(*change))
    with pytest.raises(InputError) as caught:
        load_adapter_file(path)
    error = caught.value
    assert (error.source, error.line, error.field) == (str(path), line, field)
    assert words in error.message


def test_missing_adapter_file(tmp_path: Path) -> None:
    with pytest.raises(InputError) as caught:
        load_adapter_file(tmp_path / "none.yaml")
    assert caught.value.source == str(tmp_path / "none.yaml")


def test_every_shipped_adapter_file_loads_through_the_user_path() -> None:
    root = Path(__file__).resolve().parents[3] / "exportgate" / "data" / "adapters"
    files = sorted(root.glob("*.yaml"))
    assert len(files) >= 15
    for path in files:
        adapter_set = load_adapter_file(path)
        assert adapter_set.name == path.stem


def test_a_hint_with_matching_keeps_only_the_values_the_pattern_finds() -> None:
    """`matching` turns a field into a signal for some of its values only (an EKS amiType)."""
    adapter = parse_adapter_text(
        ADAPTER.replace(
            "from: spec.gpuModel}", "from: spec.gpuModel, matching: 'H100|H200'}"
        ),
        "acme.yaml",
    )
    registry = AdapterRegistry.builtin().extended([adapter])
    pinned = registry.extract({**GPU_JOB, "spec": {**GPU_JOB["spec"], "roles": []}})
    assert [(h.key, h.values) for a in pinned.accelerators for h in a.hints] == [
        ("nvidia.com/gpu.product", ("NVIDIA-H100-80GB-HBM3",))
    ]
    t4 = {**GPU_JOB, "spec": {**GPU_JOB["spec"], "roles": [], "gpuModel": "Tesla-T4"}}
    assert registry.extract(t4).accelerators == ()  # requireHints: no matching value, no hint


def test_a_matching_group_named_value_is_the_hint() -> None:
    """A pattern with a ``value`` group hints with that group's text: the name at the end of a
    URL (a Compute Engine accelerator type given as a zonal URL)."""
    adapter = parse_adapter_text(
        ADAPTER.replace(
            "from: spec.gpuModel}", "from: spec.gpuModel, matching: '(^|/)(?P<value>[^/]+)$'}"
        ),
        "acme.yaml",
    )
    registry = AdapterRegistry.builtin().extended([adapter])
    spec = {**GPU_JOB["spec"], "roles": [], "gpuModel": "catalog/gpus/NVIDIA-H100-80GB-HBM3"}
    found = registry.extract({**GPU_JOB, "spec": spec})
    assert [(h.key, h.values) for a in found.accelerators for h in a.hints] == [
        ("nvidia.com/gpu.product", ("NVIDIA-H100-80GB-HBM3",))
    ]
    trailing = {**GPU_JOB, "spec": {**spec, "gpuModel": "catalog/gpus/"}}
    assert registry.extract(trailing).accelerators == ()  # nothing found: no hint


def _joined_registry() -> AdapterRegistry:
    adapter = parse_adapter_text(
        ADAPTER.replace(
            "{key: nvidia.com/gpu.product, from: spec.gpuModel}",
            "{key: exportgate.dev/pci-device, from: [spec.device.vendor, spec.device.id]}",
        ),
        "acme.yaml",
    )
    return AdapterRegistry.builtin().extended([adapter])


@pytest.mark.parametrize(
    ("device", "value"),
    [
        ({"vendor": 4318, "id": 7864}, "4318:7864"),  # integers, as CAPV writes PCI ids
        ({"vendor": " 0x10de ", "id": "0x1eb8"}, "0x10de:0x1eb8"),  # strings, trimmed
        ({"vendor": 4318}, "4318:"),  # a part left out stays empty: the catalogue names nothing
        ({"id": 7864, "vendor": None}, ":7864"),
    ],
    ids=["integers", "strings", "no-device", "null-vendor"],
)
def test_a_hint_from_a_list_joins_the_fields_with_colons(
    device: dict[str, Any], value: str
) -> None:
    """``from: [a, b]`` makes one value of several fields: a PCI vendor:device pair."""
    spec = {**GPU_JOB["spec"], "roles": [], "device": device}
    found = _joined_registry().extract({**GPU_JOB, "spec": spec})
    assert [(h.key, h.values) for a in found.accelerators for h in a.hints] == [
        ("exportgate.dev/pci-device", (value,))
    ]


def test_a_hint_from_a_list_of_absent_fields_is_no_hint() -> None:
    spec = {**GPU_JOB["spec"], "roles": [], "device": {"label": "gpu"}}
    assert _joined_registry().extract({**GPU_JOB, "spec": spec}).accelerators == ()


@pytest.mark.parametrize(
    ("device", "field", "words"),
    [
        ({"vendor": [4318], "id": 7864}, "spec.device.vendor", "found a list"),
        ({"vendor": True, "id": 7864}, "spec.device.vendor", "found a boolean"),
        ({"vendor": 4318, "id": 78.64}, "spec.device.id", "found a number"),
    ],
    ids=["list", "boolean", "float"],
)
def test_a_joined_part_must_be_a_string_or_an_integer(
    device: dict[str, Any], field: str, words: str
) -> None:
    spec = {**GPU_JOB["spec"], "roles": [], "device": device}
    with pytest.raises(InputError) as caught:
        _joined_registry().extract({**GPU_JOB, "spec": spec})
    assert caught.value.field == field
    assert words in caught.value.message


def test_a_joined_part_that_finds_several_values_is_an_error() -> None:
    adapter = parse_adapter_text(
        ADAPTER.replace(
            "{key: nvidia.com/gpu.product, from: spec.gpuModel}",
            "{key: exportgate.dev/pci-device, from: ['spec.vendors[*]', spec.device]}",
        ),
        "acme.yaml",
    )
    registry = AdapterRegistry.builtin().extended([adapter])
    spec = {**GPU_JOB["spec"], "roles": [], "vendors": [4318, 4098], "device": 7864}
    with pytest.raises(InputError) as caught:
        registry.extract({**GPU_JOB, "spec": spec})
    assert caught.value.field == "spec.vendors[1]"
    assert "expected one value to join, found 2" in caught.value.message


PATTERN_ADAPTER = """\
apiVersion: exportgate.dev/v1alpha1
kind: AdapterSet
metadata: {name: acme-machines}
adapters:
  - group: machines.example.com
    kindPattern: '.*Machine'
    accelerators:
      - resource: nodepool
  - group: machines.example.com
    kinds: [PlainMachine]
"""


def _object(kind: str) -> dict[str, Any]:
    return {
        "apiVersion": "machines.example.com/v1",
        "kind": kind,
        "metadata": {"name": "m", "namespace": "team"},
        "spec": {"size": "large"},
    }


def test_a_kind_pattern_describes_the_group_kinds_no_adapter_names() -> None:
    registry = AdapterRegistry.builtin().extended([parse_adapter_text(PATTERN_ADAPTER)])
    (request,) = registry.extract(_object("GpuMachine")).accelerators
    assert (request.resource, request.hints, request.source) == ("nodepool", (), "")
    assert registry.extract(_object("PlainMachine")).accelerators == ()  # named: its own rules
    assert registry.extract(_object("MachineSet")).accelerators == ()  # whole name must match
    assert ("machines.example.com", ".*Machine") in registry.kind_patterns()
    assert ("machines.example.com", "GpuMachine") not in registry.kinds()


def test_a_later_file_names_a_kind_the_builtin_pattern_caught() -> None:
    """A platform whose provider exportgate has no adapter for writes one for its kind."""
    site = parse_adapter_text(
        PATTERN_ADAPTER.replace("machines.example.com", "infrastructure.cluster.x-k8s.io")
        .replace("kindPattern: '.*Machine'", "kinds: [AcmeMachine]")
        .replace("- resource: nodepool", "- resource: nodepool\n        hints: [{key: "
                 "node.kubernetes.io/instance-type, from: spec.size}]")
    )
    registry = AdapterRegistry.builtin().extended([site])
    obj = {**_object("AcmeMachine"), "apiVersion": "infrastructure.cluster.x-k8s.io/v1beta1"}
    builtin = AdapterRegistry.builtin().extract(obj).accelerators
    assert [(a.source, a.hints) for a in builtin] == [("", ())]  # the catch-all
    (request,) = registry.extract(obj).accelerators
    assert request.source == "spec.size"


WHEN_ADAPTER = ADAPTER.replace(
    "        requireHints: true\n",
    "        when: [{field: spec.autoscale, in: [true, Auto]}]\n"
    "        provisions: Acme Autoscale\n",
)


@pytest.mark.parametrize(
    ("value", "requested"),
    [
        (True, True),
        ("auto", True),
        (" AUTO ", True),
        (False, False),
        ("Manual", False),
        (None, False),
    ],
)
def test_when_turns_a_request_on_by_a_switch(value: object, requested: bool) -> None:
    """``when`` compares trimmed, lower-cased text (a boolean as true/false); an absent or null
    field turns nothing on. ``provisions`` names the feature in a hint that narrows nothing."""
    registry = AdapterRegistry.builtin().extended([parse_adapter_text(WHEN_ADAPTER, "acme.yaml")])
    job = {**GPU_JOB, "spec": {**GPU_JOB["spec"], "autoscale": value}}
    found = [a for a in registry.extract(job).accelerators if a.resource == "nvidia.com/gpu"]
    if not requested:
        assert found == []
        return
    (request,) = found
    assert request.source == "spec.autoscale"
    assert ("exportgate.dev/provisioned-by", ("Acme Autoscale",)) in [
        (h.key, h.values) for h in request.hints
    ]


ABSENT_ADAPTER = ADAPTER.replace(
    "        requireHints: true\n",
    "        requireHints: true\n"
    "      - resource: nodepool\n"
    "        when:\n"
    "          - {field: spec.kind, in: [Pool]}\n"
    "          - {field: spec.gpuModel, absent: true}\n"
    "          - {field: 'spec.sizes[*?]', absent: true}\n"
    "      - resource: nodepool\n"
    "        when: [{field: spec.extra, absent: false}]\n",
)


@pytest.mark.parametrize(
    ("spec", "sources"),
    [
        ({"kind": "Pool"}, ["spec.kind"]),
        ({"kind": "Pool", "gpuModel": "  ", "sizes": []}, ["spec.kind"]),  # blank, empty
        ({"kind": "Pool", "sizes": {}}, ["spec.kind"]),
        ({"kind": "Pool", "gpuModel": "NVIDIA-A10"}, []),
        ({"kind": "Pool", "sizes": [{}, ""]}, ["spec.kind"]),  # items that hold nothing
        ({"kind": "Pool", "sizes": [{}, {"size": "x"}]}, []),
        ({"kind": "Other"}, []),
        ({"extra": {"a": 1}}, ["spec.extra"]),
        ({"extra": ""}, []),
    ],
)
def test_when_absent_holds_for_a_field_that_holds_nothing(
    spec: dict[str, Any], sources: list[str]
) -> None:
    """``absent: true`` holds when the field holds nothing (missing, null, blank, an empty list
    or object) anywhere its path leads; ``absent: false`` when it holds something. An absent
    field is no source of the request."""
    registry = AdapterRegistry.builtin().extended([parse_adapter_text(ABSENT_ADAPTER, "a.yaml")])
    job = {**GPU_JOB, "spec": spec}
    found = [a for a in registry.extract(job).accelerators if a.resource == "nodepool"]
    assert [(a.source, a.hints) for a in found] == [(source, ()) for source in sources]


def test_when_absent_is_a_boolean() -> None:
    broken = ABSENT_ADAPTER.replace("absent: false", "absent: maybe")
    with pytest.raises(InputError, match="absent"):
        parse_adapter_text(broken, "a.yaml")


def test_when_names_a_field_that_is_not_a_scalar() -> None:
    registry = AdapterRegistry.builtin().extended([parse_adapter_text(WHEN_ADAPTER, "acme.yaml")])
    job = {**GPU_JOB, "spec": {**GPU_JOB["spec"], "autoscale": {"mode": "Auto"}}}
    with pytest.raises(InputError) as error:
        registry.extract(job)
    assert error.value.field == "spec.autoscale"


OPERATOR_DEFINED_ADAPTER = ADAPTER.replace(
    "        requireHints: true\n",
    "        requireHints: true\n"
    "      - each: spec.flavor\n"
    "        resource: nodepool\n"
    "        operatorDefined: Acme flavor\n"
    "      - resource: nodepool\n"
    "        when: [{field: spec.size, notIn: [small]}]\n"
    "        operatorDefined: Acme size\n",
)


@pytest.mark.parametrize(
    ("spec", "found"),
    [
        ({"flavor": " gpu.big "}, [("spec.flavor", ("Acme flavor", "gpu.big"))]),
        ({"flavor": {"filter": {"name": "gpu.big"}}}, [("spec.flavor", ("Acme flavor",))]),
        ({"size": "large"}, [("spec.size", ("Acme size", "large"))]),
        ({"size": "small"}, []),
    ],
)
def test_operator_defined_names_the_value_of_the_field_the_request_comes_from(
    spec: dict[str, Any], found: list[tuple[str, tuple[str, ...]]]
) -> None:
    """``operatorDefined`` adds a hint that narrows nothing: what the names are, and the name
    at ``each`` (or in the first ``when`` field that held) when it is a string."""
    registry = AdapterRegistry.builtin().extended(
        [parse_adapter_text(OPERATOR_DEFINED_ADAPTER, "acme.yaml")]
    )
    job = {**GPU_JOB, "spec": spec}
    requests = [a for a in registry.extract(job).accelerators if a.resource == "nodepool"]
    assert [
        (a.source, h.values)
        for a in requests
        for h in a.hints
        if h.key == "exportgate.dev/operator-defined"
    ] == found
    assert all(len(a.hints) == 1 for a in requests)


def test_operator_defined_is_a_name_and_not_for_parsers() -> None:
    with pytest.raises(InputError, match="operatorDefined"):
        parse_adapter_text(OPERATOR_DEFINED_ADAPTER.replace("Acme flavor", "''"), "a.yaml")
    broken = OPERATOR_DEFINED_ADAPTER.replace(
        "      - each: spec.flavor\n        resource: nodepool\n",
        "      - each: spec.flavor\n        parser: pod-spec-patch\n",
    )
    with pytest.raises(InputError, match="operatorDefined cannot be combined with parser"):
        parse_adapter_text(broken, "a.yaml")
