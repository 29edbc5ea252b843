"""The chart's guarded kinds and pre-filter vocabulary are generated from the kind table."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import yaml

from exportgate.core.kinds import guarded_kinds, resources_by_group

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


def test_a_stale_default_is_rewritten() -> None:
    tool = _tool()
    text = (ROOT / "charts/exportgate/values.yaml").read_text()
    stale = text.replace("    ray.io: [rayclusters, rayjobs, rayservices]\n", "")
    assert stale != text
    assert tool.render(stale) == text


def test_suspect_resource_globs_become_anchored_case_insensitive_patterns() -> None:
    assert _tool()._glob_to_re2("*gpu*") == "(?i)gpu"
    assert _tool()._glob_to_re2("amd.com/*") == "(?i)^amd\\.com/"
    assert _tool()._glob_to_re2("google.com/tpu") == "(?i)^google\\.com/tpu$"
