"""The generated CRDs on the real API server: installed, and rejecting bad specs there."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from tests.cluster.local_cluster import KubectlError, LocalCluster
from tests.operator.builders import endpoint, policy, tenant

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.cluster


def test_generated_files_are_current() -> None:
    result = subprocess.run(
        [sys.executable, str(REPO / "operator/crds/generate.py"), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr


def rejected(cluster: LocalCluster, obj: Mapping[str, Any], namespace: str | None = None) -> str:
    with pytest.raises(KubectlError) as caught:
        cluster.apply(obj, namespace=namespace)
    return str(caught.value.stderr)


def test_valid_objects_are_accepted(crds: LocalCluster, kube_namespace: str) -> None:
    crds.apply(tenant("crd-valid", expires="2030-01-01T00:00:00Z"))
    crds.apply(policy("crd-valid-policy"))
    crds.delete("exportpolicy", "crd-valid-policy")
    crds.apply(endpoint("valid", provider="anthropic", model="claude-sonnet-4"),
               namespace=kube_namespace)


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"headquarters": "usa"}, "spec.headquarters"),
        ({"incorporation": "U1"}, "spec.incorporation"),
        # Two capitals, but not an assigned ISO code: refused by the enum, as by the parser.
        ({"incorporation": "XX"}, "spec.incorporation"),
        (
            {"licenses": [{"id": "L1", "covers": ["3A090.z"], "countries": ["SG"]}]},
            "spec.licenses[0].covers[0]",
        ),
        (
            {"licenses": [{"id": "L1", "covers": ["3A090.a"], "countries": ["QQ"]}]},
            "spec.licenses[0].countries[0]",
        ),
        ({"verification": {"state": "Approved"}}, "Unsupported value"),
        ({"legalName": ""}, "spec.legalName"),
        (
            {"verification": {"state": "Verified", "verifiedAt": "2030-01-01T00:00:00Z",
                              "expiresAt": "2029-01-01T00:00:00Z"}},
            "expiresAt must be later than",
        ),
    ],
)
def test_bad_tenant_specs_are_rejected(
    crds: LocalCluster, change: dict[str, Any], expected: str
) -> None:
    bad = tenant("crd-bad")
    bad["spec"].update(change)
    assert expected in rejected(crds, bad)


def test_tenant_without_verification_is_rejected(crds: LocalCluster) -> None:
    bad = tenant("crd-noverif")
    del bad["spec"]["verification"]
    assert "spec.verification: Required value" in rejected(crds, bad)


def test_bad_policy_specs_are_rejected(crds: LocalCluster) -> None:
    bad = policy("crd-bad-policy")
    bad["spec"]["rules"][0]["enforcementAction"] = "block"
    assert "Unsupported value" in rejected(crds, bad)
    bad = policy("crd-bad-policy")
    bad["spec"]["rules"][0]["until"] = "2020-01-01"
    assert "until must be later" in rejected(crds, bad)
    bad = policy("crd-bad-policy")
    bad["spec"]["rules"][0]["effective"] = "01/02/2024"
    assert "spec.rules[0].effective" in rejected(crds, bad)


def test_bad_endpoints_are_rejected(crds: LocalCluster, kube_namespace: str) -> None:
    bad = endpoint("bad", provider="Anthropic!", model="claude")
    assert "spec.provider" in rejected(crds, bad, kube_namespace)
    bad = endpoint("bad", provider="openai", model="gpt-4o")
    del bad["spec"]["model"]
    assert "spec.model" in rejected(crds, bad, kube_namespace)


def test_printer_columns(crds: LocalCluster) -> None:
    crds.apply(tenant("crd-columns", expires="2030-01-01T00:00:00Z"))
    out = crds.kubectl("get", "tenants", "crd-columns").stdout
    header = out.splitlines()[0].split()
    assert header[:5] == ["NAME", "LEGAL", "NAME", "HQ", "VERIFICATION"]


def test_endpoint_provider_is_immutable(crds: LocalCluster, kube_namespace: str) -> None:
    crds.apply(endpoint("fixed", provider="openai", model="gpt-4o"), namespace=kube_namespace)
    changed = endpoint("fixed", provider="anthropic", model="gpt-4o")
    assert "spec.provider is immutable" in rejected(crds, changed, kube_namespace)


def test_duplicate_rule_ids_are_rejected(crds: LocalCluster) -> None:
    bad = policy("crd-dup-policy")
    bad["spec"]["rules"].append(dict(bad["spec"]["rules"][0]))
    assert "duplicate entries for key" in rejected(crds, bad)


def test_tenant_ownership_and_list_status_are_stored(crds: LocalCluster) -> None:
    """spec.ownership and spec.listedOn (added for the restricted-parties pack) round-trip."""
    owned = tenant("crd-owned")
    owned["spec"]["listedOn"] = ["EntityList"]
    owned["spec"]["ownership"] = {
        "owners": [
            {"name": "Listed Holdings", "share": 60, "headquarters": "CN", "listedOn": ["MEU"]},
            {"name": "Fund LP", "share": 12.5},
        ]
    }
    crds.apply(owned)
    stored = json.loads(crds.kubectl("get", "tenant", "crd-owned", "-o", "json").stdout)["spec"]
    assert stored["listedOn"] == ["EntityList"]
    assert stored["ownership"]["owners"][0]["listedOn"] == ["MEU"]
    assert stored["ownership"]["owners"][1]["share"] == 12.5


@pytest.mark.parametrize(
    ("ownership", "listed", "expected"),
    [
        ({"owners": [{"name": "A", "share": 160}]}, None, "spec.ownership.owners[0].share"),
        ({"owners": [{"name": "A", "share": -1}]}, None, "spec.ownership.owners[0].share"),
        ({"owners": [{"share": 10}]}, None, "spec.ownership.owners[0].name"),
        ({"owners": [{"name": "A", "share": 10, "listedOn": ["OFAC"]}]}, None, "Unsupported value"),
        (None, ["BIS"], "Unsupported value"),
        (
            {"owners": [{"name": "A", "share": 70}, {"name": "B", "share": 40.5}]},
            None,
            "shares add up to more than 100%",
        ),
    ],
)
def test_bad_ownership_is_rejected(
    crds: LocalCluster, ownership: Any, listed: Any, expected: str
) -> None:
    bad = tenant("crd-bad-owned")
    if ownership is not None:
        bad["spec"]["ownership"] = ownership
    if listed is not None:
        bad["spec"]["listedOn"] = listed
    assert expected in rejected(crds, bad)


def test_dated_rule_fields_are_accepted(crds: LocalCluster) -> None:
    dated = policy("crd-dated-policy")
    rule = dated["spec"]["rules"][0]
    rule.update(
        effective="always",
        until="2030-01-01",
        basis="provider-policy",
        confidence="M",
        status="unverified",
        note="Default: deny until verified.",
        suspended=[{"from": "2026-01-01", "until": "2026-02-01", "citation": "test"}],
    )
    crds.apply(dated)
    crds.delete("exportpolicy", "crd-dated-policy")


def test_the_tenant_crd_enumerates_what_the_parser_accepts() -> None:
    """Countries and licence subjects come from the parser's own data (generate.py)."""
    import yaml

    from exportgate.core.countries import is_country
    from exportgate.core.tenants import licensable_subjects

    crd = yaml.safe_load((REPO / "operator/crds/exportgate.dev_tenants.yaml").read_text())
    spec = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    countries = spec["properties"]["incorporation"]["enum"]
    assert "SG" in countries and "XX" not in countries
    assert all(is_country(code) for code in countries)
    covers = spec["properties"]["licenses"]["items"]["properties"]["covers"]["items"]["enum"]
    assert set(covers) == licensable_subjects()
