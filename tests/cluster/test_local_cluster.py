"""Acceptance tests: the local control plane is a real Kubernetes API server.

Each test exercises the server the way later issues will: CRDs, stored Pods,
DRA ResourceClaims, admission webhooks over real TLS, RBAC for tenants, helm,
and a teardown that leaves no process behind.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from tests.cluster import build
from tests.cluster.certs import ServingCert
from tests.cluster.local_cluster import KubectlError, LocalCluster, webhook_rule
from tests.cluster.webhook_server import AdmissionWebhookServer, allow, deny, json_patch

pytestmark = pytest.mark.cluster

WIDGET_CRD: dict[str, Any] = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": "widgets.exportgate.test"},
    "spec": {
        "group": "exportgate.test",
        "scope": "Namespaced",
        "names": {"plural": "widgets", "singular": "widget", "kind": "Widget"},
        "versions": [
            {
                "name": "v1",
                "served": True,
                "storage": True,
                "schema": {
                    "openAPIV3Schema": {
                        "type": "object",
                        "properties": {
                            "spec": {
                                "type": "object",
                                "required": ["size"],
                                "properties": {"size": {"type": "integer", "minimum": 1}},
                            }
                        },
                    }
                },
            }
        ],
    },
}


def _pod(name: str, namespace: str, labels: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "labels": labels or {}},
        "spec": {"containers": [{"name": "main", "image": "registry.invalid/app:1"}]},
    }


def _v1pod(name: str, namespace: str, labels: dict[str, str] | None = None) -> client.V1Pod:
    """The same Pod as a typed model, for the Python client."""
    return client.V1Pod(
        api_version="v1",
        kind="Pod",
        metadata=client.V1ObjectMeta(name=name, namespace=namespace, labels=labels or {}),
        spec=client.V1PodSpec(
            containers=[client.V1Container(name="main", image="registry.invalid/app:1")]
        ),
    )


def _pid_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


# --------------------------------------------------------------------------


def test_server_reports_the_built_version_and_is_ready(kube_cluster: LocalCluster) -> None:
    version = json.loads(kube_cluster.kubectl("version", "-o", "json").stdout)
    # ldflags stamping worked: a real release number, not v0.0.0-master.
    assert version["serverVersion"]["gitVersion"] == build.KUBERNETES_VERSION
    assert kube_cluster.kubectl("get", "--raw", "/readyz").stdout.strip() == "ok"


def test_crd_is_served_and_custom_objects_are_validated(
    kube_cluster: LocalCluster, kube_namespace: str
) -> None:
    assert kube_cluster.install_crds(WIDGET_CRD) == ["widgets.exportgate.test"]
    api = client.CustomObjectsApi(kube_cluster.api_client())
    body = {
        "apiVersion": "exportgate.test/v1",
        "kind": "Widget",
        "metadata": {"name": "w1"},
        "spec": {"size": 3},
    }
    api.create_namespaced_custom_object("exportgate.test", "v1", kube_namespace, "widgets", body)
    # Fully qualified: the session's cluster is shared, and another test's CRD may also be
    # called widgets (tests/charts/test_catchall.py registers widgets.example.com).
    got = kube_cluster.kubectl(
        "get", "widgets.exportgate.test", "w1", "-n", kube_namespace, "-o", "json"
    )
    assert json.loads(got.stdout)["spec"] == {"size": 3}
    # The structural schema is enforced by the server, not the client.
    bad = {**body, "metadata": {"name": "w2"}, "spec": {"size": 0}}
    with pytest.raises(ApiException) as err:
        api.create_namespaced_custom_object("exportgate.test", "v1", kube_namespace, "widgets", bad)
    assert err.value.status == 422


def test_pod_is_stored_without_a_kubelet(kube_cluster: LocalCluster, kube_namespace: str) -> None:
    core = client.CoreV1Api(kube_cluster.api_client())
    core.create_namespaced_pod(kube_namespace, _v1pod("p1", kube_namespace))
    pod = core.read_namespaced_pod("p1", kube_namespace)
    assert pod.spec is not None and pod.metadata is not None
    assert pod.spec.containers[0].image == "registry.invalid/app:1"
    assert pod.metadata.uid  # assigned by the server
    assert pod.spec.node_name is None  # nothing schedules it: there is no scheduler


def test_dra_resource_claims_are_served(kube_cluster: LocalCluster, kube_namespace: str) -> None:
    resources = kube_cluster.kubectl(
        "api-resources", "--api-group=resource.k8s.io", "-o", "name"
    ).stdout.split()
    assert "resourceclaims.resource.k8s.io" in resources
    claim = {
        "apiVersion": "resource.k8s.io/v1",
        "kind": "ResourceClaim",
        "metadata": {"name": "gpu-claim", "namespace": kube_namespace},
        "spec": {
            "devices": {
                "requests": [{"name": "gpu", "exactly": {"deviceClassName": "gpu.example.test"}}]
            }
        },
    }
    kube_cluster.apply(claim)
    got = kube_cluster.kubectl(
        "get",
        "resourceclaim",
        "gpu-claim",
        "-n",
        kube_namespace,
        "-o",
        "jsonpath={.spec.devices.requests[0].exactly.deviceClassName}",
    )
    assert got.stdout == "gpu.example.test"


def test_validating_webhook_denial_reaches_kubectl_and_python_client(
    kube_cluster: LocalCluster, kube_namespace: str, webhook_tls: ServingCert
) -> None:
    reason = "exportgate test: pods labelled deny=yes are refused"

    def review(request: dict[str, Any]) -> dict[str, Any]:
        labels = (request.get("object") or {}).get("metadata", {}).get("labels") or {}
        return deny(reason) if labels.get("deny") == "yes" else allow()

    with AdmissionWebhookServer(review, webhook_tls.cert_path.parent, webhook_tls) as hook:
        kube_cluster.register_validating_webhook(
            "deny-labelled-pods",
            hook.url("/validate"),
            hook.ca_pem,
            [webhook_rule(["CREATE"], ["pods"])],
            # Only this test's namespace: other tests must not depend on this server.
            namespace_selector={"matchLabels": {"exportgate.test/namespace": kube_namespace}},
        )
        try:
            _wait_until_webhook_sees_pods(kube_cluster, hook, kube_namespace)
            denied = _pod("denied", kube_namespace, {"deny": "yes"})

            proc = kube_cluster.kubectl(
                "create", "-f", "-", input=yaml.safe_dump(denied), check=False
            )
            assert proc.returncode != 0
            assert 'admission webhook "deny-labelled-pods.exportgate.test" denied' in proc.stderr
            assert reason in proc.stderr

            core = client.CoreV1Api(kube_cluster.api_client())
            with pytest.raises(ApiException) as err:
                core.create_namespaced_pod(
                    kube_namespace, _v1pod("denied", kube_namespace, {"deny": "yes"})
                )
            assert err.value.status == 403
            assert reason in json.loads(err.value.body or "{}")["message"]

            # Allowed objects go through, and the server sent what we expect.
            kube_cluster.apply(_pod("allowed", kube_namespace, {"deny": "no"}))
            path, sent = hook.requests[-1]
            assert path == "/validate"
            assert sent["kind"] == {"group": "", "version": "v1", "kind": "Pod"}
            assert sent["namespace"] == kube_namespace
            assert "system:masters" in sent["userInfo"]["groups"]
        finally:
            kube_cluster.delete("validatingwebhookconfiguration", "deny-labelled-pods")


def _wait_until_webhook_sees_pods(
    cluster: LocalCluster, hook: AdmissionWebhookServer, namespace: str
) -> None:
    """Server-side dry runs until the API server has loaded the configuration."""

    def probe() -> bool:
        before = hook.hits()
        cluster.kubectl(
            "create", "--dry-run=server", "-f", "-", input=yaml.safe_dump(_pod("probe", namespace))
        )
        return hook.hits() > before

    cluster.wait_for_webhook(probe)


def test_mutating_webhook_patch_is_stored(
    kube_cluster: LocalCluster, kube_namespace: str, webhook_tls: ServingCert
) -> None:
    def mutate(request: dict[str, Any]) -> dict[str, Any]:
        # The readiness probe pod has no labels at all, so add the map when it is missing:
        # a JSON-patch "add" into an absent parent is an error the API server reports.
        labels = dict(request["object"]["metadata"].get("labels") or {})
        labels["mutated"] = "true"
        return json_patch([{"op": "add", "path": "/metadata/labels", "value": labels}])

    with AdmissionWebhookServer(mutate, webhook_tls.cert_path.parent, webhook_tls) as hook:
        kube_cluster.register_mutating_webhook(
            "label-pods",
            hook.url("/mutate"),
            hook.ca_pem,
            [webhook_rule(["CREATE"], ["pods"])],
            namespace_selector={"matchLabels": {"exportgate.test/namespace": kube_namespace}},
        )
        try:
            _wait_until_webhook_sees_pods(kube_cluster, hook, kube_namespace)
            kube_cluster.apply(_pod("m1", kube_namespace, {"app": "x"}))
            labels = kube_cluster.kubectl(
                "get", "pod", "m1", "-n", kube_namespace, "-o", "jsonpath={.metadata.labels}"
            ).stdout
            assert json.loads(labels) == {"app": "x", "mutated": "true"}
        finally:
            kube_cluster.delete("mutatingwebhookconfiguration", "label-pods")


def test_rbac_denies_an_unprivileged_tenant(
    kube_cluster: LocalCluster, kube_namespace: str
) -> None:
    tenant, group = "alice@acme", "exportgate:tenant:acme"
    # 1. Client certificate: the server authenticates the tenant itself.
    tenant_core = client.CoreV1Api(kube_cluster.api_client(tenant, [group]))
    with pytest.raises(ApiException) as err:
        tenant_core.list_namespaced_pod(kube_namespace)
    assert err.value.status == 403
    assert (
        f'User "{tenant}" cannot list resource "pods"'
        in json.loads(err.value.body or "{}")["message"]
    )

    # 2. Impersonation by the admin gives the same answer.
    proc = kube_cluster.kubectl(
        "get", "pods", "-n", kube_namespace, as_user=tenant, as_groups=[group], check=False
    )
    assert proc.returncode != 0 and "Forbidden" in proc.stderr

    # 3. A namespaced grant to the tenant group opens exactly that, nothing more.
    kube_cluster.apply(
        [
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "Role",
                "metadata": {"name": "pod-reader", "namespace": kube_namespace},
                "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"]}],
            },
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "RoleBinding",
                "metadata": {"name": "acme-pod-reader", "namespace": kube_namespace},
                "roleRef": {
                    "apiGroup": "rbac.authorization.k8s.io",
                    "kind": "Role",
                    "name": "pod-reader",
                },
                "subjects": [
                    {"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": group}
                ],
            },
        ]
    )
    assert _eventually(lambda: tenant_core.list_namespaced_pod(kube_namespace).items == [])
    can = kube_cluster.kubectl(
        "auth",
        "can-i",
        "create",
        "pods",
        "-n",
        kube_namespace,
        as_user=tenant,
        as_groups=[group],
        check=False,
    )
    assert can.stdout.strip() == "no"
    with pytest.raises(KubectlError, match="Forbidden"):
        kube_cluster.kubectl(
            "get",
            "secrets",
            "-n",
            kube_namespace,
            kubeconfig=kube_cluster.user_kubeconfig(tenant, [group]),
        )


def _eventually(check: Any, timeout: float = 10.0) -> bool:
    """RBAC changes reach the authorizer through an informer: allow a moment."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if check():
                return True
        except ApiException:
            if time.monotonic() > deadline:
                raise
        time.sleep(0.2)


