"""The chart's guarded kinds and pre-filter vocabulary are generated from the kind table."""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import yaml

from exportgate.core.data import load_data
from exportgate.core.extract import AdapterRegistry
from exportgate.core.kinds import guarded_kind_patterns, guarded_kinds, resources_by_group

ROOT = Path(__file__).resolve().parents[2]


def _tool() -> ModuleType:
    spec = importlib.util.spec_from_file_location("sync_kinds", ROOT / "charts/tools/sync_kinds.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["sync_kinds"] = module
    spec.loader.exec_module(module)
    return module


def test_values_hold_every_guarded_kind_of_the_table() -> None:
    values = yaml.safe_load((ROOT / "charts/exportgate/values.yaml").read_text())
    assert values["webhook"]["guardedResources"] == resources_by_group(guarded_kinds())
    assert _tool().main(["--check"]) == 0


def test_values_hold_every_kind_pattern_whole_name_anchored() -> None:
    """Kinds guarded by pattern (every Cluster API infrastructure machine kind) reach the chart
    as RE2 patterns of the whole kind name, for CEL's matches(), which searches."""
    values = yaml.safe_load((ROOT / "charts/exportgate/values.yaml").read_text())
    generated = values["webhook"]["guardedKindPatterns"]
    expected = {
        group: [f"^(?:{p})$" for p in patterns]
        for group, patterns in guarded_kind_patterns().items()
    }
    assert generated == expected
    assert "infrastructure.cluster.x-k8s.io" in generated
    for patterns in generated.values():
        for pattern in patterns:
            assert re.fullmatch(pattern, "NutanixMachineTemplate")
            assert not re.fullmatch(pattern, "AWSCluster")


def test_a_stale_default_is_rewritten() -> None:
    tool = _tool()
    text = (ROOT / "charts/exportgate/values.yaml").read_text()
    stale = text.replace("    ray.io: [rayclusters, rayjobs, rayservices]\n", "")
    assert stale != text
    assert tool.render(stale) == text


def _re2(pattern: str) -> str:
    """An RE2 pattern for Python: RE2's "$" is the end of the text, Python's also matches before
    a final newline (the other syntax the generated patterns use is the same in both)."""
    return pattern[:-1] + r"\Z" if pattern.endswith("$") else pattern


def _sent(name: str, values: dict[str, Any]) -> bool:
    """The CEL pre-filter's resource test for one name (CEL matches() searches, like re.search)."""
    conditions = values["webhook"]["matchConditions"]
    known = any(re.search(_re2(p), name) for p in conditions["acceleratorResourcePatterns"])
    harmless = any(re.search(_re2(p), name) for p in conditions["nonAcceleratorResourcePatterns"])
    return known or not harmless


NAMES = [
    "cpu", "memory", "ephemeral-storage", "hugepages-2Mi", "example.kubernetes.io/x",
    "nvidia.com/gpu", "nvidia.com/mig-1g.10gb", "nvidia.com/gpumem", "amd.com/gpu",
    "qualcomm.com/qaic", "tenstorrent.com/n150", "kunlunxin.com/xpu", "example.com/foo",
    "rdma/hca_shared_devices_a", "intel.com/intel_sriov_netdevice", "intel.com/fpga-arria10",
    "openshift.io/nics", "vpc.amazonaws.com/efa", "devices.kubevirt.io/kvm",
    "devices.kubevirt.io/nvidia-h100", "smarter-devices/fuse", "smarter-devices/nvidia0",
    "squat.ai/gpu", "gpu.intel.com/millicores", "gpu.intel.com/i915", "Memory", "RDMA/x",
    "cpu\n", "hugepages-\nx",
]  # fmt: skip


def test_the_prefilter_sends_every_resource_the_extractor_reads_as_an_accelerator() -> None:
    # Red-team F3: the filter may never be narrower than the extractor, whose default is now
    # "unknown accelerator" for every extended resource not listed as none.
    values = yaml.safe_load((ROOT / "charts/exportgate/values.yaml").read_text())
    vocabulary = AdapterRegistry.builtin().vocabulary
    for name in NAMES:
        if vocabulary.requested_accelerator(name):
            assert _sent(name, values), name
    assert not _sent("cpu", values) and not _sent("rdma/hca_shared_devices_a", values)
    assert _sent("qualcomm.com/qaic", values)


def test_resource_globs_become_whole_name_patterns() -> None:
    assert _tool()._name_to_re2("hugepages-*") == "^(?:hugepages\\-.*)$"
    assert _tool()._name_to_re2("*kubernetes.io/*") == "^(?:.*kubernetes\\.io/.*)$"


def _conditions() -> dict[str, Any]:
    values = yaml.safe_load((ROOT / "charts/exportgate/values.yaml").read_text())
    return dict(values["webhook"]["matchConditions"])


def test_the_model_vocabulary_is_generated_from_models_yaml() -> None:
    conditions = _conditions()
    for key, items in _tool().model_words().items():
        assert conditions[key] == items, key
    stale = (ROOT / "charts/exportgate/values.yaml").read_text()
    for line in ('      - "OPENAI_BASE_URL"\n', '      - "trtllm-serve"\n', '      - "-hf"\n'):
        assert line in stale
        assert _tool().render(stale.replace(line, "", 1)) == stale, line


def _sends_word(word: str, conditions: dict[str, Any]) -> bool:
    """A flag or program (a whole token of a command line) is sent by the pre-filter."""
    return word in conditions["modelTokens"] or any(w in word for w in conditions["modelWords"])


def test_every_flag_program_and_variable_the_model_reader_reads_is_sent() -> None:
    # The pre-filter may never be narrower than exportgate/core/extract/models.py: everything
    # models.yaml tells the reader to read must reach a generated list.
    conditions = _conditions()
    data = load_data("models.yaml")
    env, commands = data["environment"], data["commands"]
    servers = commands["servers"]
    words = [*commands["modelFlags"], *commands["advertisedFlags"],
             *(entry["program"] for entry in commands["positional"])]  # fmt: skip
    assert [w for w in words if not _sends_word(w, conditions)] == []
    assert set(commands["pathFlags"]) <= set(conditions["modelPathFlags"])
    names = {*env["vendor"], *env["switches"], *env["generic"], *env["advertised"],
             *env["baseUrls"]}  # fmt: skip
    assert names <= set(conditions["modelEnv"])
    assert set(env["aliasOnly"]).isdisjoint(conditions["modelEnv"])  # never read: not sent
    assert all(any(w in p for w in conditions["modelServerPrograms"]) for p in servers["programs"])
    assert conditions["modelServerImages"] == servers["images"]
    for name in servers["envFromNames"]:
        assert any(n in name.lower() for n in conditions["modelEnvFromNames"])
    # The red team's programs and flags (this session) are among them.
    for word in ("trtllm-serve", "lmdeploy", "hf", "huggingface-cli", "-hf", "-hfr", "-mu"):
        assert _sends_word(word, conditions), word
    assert {"OPENAI_BASE_URL", "ANTHROPIC_BASE_URL", "AZURE_OPENAI_ENDPOINT"} <= set(
        conditions["modelEnv"]
    )


def test_short_words_are_whole_tokens_and_long_ones_minimal_substrings() -> None:
    conditions = _conditions()
    tool = _tool()
    assert all(len(t) <= tool.TOKEN_MAX_CHARS for t in conditions["modelTokens"])
    assert all(len(w) > tool.TOKEN_MAX_CHARS for w in conditions["modelWords"])
    # "--model" covers --model-id, --model-url ...; "vllm" covers vllm.entrypoints.cli.main.
    assert "--model" in conditions["modelWords"] and "--model-id" not in conditions["modelWords"]
    assert tool._substrings({"vllm", "vllm.entrypoints.cli.main", "ollama"}) == ["ollama", "vllm"]


def test_server_images_must_be_re2() -> None:
    assert _tool()._NOT_RE2.search("(?!x)vllm")
    assert _tool()._NOT_RE2.search(r"(a)\1")
    assert not any(_tool()._NOT_RE2.search(p) for p in _conditions()["modelServerImages"])


def test_the_device_annotations_are_generated_from_the_vocabulary() -> None:
    # The pre-filter sends a pod carrying any annotation the reader
    # (exportgate/core/extract/device_annotations.py) reads: the same lists.
    access = AdapterRegistry.builtin().vocabulary.device_access
    conditions = _conditions()
    # and (pod_vm.py) the annotations choosing a peer pod's VM.
    keys = {*access.annotations, *access.pod_vm_type_annotations, *access.pod_vm_gpu_annotations}
    assert conditions["deviceAccessAnnotations"] == sorted(keys)
    assert conditions["deviceAccessAnnotationPrefixes"] == sorted(
        {*access.annotation_prefixes, *access.cdi_prefixes}
    )
    assert {"gpu-fraction", "gpu-memory", "io.katacontainers.config.hypervisor.machine_type"} <= (
        set(conditions["deviceAccessAnnotations"])
    )
    assert {"cdi.k8s.io/", "nvidia.com/container."} <= set(
        conditions["deviceAccessAnnotationPrefixes"]
    )
    # A peer pod's VM token is no device, but the pod it marks is sent (pod_vm reads it).
    assert not any(
        re.fullmatch(p, "kata.peerpods.io/vm") for p in conditions["nonAcceleratorResourcePatterns"]
    )
    stale = (ROOT / "charts/exportgate/values.yaml").read_text()
    line = '      - "gpu-memory"\n'
    assert line in stale
    assert _tool().render(stale.replace(line, "", 1)) == stale
