"""The tenancy label guard: only platform identities bind namespaces and cluster objects."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from exportgate_sidecar.server import SidecarServer

from tests.cluster.certs import ServingCert
from tests.core.builders import tenant_doc
from tests.webhook.conftest import Webhook, start_webhook, stop_webhook, webhook_config
from tests.webhook.helpers import (
    ACME_NS,
    KYC_GROUP,
    KYC_USER,
    NIMBUS_NS,
    PLATFORM_GROUP,
    PLATFORM_USER,
    TENANT_LABEL,
    TENANT_USER,
    gpu_pod,
    namespace,
    review_for,
)

NODEPOOL: dict[str, Any] = {
    "apiVersion": "karpenter.sh/v1",
    "kind": "NodePool",
    "metadata": {"name": "gpu", "labels": {TENANT_LABEL: "acme"}},
    "spec": {"template": {"spec": {"requirements": []}}},
}


def _relabelled(obj: dict[str, Any], tenant: str) -> dict[str, Any]:
    return {**obj, "metadata": {**obj["metadata"], "labels": {TENANT_LABEL: tenant}}}


MOVED = namespace(NIMBUS_NS, "acme")
UNBOUND = namespace(NIMBUS_NS, None)
BOUND = namespace(NIMBUS_NS, "nimbus")

HOUSE_RULES: dict[str, Any] = {
    "apiVersion": "exportgate.dev/v1alpha1",
    "kind": "ExportPolicy",
    "metadata": {"name": "house-rules"},
    "spec": {"version": "1.0", "rules": []},
}


def _through(body: dict[str, Any], subresource: str) -> dict[str, Any]:
    """The same write sent through a subresource, as the API server describes it."""
    body["request"]["subResource"] = subresource
    return body


TENANT_CHANGES = [
    pytest.param(
        review_for(namespace("stolen", "acme")),
        "setting the label exportgate.dev/tenant=\"acme\" on Namespace 'stolen'",
        id="create-namespace-bound-to-someone-else",
    ),
    pytest.param(
        review_for(MOVED, operation="UPDATE", old=BOUND),
        "changing the label exportgate.dev/tenant of Namespace 'nimbus-ml' "
        'from "nimbus" to "acme"',
        id="move-namespace-to-another-tenant",
    ),
    pytest.param(
        review_for(UNBOUND, operation="UPDATE", old=BOUND),
        "removing the label exportgate.dev/tenant=\"nimbus\" from Namespace 'nimbus-ml'",
        id="unbind-namespace",
    ),
    pytest.param(
        review_for(NODEPOOL),
        "setting the label exportgate.dev/tenant=\"acme\" on NodePool 'gpu'",
        id="create-cluster-scoped-object-bound-to-someone-else",
    ),
    pytest.param(
        review_for(_relabelled(NODEPOOL, "nimbus"), operation="UPDATE", old=NODEPOOL),
        "changing the label exportgate.dev/tenant of NodePool 'gpu'",
        id="move-cluster-scoped-object",
    ),
    pytest.param(
        review_for(
            tenant_doc("nimbus", incorporation="US"),
            operation="UPDATE",
            old=tenant_doc("nimbus", incorporation="SG"),
        ),
        "update of Tenant 'nimbus' (exportgate.dev) is reserved to the platform",
        id="edit-own-tenant-record",
    ),
    # Red team 3, F1: the namespace's status and finalize subresources keep its labels.
    pytest.param(
        _through(review_for(MOVED, operation="UPDATE", old=BOUND), "status"),
        "changing the label exportgate.dev/tenant of Namespace 'nimbus-ml' "
        'from "nimbus" to "acme"',
        id="move-namespace-through-status",
    ),
    pytest.param(
        _through(review_for(MOVED, operation="UPDATE", old=BOUND), "finalize"),
        "changing the label exportgate.dev/tenant of Namespace 'nimbus-ml' "
        'from "nimbus" to "acme"',
        id="move-namespace-through-finalize",
    ),
    # Red team 3, F2: deleting a house rule or a Tenant changes what is admitted.
    pytest.param(
        review_for(None, operation="DELETE", old=HOUSE_RULES),
        "delete of ExportPolicy 'house-rules' (exportgate.dev) is reserved to the platform",
        id="delete-export-policy",
    ),
    pytest.param(
        review_for(None, operation="DELETE", old=tenant_doc("orbit")),
        "delete of Tenant 'orbit' (exportgate.dev) is reserved to the platform",
        id="delete-tenant",
    ),
]


@pytest.mark.parametrize(("body", "what"), TENANT_CHANGES)
async def test_tenant_cannot_change_tenancy(webhook: Webhook, body: Any, what: str) -> None:
    response = await webhook.review("/validate", body)
    assert response["allowed"] is False
    assert response["status"]["code"] == 403
    message = response["status"]["message"]
    assert what in message
    assert f'user "{TENANT_USER}" is not one' in message
    assert "ask them to make the change" in message
    assert webhook.logged() == []  # decided without the sidecar


@pytest.mark.parametrize(
    ("user", "groups"),
    [
        (PLATFORM_USER, ()),
        ("bob@provider.example", (PLATFORM_GROUP,)),
        ("admin", ("system:masters",)),
    ],
    ids=["platform-user", "platform-group", "cluster-admin"],
)
@pytest.mark.parametrize("index", range(len(TENANT_CHANGES)), ids=[p.id for p in TENANT_CHANGES])
async def test_platform_identities_may_change_tenancy(
    webhook: Webhook, user: str, groups: tuple[str, ...], index: int
) -> None:
    body = TENANT_CHANGES[index].values[0]
    assert isinstance(body, dict)
    request = {**body["request"], "userInfo": {"username": user, "groups": list(groups)}}
    response = await webhook.review("/validate", {**body, "request": request})
    assert response["allowed"] is True


async def test_unlabelled_namespace_and_unchanged_label_are_fine(webhook: Webhook) -> None:
    created = await webhook.review("/validate", review_for(namespace("scratch", None)))
    assert created["allowed"] is True
    # Editing other labels of a bound namespace keeps the binding: not a tenancy change.
    new = namespace(ACME_NS, "acme")
    new["metadata"]["labels"]["team"] = "vision"
    updated = review_for(new, operation="UPDATE", old=namespace(ACME_NS, "acme"))
    assert (await webhook.review("/validate", updated))["allowed"] is True


async def test_a_label_on_a_namespaced_object_does_not_rebind_it(webhook: Webhook) -> None:
    # nimbus labels its pod "acme": the namespace decides, so the H100 is still refused.
    pod = gpu_pod("sneaky")
    pod["metadata"]["labels"] = {TENANT_LABEL: "acme"}
    response = await webhook.review("/validate", review_for(pod))
    assert response["allowed"] is False
    assert 'for tenant "nimbus"' in response["status"]["message"]


# -- the KYC team writes Tenants, and nothing else the guard reserves (red team 3, F4) --------


@pytest.fixture
async def kyc_webhook(sidecar: SidecarServer, serving_cert: ServingCert) -> AsyncIterator[Webhook]:
    config = webhook_config(
        serving_cert,
        sidecar.unix_target,
        kyc_users=frozenset({"kyc-bot"}),
        kyc_groups=frozenset({KYC_GROUP}),
    )
    hook = await start_webhook(config, serving_cert, sidecar.config.decision_log)
    try:
        yield hook
    finally:
        await stop_webhook(hook)


@pytest.mark.parametrize(
    ("user", "groups"), [(KYC_USER, (KYC_GROUP,)), ("kyc-bot", ())], ids=["group", "user"]
)
async def test_kyc_identities_may_create_and_update_tenants(
    kyc_webhook: Webhook, user: str, groups: tuple[str, ...]
) -> None:
    created = review_for(tenant_doc("newco"), user=user, groups=groups)
    assert (await kyc_webhook.review("/validate", created))["allowed"] is True
    verified = review_for(
        tenant_doc("nimbus", incorporation="US"),
        operation="UPDATE",
        old=tenant_doc("nimbus", incorporation="SG"),
        user=user,
        groups=groups,
    )
    assert (await kyc_webhook.review("/validate", verified))["allowed"] is True


KYC_REFUSED = [
    pytest.param(
        review_for(None, operation="DELETE", old=tenant_doc("orbit")),
        "delete of Tenant 'orbit' (exportgate.dev) is reserved to the platform.",
        id="delete-tenant",
    ),
    pytest.param(
        review_for(HOUSE_RULES),
        "create of ExportPolicy 'house-rules' (exportgate.dev) is reserved to the platform.",
        id="create-export-policy",
    ),
    pytest.param(
        review_for(MOVED, operation="UPDATE", old=BOUND),
        "changing the label exportgate.dev/tenant of Namespace 'nimbus-ml'",
        id="move-namespace",
    ),
    pytest.param(
        review_for(_relabelled(tenant_doc("nimbus"), "acme"), old=tenant_doc("nimbus"),
                   operation="UPDATE"),
        'setting the label exportgate.dev/tenant="acme" on Tenant \'nimbus\'',
        id="tenant-label-on-a-tenant",
    ),
]  # fmt: skip


@pytest.mark.parametrize(("body", "what"), KYC_REFUSED)
async def test_kyc_identities_may_not_do_the_platforms_work(
    kyc_webhook: Webhook, body: dict[str, Any], what: str
) -> None:
    body["request"]["userInfo"] = {"username": KYC_USER, "groups": [KYC_GROUP]}
    response = await kyc_webhook.review("/validate", body)
    assert response["allowed"] is False
    message = response["status"]["message"]
    assert what in message
    assert "Only platform identities may do that" in message


async def test_a_tenants_refusal_names_the_kyc_team_for_tenant_records(webhook: Webhook) -> None:
    body = review_for(
        tenant_doc("nimbus", incorporation="US"),
        operation="UPDATE",
        old=tenant_doc("nimbus", incorporation="SG"),
    )
    message = (await webhook.review("/validate", body))["status"]["message"]
    assert "reserved to the platform and the KYC team" in message
    assert "your provider's KYC team writes it" in " ".join(message.split())
    assert "platform team" not in message


# -- Tenant and ExportPolicy writes are parsed as the sidecar parses them --------------------


def _platform(body: dict[str, Any]) -> dict[str, Any]:
    body["request"]["userInfo"] = {"username": PLATFORM_USER, "groups": [PLATFORM_GROUP]}
    return body


@pytest.mark.parametrize(
    ("obj", "words"),
    [
        (tenant_doc("nimbus", incorporation="XX"), "spec.incorporation"),
        (
            tenant_doc(
                "nimbus",
                licences=[{"id": "L1", "covers": ["3A090.z"], "countries": ["SG"]}],
            ),
            "3A090.z",
        ),
        (
            {
                "apiVersion": "exportgate.dev/v1alpha1",
                "kind": "ExportPolicy",
                "metadata": {"name": "p"},
                "spec": {"version": "1", "rules": [{"id": "r"}]},
            },
            "ExportPolicy 'p' cannot be read",
        ),
    ],
    ids=["unknown-country", "licence-class-that-is-no-class", "policy-that-does-not-compile"],
)
async def test_a_record_the_parser_refuses_is_refused_with_the_field(
    webhook: Webhook, obj: dict[str, Any], words: str
) -> None:
    response = await webhook.review("/validate", _platform(review_for(obj)))
    assert response["allowed"] is False
    assert response["status"]["code"] == 400
    assert words in response["status"]["message"]
    assert "Fix that field and apply again" in response["status"]["message"]


async def test_a_metadata_change_of_a_stored_invalid_record_is_admitted(webhook: Webhook) -> None:
    old = tenant_doc("nimbus", incorporation="XX")
    new = tenant_doc("nimbus", incorporation="XX")
    new["metadata"]["finalizers"] = []
    response = await webhook.review(
        "/validate", _platform(review_for(new, operation="UPDATE", old=old))
    )
    assert response["allowed"] is True
