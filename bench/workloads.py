"""The review mix as what the decision core sees: (object, tenant name) pairs and Workloads."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from bench.harness import EXAMPLE_TENANTS, NAMESPACE_TENANTS
from bench.reviews import MIX
from exportgate.core.extract import AdapterRegistry
from exportgate.core.tenants import load_tenant_file
from exportgate.core.types import Tenant, Workload


def tenant_of(obj: dict[str, Any]) -> str:
    metadata = obj["metadata"]
    if "namespace" in metadata:
        return NAMESPACE_TENANTS.get(metadata["namespace"], "")
    return str(metadata.get("labels", {}).get("exportgate.dev/tenant", ""))


def objects(count: int, *, guarded_only: bool = True) -> Iterator[dict[str, Any]]:
    """`count` objects following MIX, every one distinct (a re-audit sees each object once)."""
    builders = [
        builder
        for _, weight, builder, guarded in MIX
        if guarded or not guarded_only
        for _ in range(weight)
    ]
    for i in range(count):
        yield builders[i % len(builders)](i)


def example_tenants() -> dict[str, Tenant]:
    return {t.name: t for t in load_tenant_file(EXAMPLE_TENANTS)}


def extracted(count: int, *, guarded_only: bool = True) -> list[tuple[Workload, str]]:
    registry = AdapterRegistry.builtin()
    return [
        (registry.extract(obj), tenant_of(obj)) for obj in objects(count, guarded_only=guarded_only)
    ]