def test_helm_installs_a_chart(
    kube_cluster: LocalCluster, kube_namespace: str, tmp_path: Path
) -> None:
    chart = tmp_path / "probe"
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text(
        "apiVersion: v2\nname: probe\nversion: 0.1.0\nkubeVersion: '>=1.34.0-0'\n"
    )
    (chart / "templates" / "cm.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-cm\n"
        "data:\n  greeting: {{ .Values.greeting | quote }}\n"
    )
    (chart / "values.yaml").write_text("greeting: hello\n")
    kube_cluster.helm("install", "probe", str(chart), "-n", kube_namespace, "--wait=false")
    data = kube_cluster.kubectl(
        "get", "configmap", "probe-cm", "-n", kube_namespace, "-o", "jsonpath={.data.greeting}"
    ).stdout
    assert data == "hello"


def test_teardown_leaves_no_processes_even_when_the_body_fails(
    kube_binaries: dict[str, Path], tmp_path: Path
) -> None:
    # A second, short-lived control plane (independent of the session one).
    cluster = LocalCluster(tmp_path / "second", kube_binaries)
    with pytest.raises(RuntimeError, match="test body failed"), cluster:
        pids = cluster.pids
        assert len(pids) == 2 and all(_pid_exists(p) for p in pids)
        cluster.kubectl("get", "namespaces")
        raise RuntimeError("test body failed")
    assert not any(_pid_exists(p) for p in pids)
    assert not (tmp_path / "second" / "etcd-data").exists()
    assert cluster.processes == []


def test_etcd_in_memory_keeps_its_data_off_the_disk_and_removes_it(
    kube_binaries: dict[str, Path], tmp_path: Path
) -> None:
    # The benchmarks' shape: etcd's throwaway data on /dev/shm, gone when the cluster stops.
    if not Path("/dev/shm").is_dir():
        pytest.skip("no /dev/shm on this machine: etcd's data stays in the workdir")
    with LocalCluster(tmp_path / "memory", kube_binaries, etcd_in_memory=True) as cluster:
        cluster.kubectl("create", "namespace", "in-memory")
        etcd_dir = cluster._etcd_data_dir()
        assert etcd_dir.is_relative_to("/dev/shm") and (etcd_dir / "member").is_dir()
        assert not (tmp_path / "memory" / "etcd-data").exists()
    assert not etcd_dir.parent.exists()
