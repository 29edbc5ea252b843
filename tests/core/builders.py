"""Builders for decision-core tests: real Tenant and Workload objects through the real parsers.

Tenants are built as the Tenant custom-resource dict and parsed with `parse_tenant`, so every
test also exercises the schema and the country-code checks a real tenant record goes through.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from exportgate.core.engine import PolicyEngine
from exportgate.core.tenants import parse_tenant
from exportgate.core.types import (
    AcceleratorRequest,
    Action,
    ModelRequest,
    ObjectRef,
    Operator,
    ProductHint,
    Tenant,
    Workload,
)

# A day on which the default packs are all in force and example verifications are current.
NOW = datetime(2026, 7, 1, 12, 0, tzinfo=UTC)
VERIFIED_AT = "2026-01-01T00:00:00Z"
EXPIRES_AT = "2027-01-01T00:00:00Z"

GFD = "nvidia.com/gpu.product"
INSTANCE_TYPE = "node.kubernetes.io/instance-type"
KARPENTER_FAMILY = "karpenter.k8s.aws/instance-family"
KARPENTER_CATEGORY = "karpenter.k8s.aws/instance-category"
KARPENTER_GPU_NAME = "karpenter.k8s.aws/instance-gpu-name"
GKE_ACCELERATOR = "cloud.google.com/gke-accelerator"

# GPU Feature Discovery product labels (nvidia.com/gpu.product) of parts the tests often name.
H100 = "NVIDIA-H100-80GB-HBM3"  # 3A090.a
A30 = "NVIDIA-A30"  # 3A090.b
H20 = "NVIDIA-H20"  # outside 3A090 by numbers, named by is-informed letters
T4 = "Tesla-T4"  # outside 3A090
# Rule ids of the default packs the tests often expect.
D5_MACAU = "ear-3a090-d5-macau"
D1_D4 = "ear-3a090-d1-d4"
H20_RULE = "ear-h20-is-informed"


def tenant_doc(
    name: str = "acme",
    *,
    incorporation: str = "SG",
    headquarters: str | None = None,
    parent: str | None = None,
    end_customers: Sequence[Mapping[str, str]] = (),
    state: str = "Verified",
    verified_at: str | None = VERIFIED_AT,
    expires_at: str | None = EXPIRES_AT,
    licences: Sequence[Mapping[str, Any]] = (),
    legal_name: str | None = None,
    owners: Sequence[Mapping[str, Any]] = (),
    listed_on: Sequence[str] = (),
) -> dict[str, Any]:
    """A Tenant resource dict; `headquarters` defaults to the country of incorporation."""
    verification: dict[str, Any] = {"state": state, "evidenceRef": f"kyc-{name}"}
    if verified_at:
        verification["verifiedAt"] = verified_at
    if expires_at:
        verification["expiresAt"] = expires_at
    spec: dict[str, Any] = {
        "legalName": legal_name or f"{name.capitalize()} Ltd.",
        "incorporation": incorporation,
        "headquarters": headquarters or incorporation,
        "verification": verification,
    }
    if parent:
        spec["ultimateParent"] = {"name": f"{parent} Holdings", "headquarters": parent}
    if end_customers:
        spec["resale"] = {"endCustomers": [dict(c) for c in end_customers]}
    if licences:
        spec["licenses"] = [dict(lic) for lic in licences]
    if owners:
        spec["ownership"] = {"owners": [dict(o) for o in owners]}
    if listed_on:
        spec["listedOn"] = list(listed_on)
    return {
        "apiVersion": "exportgate.dev/v1alpha1",
        "kind": "Tenant",
        "metadata": {"name": name},
        "spec": spec,
    }


def export_policy(
    name: str,
    *rules: Mapping[str, Any],
    version: str = "1",
    labels: Mapping[str, str] | None = None,
    **spec: Any,
) -> dict[str, Any]:
    """An ExportPolicy resource dict with `rules` and any other spec fields (camelCase)."""
    metadata: dict[str, Any] = {"name": name}
    if labels is not None:
        metadata["labels"] = dict(labels)
    return {
        "apiVersion": "exportgate.dev/v1alpha1",
        "kind": "ExportPolicy",
        "metadata": metadata,
        "spec": {"version": version, **spec, "rules": [dict(r) for r in rules]},
    }


def make_tenant(name: str = "acme", **kwargs: Any) -> Tenant:
    return parse_tenant(tenant_doc(name, **kwargs), source=f"test:{name}")


def hint(key: str, *values: str, operator: Operator = Operator.IN) -> ProductHint:
    return ProductHint(key, operator, tuple(values))


def gpu(
    *hints: ProductHint, resource: str = "nvidia.com/gpu", count: int = 1
) -> AcceleratorRequest:
    return AcceleratorRequest(resource, count, tuple(hints), source="spec.containers[0]")


def pinned(product_label: str, resource: str = "nvidia.com/gpu") -> AcceleratorRequest:
    """A GPU pinned with a GPU Feature Discovery nodeSelector."""
    return gpu(hint(GFD, product_label), resource=resource)


def workload(
    *accelerators: AcceleratorRequest,
    models: Sequence[str] = (),
    kind: str = "Pod",
    name: str = "w",
    namespace: str | None = "team",
    tenant_label: str | None = None,
) -> Workload:
    api_version = "v1" if kind == "Pod" else "karpenter.sh/v1"
    return Workload(
        ref=ObjectRef(api_version, kind, name, namespace),
        accelerators=tuple(accelerators),
        models=tuple(ModelRequest(m, source="spec.model") for m in models),
        tenant_label=tenant_label,
    )


def nodepool(*hints: ProductHint, name: str = "pool") -> Workload:
    return workload(gpu(*hints, resource="nodepool"), kind="NodePool", name=name, namespace=None)


def model(reference: str) -> Workload:
    return workload(models=[reference], kind="Pod")


def verdict(
    engine: PolicyEngine,
    tenant: Tenant | None,
    product: str | None = H100,
    *,
    models: Sequence[str] = (),
    at: datetime = NOW,
) -> tuple[Action, str | None]:
    """(action, deciding rule id) for a pod pinned to `product` (none: no GPU) asking for
    `models`, as the engine decides it for `tenant` at `at`."""
    accelerators = [pinned(product)] if product else []
    decision = engine.evaluate(workload(*accelerators, models=models), tenant, at)
    return decision.action, decision.rule_id
