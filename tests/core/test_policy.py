"""Policy documents: the shipped packs are complete and cited; user files compile or fail
with an error naming the file, the line and the field."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
import yaml

from exportgate.core.errors import InputError, PolicyError
from exportgate.core.policy import (
    builtin_packs,
    default_pack_names,
    load_policy_file,
    parse_policy_text,
)
from exportgate.core.types import Action

EXPECTED_RULES = {
    "us-ear-advanced-computing": {
        "ear-3a090-d5-macau",
        "ear-3a090-d1-d4",
        "ear-h20-is-informed",
        "ear-mi308-is-informed",
    },
    "vendor-model-terms": {
        "anthropic-unsupported-regions",
        "anthropic-ownership",
        "openai-unsupported-countries",
        "google-gemini-available-regions",
        "llama-multimodal-eu",
        "llama-4-multimodal-eu",
    },
    "restricted-parties": {"listed-party", "affiliates-rule-50"},
    "bis-gp10-prc-advanced-ics": {"gp10-huawei-ascend"},
    "kyc-verification": {"kyc-unverified-accelerator", "kyc-unverified-model"},
    "us-ear-ai-diffusion-2025": {
        "aid-tier3-accelerators",
        "aid-tier2-accelerators",
        "aid-4e091-closed-weights",
    },
    # Compute accounting only (no admission rules): see tests/core/test_compute_policy.py.
    "compute-thresholds": set(),
}


def test_the_shipped_packs_and_their_rules() -> None:
    packs = builtin_packs()
    assert {name: {r.id for r in pack.rules} for name, pack in packs.items()} == EXPECTED_RULES
    assert sorted(default_pack_names()) == [
        "bis-gp10-prc-advanced-ics",
        "compute-thresholds",
        "kyc-verification",
        "restricted-parties",
        "us-ear-advanced-computing",
        "vendor-model-terms",
    ]


@pytest.mark.parametrize(
    ("pack", "rule"),
    [(pack, rule) for pack, rules in sorted(EXPECTED_RULES.items()) for rule in sorted(rules)],
)
def test_every_rule_has_a_citation_an_effective_date_and_a_message(pack: str, rule: str) -> None:
    policy = builtin_packs()[pack]
    found = next(r for r in policy.rules if r.id == rule)
    assert found.citation.strip()
    # "effective: always" (a rule with no start date) must say why in its note.
    assert (found.provenance.always and found.provenance.note) or (
        date(2023, 1, 1) <= found.effective <= date(2026, 12, 31)
    )
    assert found.message.strip()
    assert policy.version
    assert policy.action in (Action.DENY, Action.WARN, Action.DRYRUN)


def test_the_diffusion_rules_were_never_both_due_and_enforced() -> None:
    """Compliance due 2025-05-15, not enforced from 2025-05-13 (regulation-2026.md s2.4)."""
    pack = builtin_packs()["us-ear-ai-diffusion-2025"]
    assert pack.not_enforced_since == date(2025, 5, 13)
    assert "still codified" in pack.status and "GAO B-337935" in pack.status
    assert "rescinded" not in pack.title.lower()
    for rule in pack.rules:
        assert rule.effective == date(2025, 5, 15)
        for day in (date(2025, 1, 15), date(2025, 5, 12), date(2025, 5, 15), date(2026, 11, 30)):
            assert not pack.in_force(rule, day), (rule.id, day)


def test_controlled_classes_and_the_named_product() -> None:
    rules = {r.id: r for r in builtin_packs()["us-ear-advanced-computing"].rules}
    controlled = {"3A090.a", "3A090.b", "4A090.a", "4A090.b", "3A090-indeterminate"}
    assert controlled <= rules["ear-3a090-d5-macau"].classifications
    assert controlled <= rules["ear-3a090-d1-d4"].classifications
    assert rules["ear-3a090-d1-d4"].except_in == ("A:5", "A:6")
    assert rules["ear-h20-is-informed"].products == {"nvidia-h20"}
    assert all(r.licensable for r in rules.values())


GOOD = """\
# house rules
apiVersion: exportgate.dev/v1alpha1
kind: ExportPolicy
metadata:
  name: house-rules
