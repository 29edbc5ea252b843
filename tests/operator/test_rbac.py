"""The generated ClusterRoles on the real API server, exercised as their users would.

Users are impersonated by the admin (kubectl --as), which the API server authorises exactly as
requests made by those users.
"""

from __future__ import annotations

import uuid

import pytest

from tests.cluster.local_cluster import KubectlError, LocalCluster
from tests.operator.builders import policy, tenant
from tests.operator.conftest import OPERATOR_USER, OperatorHandle, wait_for

pytestmark = pytest.mark.cluster


def bind(cluster: LocalCluster, role: str, user: str) -> None:
    cluster.apply(
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": f"{role}-{user}"},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": role,
            },
            "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": user}],
        }
    )


def forbidden(cluster: LocalCluster, user: str, *args: str, input: str | None = None) -> str:
    with pytest.raises(KubectlError) as caught:
        cluster.kubectl(*args, as_user=user, input=input)
    assert "forbidden" in caught.value.stderr.lower(), caught.value.stderr
    return str(caught.value.stderr)


def can(cluster: LocalCluster, user: str, verb: str, resource: str) -> bool:
    out = cluster.kubectl("auth", "can-i", verb, resource, as_user=user, check=False)
    return out.stdout.strip() == "yes"


def test_tenant_reads_its_tenant_but_cannot_edit_tenants_or_policies(
    operator: OperatorHandle,
) -> None:
    cluster = operator.cluster
    name, user = f"rbac-{uuid.uuid4().hex[:6]}", f"tenant-user-{uuid.uuid4().hex[:6]}"
    cluster.apply(tenant(name))
    cluster.apply(policy(f"{name}-policy", any_in=("NZ",)))
    bind(cluster, "exportgate-tenant-viewer", user)
    wait_for(lambda: can(cluster, user, "get", f"tenants.exportgate.dev/{name}"), what="binding")

    shown = cluster.kubectl("get", "tenant", name, "-o", "jsonpath={.spec.legalName}",
                            as_user=user)
    assert shown.stdout == f"{name} Pte. Ltd."
    forbidden(cluster, user, "patch", "tenant", name, "--type=merge",
              "-p", '{"spec":{"headquarters":"US"}}')
    forbidden(cluster, user, "patch", "tenant", name, "--subresource=status", "--type=merge",
              "-p", '{"status":{"verification":"Verified"}}')
    forbidden(cluster, user, "delete", "tenant", name)
    forbidden(cluster, user, "get", "tenants")  # no listing: tenants cannot enumerate others
    forbidden(cluster, user, "patch", "exportpolicy", f"{name}-policy", "--type=merge",
              "-p", '{"spec":{"enforcementAction":"dryrun"}}')
    forbidden(cluster, user, "delete", "exportpolicy", f"{name}-policy")
    forbidden(cluster, user, "create", "-f", "-",
              input=str(policy(f"{name}-mine")).replace("'", '"'))
    cluster.delete("exportpolicy", f"{name}-policy")


def test_kyc_editor_writes_spec_but_not_status(operator: OperatorHandle) -> None:
    cluster = operator.cluster
    name, user = f"kyc-{uuid.uuid4().hex[:6]}", f"kyc-officer-{uuid.uuid4().hex[:6]}"
    cluster.apply(tenant(name))
    bind(cluster, "exportgate-kyc-editor", user)
    wait_for(lambda: can(cluster, user, "patch", "tenants.exportgate.dev"), what="binding")
    cluster.kubectl("patch", "tenant", name, "--type=merge",
                    "-p", '{"spec":{"verification":{"state":"Revoked"}}}', as_user=user)
    forbidden(cluster, user, "patch", "tenant", name, "--subresource=status", "--type=merge",
              "-p", '{"status":{"verification":"Verified"}}')
    forbidden(cluster, user, "delete", "tenant", name)
    assert not can(cluster, user, "create", "exportpolicies.exportgate.dev")
    # ...and the operator, not the officer, turns the new spec into status.
    wait_for(
        lambda: (operator.get("tenant", name) or {}).get("status", {}).get("verification")
        == "Revoked",
        what="status follows the KYC decision",
    )


def test_operator_and_reader_roles_are_least_privilege(operator: OperatorHandle) -> None:
    cluster = operator.cluster
    bind(cluster, "exportgate-policy-reader", "exportgate-sidecar")
    wait_for(lambda: can(cluster, "exportgate-sidecar", "list", "tenants.exportgate.dev"),
             what="binding")
    assert can(cluster, "exportgate-sidecar", "watch", "exportpolicies.exportgate.dev")
    assert not can(cluster, "exportgate-sidecar", "patch", "tenants.exportgate.dev")
    assert not can(cluster, "exportgate-sidecar", "get", "secrets")
    # The operator annotates and reports; it may never delete a workload or edit a spec.
    assert can(cluster, OPERATOR_USER, "patch", "pods")
    for verb, resource in [
        ("delete", "pods"),
        ("delete", "deployments.apps"),
        ("create", "pods"),
        ("update", "tenants.exportgate.dev"),
        ("patch", "tenants.exportgate.dev"),
        ("patch", "exportpolicies.exportgate.dev"),
        ("get", "secrets"),
        ("delete", "nodepools.karpenter.sh"),
    ]:
        assert not can(cluster, OPERATOR_USER, verb, resource), (verb, resource)
