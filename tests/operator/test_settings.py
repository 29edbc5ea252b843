"""Command-line flags."""

from __future__ import annotations

import pytest
from exportgate_operator.settings import parse_args


def test_defaults_are_cluster_wide_with_peering() -> None:
    config = parse_args([])
    assert config.clusterwide
    assert not config.standalone
    assert config.peering == "exportgate-operator"
    assert config.priority > 0  # random, so two replicas never tie
    assert config.liveness == "http://0.0.0.0:8080/healthz"


def test_namespaces_and_options() -> None:
    config = parse_args(
        [
            *("-n", "a", "--namespace", "b", "-n", "a"),
            *("--packs", "kyc-verification, vendor-model-terms", "--liveness", ""),
            *("--standalone", "--report-max-results", "7", "--no-node-labels"),
        ]
    )
    assert config.namespaces == ("a", "b")
    assert not config.clusterwide
    assert config.packs == ("kyc-verification", "vendor-model-terms")
    assert config.liveness is None
    assert config.standalone
    assert config.report_max_results == 7
    assert not config.label_nodes


def test_namespace_and_all_namespaces_exclude_each_other() -> None:
    with pytest.raises(SystemExit):
        parse_args(["-n", "a", "-A"])


def test_unknown_pack_is_refused_at_start() -> None:
    with pytest.raises(SystemExit):
        parse_args(["--packs", "kyc-verification,no-such-pack"])


def test_tenant_reader_roles_flags() -> None:
    config = parse_args([])
    assert config.tenant_reader_roles
    assert config.tenant_group_format == "exportgate:tenant:{name}"
    config = parse_args(["--tenant-group-format", "tenant:{name}", "--no-tenant-reader-roles"])
    assert config.tenant_group_format.format(name="nimbus") == "tenant:nimbus"
    assert not config.tenant_reader_roles


@pytest.mark.parametrize("template", ["tenants", "tenant:{nme}", "t:{0}", "t:{name"])
def test_a_group_format_must_name_the_tenant(template: str) -> None:
    # A format without {name} would put every tenant in one group, reading all Tenants.
    with pytest.raises(SystemExit):
        parse_args(["--tenant-group-format", template])
