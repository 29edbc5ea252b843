"""Tenancy: the one binding rule, label and group."""

from __future__ import annotations

import pytest

from exportgate.core.tenancy import API_GROUP, TENANT_LABEL, owning_tenant, tenant_label


def test_the_label_lives_in_the_group() -> None:
    assert f"{API_GROUP}/tenant" == TENANT_LABEL


@pytest.mark.parametrize(
    ("cluster_scoped", "own", "namespace", "expected"),
    [
        (False, "acme", "nimbus", "nimbus"),  # a namespaced object's own label never counts
        (False, "acme", None, None),
        (True, "acme", "nimbus", "acme"),  # only a cluster-scoped object speaks for itself
        (True, None, "nimbus", None),
        (True, "", None, None),
    ],
)
def test_the_binding_rule(
    cluster_scoped: bool, own: str | None, namespace: str | None, expected: str | None
) -> None:
    assert (
        owning_tenant(cluster_scoped=cluster_scoped, own_label=own, namespace_tenant=namespace)
        == expected
    )


@pytest.mark.parametrize(
    ("obj", "expected"),
    [
        ({"metadata": {"labels": {TENANT_LABEL: "acme"}}}, "acme"),
        ({"metadata": {"labels": {TENANT_LABEL: ""}}}, None),
        ({"metadata": {"labels": None}}, None),
        ({"metadata": "bad"}, None),
        (None, None),
    ],
)
def test_tenant_label(obj: object, expected: str | None) -> None:
    assert tenant_label(obj) == expected  # type: ignore[arg-type]