spec:
  version: "1.0"
  enforcementAction: warn
  rules:
    - id: no-b200-in-vn
      citation: "Provider policy 7"
      effective: "2025-01-01"
      match:
        accelerators:
          products: [nvidia-b200]
      jurisdictions:
        anyIn: [VN]
      message: "{subject} is reserved for {tenant}"
"""


def test_a_user_policy_file_compiles(tmp_path: Path) -> None:
    path = tmp_path / "house.yaml"
    path.write_text(GOOD + "---\n" + GOOD.replace("house-rules", "more-rules"))
    policies = load_policy_file(path)
    assert [p.name for p in policies] == ["house-rules", "more-rules"]
    assert policies[0].action is Action.WARN
    assert policies[0].source == str(path)
    assert policies[0].digest != policies[1].digest


BROKEN = [
    # (case, (old, new), line, field, words)
    ("bad-action", ("enforcementAction: warn", "enforcementAction: block"), 8,
     "spec.enforcementAction", "'block' is not one of"),
    ("unknown-product", ("[nvidia-b200]", "[nvidia-b2000]"), 15,
     "spec.rules[0].match.accelerators.products[0]", "unknown product"),
    ("unknown-group", ("anyIn: [VN]", "anyIn: [VN, D:9]"), 17,
     "spec.rules[0].jurisdictions.anyIn[1]", "unknown country group"),
    ("bad-date", ('effective: "2025-01-01"', 'effective: "2025-02-30"'), 12,
     "spec.rules[0].effective", "not a date"),
    ("unknown-placeholder", ("{tenant}", "{customer}"), 18, "spec.rules[0].message",
     "unknown placeholder {customer}"),
    ("misspelt-field",
     ('      citation: "Provider policy 7"\n', '      citaton: "Provider policy 7"\n'), 11,
     "spec.rules[0].citaton", "unknown field"),
    ("missing-citation", ('      citation: "Provider policy 7"\n', ""), 10, "spec.rules[0]",
     "'citation' is required"),
    ("bad-rule-id", ("id: no-b200-in-vn", "id: No B200"), 10, "spec.rules[0].id", "does not match"),
    ("no-condition", ("      jurisdictions:\n        anyIn: [VN]\n", ""), 10, "spec.rules[0]",
     "needs a condition"),
    ("wrong-kind", ("kind: ExportPolicy", "kind: Policy"), 2, "kind", "expected an ExportPolicy"),
    ("broken-yaml", ("  rules:\n", "  rules: [\n"), 10, None, "not valid YAML"),
]


@pytest.mark.parametrize(
    ("change", "line", "field", "words"), [b[1:] for b in BROKEN], ids=[b[0] for b in BROKEN]
)
def test_broken_policy_names_file_line_and_field(
    tmp_path: Path, change: tuple[str, str], line: int, field: str | None, words: str
) -> None:
    assert change[0] in GOOD
    path = tmp_path / "house.yaml"
    path.write_text(GOOD.replace(*change))
    # A broken YAML file is an InputError; everything after parsing a PolicyError (a subclass).
    with pytest.raises(InputError) as caught:
        load_policy_file(path)
    error = caught.value
    assert (error.source, error.line, error.field) == (str(path), line, field)
    assert words in error.message
    assert error.describe().startswith(f"{path}:{line}: ")


def test_duplicate_rule_ids_are_rejected() -> None:
    data = yaml.safe_load(GOOD)
    data["spec"]["rules"].append(dict(data["spec"]["rules"][0]))
    with pytest.raises(PolicyError, match="duplicate rule id") as caught:
        parse_policy_text(yaml.safe_dump(data, sort_keys=False), "dup.yaml")
    assert caught.value.field == "spec.rules[1].id"


def test_builtin_pack_files_are_exactly_the_format_users_write() -> None:
    """Each shipped pack re-parses through the user path with the same digest."""
    root = Path(__file__).resolve().parents[2] / "exportgate" / "data" / "policies"
    for path in sorted(root.glob("*.yaml")):
        (policy,) = load_policy_file(path)
        assert policy.digest == builtin_packs()[policy.name].digest
