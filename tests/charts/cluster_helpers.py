"""Installing the chart into the real test API server and creating objects as a tenant."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import yaml

from tests.charts.chart import CHART
from tests.cluster.local_cluster import LocalCluster

TENANT_USER = "alice@nimbus.example"


def helm_install(
    cluster: LocalCluster, release: str, namespace: str, values_file: Path
) -> subprocess.CompletedProcess[str]:
    # No --wait: without a kubelet the pods never become ready; acceptance is what we test.
    return cluster.helm(
        "install",
        release,
        str(CHART),
        "--namespace",
        namespace,
        "--create-namespace",
        "--values",
        str(values_file),
        "--timeout",
        "120s",
    )


def helm_uninstall(cluster: LocalCluster, release: str, namespace: str) -> None:
    cluster.helm("uninstall", release, "--namespace", namespace, "--wait=false", check=False)


def get(cluster: LocalCluster, kind: str, name: str, namespace: str | None = None) -> Any:
    args = ["get", kind, name, "-o", "json"]
    if namespace:
        args += ["-n", namespace]
    return json.loads(cluster.kubectl(*args).stdout)


def tenant_namespace(cluster: LocalCluster, name: str, tenant: str) -> None:
    """A namespace bound to `tenant`, where TENANT_USER may create workloads.

    (The built-in `edit` role is empty here: aggregating it is the controller-manager's job.)
    """
    cluster.create_namespace(name, labels={"exportgate.dev/tenant": tenant})
    cluster.apply(
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "Role",
            "metadata": {"name": "tenant-edit", "namespace": name},
            "rules": [
                {
                    "apiGroups": ["", "apps", "batch"],
                    "resources": ["pods", "deployments", "jobs", "cronjobs"],
                    "verbs": ["get", "list", "create", "update", "patch", "delete"],
                }
            ],
        }
    )
    cluster.apply(
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": {"name": "tenant-edit", "namespace": name},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "Role",
                "name": "tenant-edit",
            },
            "subjects": [
                {"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": TENANT_USER}
            ],
        }
    )


def pod_from_template(
    cluster: LocalCluster, kind: str, name: str, namespace: str
) -> subprocess.CompletedProcess[str]:
    """Server-side dry-run create of a Pod made from `kind`/`name`'s pod template.

    No controller creates pods here, so this is how pod admission (priority class, service
    account, security context, volumes) runs for real on what the chart renders."""
    owner = get(cluster, kind, name, namespace)
    spec = owner["spec"]["jobTemplate"]["spec"] if kind == "cronjob" else owner["spec"]
    template = spec["template"]
    obj = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": f"{name}-probe",
            "namespace": namespace,
            "labels": template["metadata"]["labels"],
        },
        "spec": template["spec"],
    }
    return cluster.kubectl(
        "create", "--dry-run=server", "-f", "-", input=yaml.safe_dump(obj), check=False
    )


def pod(name: str, namespace: str, gpus: int = 0, product: str | None = None) -> dict[str, Any]:
    container: dict[str, Any] = {"name": "main", "image": "registry.example.com/app:1.0"}
    if gpus:
        container["resources"] = {"limits": {"nvidia.com/gpu": str(gpus)}}
    spec: dict[str, Any] = {"containers": [container]}
    if product:
        spec["nodeSelector"] = {"nvidia.com/gpu.product": product}
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace},
        "spec": spec,
    }


def create_as_tenant(
    cluster: LocalCluster, obj: dict[str, Any], *, dry_run: bool = False
) -> subprocess.CompletedProcess[str]:
    args = ["create", "-f", "-", "-o", "json"]
    if dry_run:
        args.append("--dry-run=server")
    return cluster.kubectl(
        *args, input=yaml.safe_dump(obj), as_user=TENANT_USER, check=False, timeout=30
    )
