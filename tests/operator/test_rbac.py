"""The generated ClusterRoles on the real API server, exercised as their users would.

Users are impersonated by the admin (kubectl --as), which the API server authorises exactly as
requests made by those users.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from tests.cluster.local_cluster import KubectlError, LocalCluster
from tests.operator.builders import policy, tenant
from tests.operator.conftest import OPERATOR_USER, OperatorHandle, get, wait_for

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
        lambda: operator.verification(name) == "Revoked",
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


def reader_role(cluster: LocalCluster, name: str) -> Any:
    return get(cluster, "clusterrole", f"exportgate-tenant-reader:{name}")


def test_operator_lets_each_tenant_group_read_only_its_own_tenant(
    operator: OperatorHandle,
) -> None:
    cluster = operator.cluster
    mine, theirs = (f"own-{uuid.uuid4().hex[:6]}" for _ in range(2))
    for name in (mine, theirs):
        cluster.apply(tenant(name))
    user, group = f"dev-{mine}", operator.config.tenant_group_format.format(name=mine)
    assert group == f"exportgate:tenant:{mine}"  # the default the chart and docs name

    def can_get(name: str) -> bool:
        out = cluster.kubectl("auth", "can-i", "get", f"tenants.exportgate.dev/{name}",
                              as_user=user, as_groups=[group], check=False)
        return out.stdout.strip() == "yes"

    wait_for(lambda: can_get(mine), what="the operator's per-tenant reader role")
    shown = cluster.kubectl("get", "tenant", mine, "-o", "jsonpath={.spec.legalName}",
                            as_user=user, as_groups=[group])
    assert shown.stdout == f"{mine} Pte. Ltd."
    with pytest.raises(KubectlError) as caught:
        cluster.kubectl("get", "tenant", theirs, as_user=user, as_groups=[group])
    assert "forbidden" in caught.value.stderr.lower(), caught.value.stderr
    with pytest.raises(KubectlError) as caught:  # resourceNames cannot narrow a list
        cluster.kubectl("get", "tenants", as_user=user, as_groups=[group])
    assert "forbidden" in caught.value.stderr.lower(), caught.value.stderr
    assert not can_get(theirs)
    for verb in ("patch", "update", "delete"):
        out = cluster.kubectl("auth", "can-i", verb, f"tenants.exportgate.dev/{mine}",
                              as_user=user, as_groups=[group], check=False)
        assert out.stdout.strip() == "no", verb

    # Owned by the Tenant, so the garbage collector removes them with it. The test API server
    # runs no kube-controller-manager (hence no GC): check the ownerReference itself, then
    # that the operator's own clean-up on the DELETED event removes both.
    uid = operator.get("tenant", mine)["metadata"]["uid"]
    binding = get(cluster, "clusterrolebinding", f"exportgate-tenant-reader:{mine}")
    for obj in (reader_role(cluster, mine), binding):
        assert obj["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "exportgate-operator"
        (owner,) = obj["metadata"]["ownerReferences"]
        assert (owner["apiVersion"], owner["kind"], owner["name"], owner["uid"]) == (
            "exportgate.dev/v1alpha1", "Tenant", mine, uid)
    assert binding["subjects"] == [
        {"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": group}
    ]
    (granted,) = reader_role(cluster, mine)["rules"]
    assert granted["resourceNames"] == [mine]
    assert sorted(granted["verbs"]) == ["get", "watch"]

    cluster.delete("tenant", mine)
    wait_for(lambda: reader_role(cluster, mine) is None, what="reader role removed")
    wait_for(
        lambda: get(cluster, "clusterrolebinding", f"exportgate-tenant-reader:{mine}") is None,
        what="reader binding removed",
    )
    assert reader_role(cluster, theirs) is not None
