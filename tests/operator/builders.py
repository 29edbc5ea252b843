"""Manifests for the operator tests."""

from __future__ import annotations

from typing import Any

from tests.cluster.workloads import H100, deployment_of, gpu_pod, karpenter_nodepool
from tests.core.builders import export_policy

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
    rule = {
        "id": f"{name}-advanced",
        "citation": "test policy",
        "effective": "2024-01-01",
        "match": {"accelerators": {"classifications": ["3A090.a"]}},
        "jurisdictions": {"anyIn": list(any_in)},
        "message": "{subject} is not available to {tenant} (test policy).",
    }
    return export_policy(name, rule, version=version, labels=SUITE_LABEL, enforcementAction=action)


def endpoint(name: str, *, provider: str, model: str, region: str | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {"provider": provider, "model": model}
    if region:
        spec["region"] = region
    return {"apiVersion": API, "kind": "ModelEndpoint", "metadata": {"name": name}, "spec": spec}


def gpu_deployment(name: str, product: str = H100) -> dict[str, Any]:
    return deployment_of(gpu_pod(name, product))


def nodepool(name: str, tenant: str, family: str = "p5") -> dict[str, Any]:
    return karpenter_nodepool(name, {"exportgate.dev/tenant": tenant, **SUITE_LABEL}, family)
