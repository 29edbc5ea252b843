"""Where tenants and policies become a snapshot (shared by the sidecar and the operator)."""

from __future__ import annotations

from exportgate.core.tenants import parse_tenant
from exportgate.world.assembly import Assembly, build_engine, duplicates
from exportgate.world.snapshot import TenantRecord
from tests.operator.builders import tenant


def test_no_snapshot_until_an_engine_is_set() -> None:
    assembly = Assembly()
    assert assembly.snapshot() is None
    assembly.set_engine(build_engine([]), 0)
    assert assembly.snapshot() is not None


def test_an_unchanged_input_keeps_the_snapshot_and_the_revision() -> None:
    assembly = Assembly()
    assembly.set_engine(build_engine([]), 0)
    record = TenantRecord(parse_tenant(tenant("a")), "Tenant/a")
    assembly.set_tenants([record])
    first = assembly.snapshot()
    assembly.set_tenants([TenantRecord(parse_tenant(tenant("a")), "Tenant/a")])
    assert assembly.snapshot(first) is first
    assembly.set_tenants([TenantRecord(parse_tenant(tenant("a", hq="FR")), "Tenant/a")])
    second = assembly.snapshot(first)
    assert second is not first and second is not None and first is not None
    assert second.tenants["a"].revision > first.tenants["a"].revision
    assert second.generation == first.generation + 1


def test_duplicates_name_both_origins() -> None:
    a = TenantRecord(parse_tenant(tenant("a")), "one.yaml")
    again = TenantRecord(parse_tenant(tenant("a")), "two.yaml")
    assert duplicates([a, again]) == ["tenant 'a' is defined twice (one.yaml and two.yaml)"]


def test_invalid_and_duplicated_tenants_are_invalid_alone() -> None:
    """Issue 11: per tenant, never the whole set frozen."""
    from exportgate.core.engine import PolicyEngine
    from exportgate.world.snapshot import TenantRecord
    from tests.core.builders import make_tenant

    assembly = Assembly()
    assembly.set_engine(PolicyEngine.build(), 0)
    a, b = make_tenant("a"), make_tenant("b")
    assembly.set_tenants(
        [TenantRecord(a, "one.yaml"), TenantRecord(a, "two.yaml"), TenantRecord(b, "one.yaml")],
        invalid={"c": "spec.incorporation: 'XX' is not a country"},
    )
    snapshot = assembly.snapshot()
    assert snapshot is not None
    assert set(snapshot.tenants) == {"b"}
    assert set(snapshot.invalid_tenants) == {"a", "c"}
    assert "defined twice" in snapshot.invalid_tenants["a"]
