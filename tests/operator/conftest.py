"""Fixtures for the operator's end-to-end tests.

`crds`: the generated CRDs (and wg-policy report CRDs) installed in the real test API server.
`operator`: the real operator, run in-process (kopf in a background thread) for the whole
session, authenticating with its own client certificate and bound to nothing but the generated
`exportgate-operator` ClusterRole, so every test also proves that role is enough.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest
import yaml
from exportgate_operator.runner import run_in_thread
from exportgate_operator.settings import OperatorConfig

from tests.cluster.local_cluster import LocalCluster
from tests.cluster.ports import free_port
from tests.operator.builders import SUITE_LABEL

REPO = Path(__file__).resolve().parents[2]
CRDS = REPO / "operator" / "crds"
RBAC = REPO / "operator" / "rbac"
DEPLOY = REPO / "operator" / "deploy"
OPERATOR_USER = "exportgate-operator"
REPORT_CAP = 3

T = TypeVar("T")


def wait_for(probe: Callable[[], T | None], timeout: float = 30.0, what: str = "") -> T:
    """Poll `probe` until it returns something truthy; fail with `what` after `timeout`."""
    deadline = time.monotonic() + timeout
    last: T | None = None
    while time.monotonic() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(0.25)
    pytest.fail(f"timed out after {timeout}s waiting for {what or probe}; last: {last!r}")


def get(cluster: LocalCluster, kind: str, name: str, namespace: str | None = None) -> Any:
    args = ["get", kind, name, "-o", "json", "--ignore-not-found"]
    if namespace:
        args += ["-n", namespace]
    out = cluster.kubectl(*args).stdout.strip()
    return json.loads(out) if out else None


@pytest.fixture(scope="session")
def crds(kube_cluster: LocalCluster) -> LocalCluster:
    kube_cluster.install_crds([CRDS, CRDS / "optional"])
    return kube_cluster


@dataclass(frozen=True)
class OperatorHandle:
    cluster: LocalCluster
    config: OperatorConfig

    def tenant_namespace(self, tenant: str) -> str:
        """A fresh namespace belonging to `tenant` (labelled exportgate.dev/tenant)."""
        name = f"{tenant}-{uuid.uuid4().hex[:6]}"
        self.cluster.create_namespace(name, labels={"exportgate.dev/tenant": tenant})
        return name

    def get(self, kind: str, name: str, namespace: str | None = None) -> Any:
        return get(self.cluster, kind, name, namespace)

    def verification(self, tenant: str) -> str | None:
        """The Tenant's status.verification as the operator last wrote it (None: not yet)."""
        found = self.get("tenant", tenant) or {}
        value: str | None = found.get("status", {}).get("verification")
        return value


@pytest.fixture(scope="package")
def operator(
    crds: LocalCluster, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[OperatorHandle]:
    # The generated roles other than the operator's own; remove again at the end those this
    # suite created, so a later suite (the chart's `helm install`) can own them.
    shipped = sorted(
        doc["metadata"]["name"]
        for path in RBAC.glob("*.yaml")
        for doc in yaml.safe_load_all(path.read_text())
        if doc
    )
    created = [
        name for name in shipped
        if crds.kubectl("get", "clusterrole", name, check=False).returncode != 0
    ]
    crds.apply(RBAC)
    crds.apply(DEPLOY)
    crds.apply(
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": "exportgate-operator-test"},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": "exportgate-operator",
            },
            "subjects": [
                {"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": OPERATOR_USER}
            ],
        }
    )
    workdir = tmp_path_factory.mktemp("operator")
    config = OperatorConfig(
        kubeconfig=str(crds.user_kubeconfig(OPERATOR_USER)),
        liveness=f"http://127.0.0.1:{free_port()}/healthz",
        decision_log=str(workdir / "decisions.log"),
        report_max_results=REPORT_CAP,
        resync_seconds=60.0,
        # Compute accounting runs on its own clock in tests/operator/test_accounting.py; the
        # shared operator leaves it off so its wall-clock passes cannot change those figures.
        compute_interval=0.0,
    )
    try:
        with run_in_thread(config):
            yield OperatorHandle(crds, config)
    finally:
        # The operator is gone (package scope): nothing of this suite acts on other suites'
        # objects. Remove the cluster-scoped objects it created; namespaces stay Terminating
        # without a controller-manager, as the cluster fixture documents.
        selector = ",".join(f"{k}={v}" for k, v in SUITE_LABEL.items())
        crds.kubectl("delete", "tenants,exportpolicies,nodes", "-l", selector,
                     "--ignore-not-found", "--wait=false", check=False)
        # The per-tenant reader roles the operator made: the test API server has no garbage
        # collector to follow their ownerReferences to the Tenants just deleted.
        crds.kubectl("delete", "clusterroles,clusterrolebindings",
                     "-l", "app.kubernetes.io/managed-by=exportgate-operator",
                     "--ignore-not-found", "--wait=false", check=False)
        for name in created:
            crds.kubectl("delete", "clusterrole", name, "--ignore-not-found", "--wait=false",
                         check=False)
        if crds.kubectl("get", "crd", "nodepools.karpenter.sh", check=False).returncode == 0:
            crds.kubectl("delete", "nodepools.karpenter.sh", "-l", selector,
                         "--ignore-not-found", "--wait=false", check=False)
