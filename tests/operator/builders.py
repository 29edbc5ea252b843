"""Manifests for the operator tests."""

from __future__ import annotations

from typing import Any

API = "exportgate.dev/v1alpha1"
# Every cluster-scoped object these tests create carries this label, so the suite can remove
# them when it is done and leave the shared test cluster as it found it.
SUITE_LABEL = {"exportgate.test/suite": "operator"}


def tenant(
    name: str,
    *,
    hq: str = "SG",
    incorporation: str | None = None,
    parent_hq: str | None = None,
    state: str = "Verified",
    verified: str = "2025-01-01T00:00:00Z",
    expires: str | None = "2030-01-01T00:00:00Z",
) -> dict[str, Any]:
    verification: dict[str, Any] = {"state": state, "evidenceRef": f"kyc-{name}"}
    if verified:
        verification["verifiedAt"] = verified
    if expires:
        verification["expiresAt"] = expires
    spec: dict[str, Any] = {
        "legalName": f"{name} Pte. Ltd.",
        "incorporation": incorporation or hq,
        "headquarters": hq,
        "verification": verification,
    }
    if parent_hq:
        spec["ultimateParent"] = {"name": f"{name} Holdings", "headquarters": parent_hq}
    return {
        "apiVersion": API,
        "kind": "Tenant",
        "metadata": {"name": name, "labels": dict(SUITE_LABEL)},
        "spec": spec,
    }


def policy(name: str, *, version: str = "1", action: str = "deny",
           any_in: tuple[str, ...] = ("AQ",)) -> dict[str, Any]:
    """A policy denying 3A090.a accelerators to tenants in `any_in` (by default Antarctica,
    where no test tenant is, so a policy left behind cannot change another test's verdicts)."""
    return {
        "apiVersion": API,
        "kind": "ExportPolicy",
        "metadata": {"name": name, "labels": dict(SUITE_LABEL)},
        "spec": {
            "version": version,
            "enforcementAction": action,
            "rules": [
                {
                    "id": f"{name}-advanced",
                    "citation": "test policy",
                    "effective": "2024-01-01",
                    "match": {"accelerators": {"classifications": ["3A090.a"]}},
                    "jurisdictions": {"anyIn": list(any_in)},
                    "message": "{subject} is not available to {tenant} (test policy).",
                }
            ],
        },
    }


def endpoint(name: str, *, provider: str, model: str, region: str | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {"provider": provider, "model": model}
    if region:
        spec["region"] = region
    return {"apiVersion": API, "kind": "ModelEndpoint", "metadata": {"name": name}, "spec": spec}


def gpu_pod(name: str, product: str = "NVIDIA-H100-80GB-HBM3") -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name},
        "spec": {
            "nodeSelector": {"nvidia.com/gpu.product": product},
            "containers": [
                {
                    "name": "train",
                    "image": "registry.example/train:1",
                    "resources": {"limits": {"nvidia.com/gpu": "1"}},
                }
            ],
        },
    }


def gpu_deployment(name: str, product: str = "NVIDIA-H100-80GB-HBM3") -> dict[str, Any]:
    pod = gpu_pod(name, product)
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}}, "spec": pod["spec"]},
        },
    }


def nodepool(name: str, tenant: str, family: str = "p5") -> dict[str, Any]:
    return {
        "apiVersion": "karpenter.sh/v1",
        "kind": "NodePool",
        "metadata": {"name": name, "labels": {"exportgate.dev/tenant": tenant, **SUITE_LABEL}},
        "spec": {
            "template": {
                "spec": {
                    "nodeClassRef": {
                        "group": "karpenter.k8s.aws",
                        "kind": "EC2NodeClass",
                        "name": "default",
                    },
                    "requirements": [
                        {
                            "key": "karpenter.k8s.aws/instance-family",
                            "operator": "In",
                            "values": [family],
                        }
                    ],
                }
            }
        },
    }
