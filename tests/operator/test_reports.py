"""PolicyReport building: bounded size, failures first, a summary that counts everything."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from exportgate_operator.reports import OMITTED_ANNOTATION, Audited, build_report

from exportgate.core.engine import PolicyEngine
from exportgate.core.tenants import parse_tenant
from exportgate.core.types import AcceleratorRequest, ObjectRef, Operator, ProductHint, Workload
from tests.operator.builders import tenant

NOW = datetime(2026, 6, 1, tzinfo=UTC)
ENGINE = PolicyEngine.build()


def audited(name: str, product: str, tenant_doc: dict[str, object]) -> Audited:
    workload = Workload(
        ref=ObjectRef("v1", "Pod", name, "ns"),
        accelerators=(
            AcceleratorRequest(
                "nvidia.com/gpu", 1,
                (ProductHint("nvidia.com/gpu.product", Operator.IN, (product,)),),
            ),
        ),
    )
    decision = ENGINE.evaluate(workload, parse_tenant(tenant_doc), NOW)
    return Audited("v1", "Pod", name, "ns", f"uid-{name}", "t", decision, f"id-{name}")


def test_failures_first_and_capped() -> None:
    restricted = tenant("r", parent_hq="CN")
    items = [audited(f"ok-{i}", "Tesla-T4", tenant("a")) for i in range(5)]
    items += [audited(f"bad-{i}", "NVIDIA-H100-80GB-HBM3", restricted) for i in range(4)]
    report = build_report(items, NOW, namespace="ns", max_results=3, max_chars=40)
    assert report["summary"] == {"pass": 5, "fail": 4, "warn": 0, "error": 0, "skip": 0}
    assert [r["result"] for r in report["results"]] == ["fail", "fail", "fail"]
    assert report["metadata"]["annotations"][OMITTED_ANNOTATION] == "6"
    assert all(len(r["message"]) <= 40 for r in report["results"])
    assert report["results"][0]["properties"]["decisionId"] == "id-bad-0"
    assert report["kind"] == "PolicyReport"


def test_size_stays_far_below_the_etcd_limit() -> None:
    restricted = tenant("r", parent_hq="CN")
    item = audited("bad", "NVIDIA-H100-80GB-HBM3", restricted)
    report = build_report([item] * 50_000, NOW, namespace=None, name="exportgate-r")
    assert report["kind"] == "ClusterPolicyReport"
    assert report["summary"]["fail"] == 50_000
    assert len(json.dumps(report)) < 512 * 1024
