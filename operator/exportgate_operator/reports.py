"""wg-policy PolicyReport / ClusterPolicyReport objects (wgpolicyk8s.io/v1alpha2).

One PolicyReport named `exportgate` per audited namespace, and one ClusterPolicyReport per tenant
(`exportgate-<tenant>`) for its cluster-scoped objects (node pools). A report is rewritten whole
on each re-audit of its scope.

Size is bounded so a report can never approach etcd's object limit (1.5 MiB by default): at
most `max_results` results are kept, failures first, then warnings, then passes, and every
message is cut to `max_chars`. The summary still counts every object, and the annotation
`exportgate.dev/results-omitted` says how many results were left out.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from exportgate.core.decision import Decision
from exportgate.core.tenancy import TENANT_LABEL
from exportgate.core.types import Action
from exportgate_operator.kinds import CLUSTER_POLICY_REPORTS, POLICY_REPORTS
from exportgate_operator.kube import Kube, KubeError

SOURCE = "exportgate"
REPORT_NAME = "exportgate"
OMITTED_ANNOTATION = "exportgate.dev/results-omitted"
MANAGED_LABELS = {"app.kubernetes.io/managed-by": "exportgate-operator"}

_RESULT = {
    Action.ALLOW: "pass",
    Action.DRYRUN: "warn",
    Action.WARN: "warn",
    Action.DENY: "fail",
}
_ORDER = {"fail": 0, "error": 1, "warn": 2, "pass": 3, "skip": 4}


@dataclass(frozen=True, slots=True)
class Audited:
    """One object's re-audit verdict."""

    api_version: str
    kind: str
    name: str
    namespace: str | None
    uid: str | None
    tenant: str | None
    decision: Decision
    decision_id: str

    @property
    def result(self) -> str:
        return _RESULT[self.decision.action]


def _result(item: Audited, now: datetime, max_chars: int) -> dict[str, Any]:
    primary = item.decision.primary
    resource: dict[str, Any] = {
        "apiVersion": item.api_version,
        "kind": item.kind,
        "name": item.name,
    }
    if item.namespace:
        resource["namespace"] = item.namespace
    if item.uid:
        resource["uid"] = item.uid
    properties = {"decisionId": item.decision_id, "decision": item.decision.action.value}
    if item.tenant:
        properties["tenant"] = item.tenant
    if item.decision.citation:
        properties["citation"] = item.decision.citation[:max_chars]
    found: dict[str, Any] = {
        "source": SOURCE,
        "policy": primary.policy if primary else "exportgate",
        "rule": primary.rule_id if primary else "admitted",
        "category": "Export Controls",
        "severity": "high" if item.result == "fail" else "info",
        "result": item.result,
        "scored": True,
        "timestamp": {"seconds": int(now.timestamp()), "nanos": 0},
        "message": item.decision.message[:max_chars],
        "resources": [resource],
        "properties": properties,
    }
    return found


def scopes(
    items: Sequence[Audited], namespaces: Mapping[str, str], tenants: Iterable[str]
) -> tuple[dict[str, list[Audited]], dict[str, list[Audited]]]:
    """The results of each report: per audited namespace, and per tenant for its cluster-scoped
    objects. Every audited scope is present, even empty, so old results disappear."""
    by_namespace: dict[str, list[Audited]] = {ns: [] for ns in namespaces}
    by_tenant: dict[str, list[Audited]] = {name: [] for name in tenants if name}
    for item in items:
        if item.namespace:
            by_namespace.setdefault(item.namespace, []).append(item)
        elif item.tenant:
            by_tenant.setdefault(item.tenant, []).append(item)
    return by_namespace, by_tenant


def build_report(
    items: Sequence[Audited],
    now: datetime,
    *,
    namespace: str | None,
    name: str = REPORT_NAME,
    scope_tenant: str | None = None,
    max_results: int = 100,
    max_chars: int = 1024,
) -> dict[str, Any]:
    summary = {"pass": 0, "fail": 0, "warn": 0, "error": 0, "skip": 0}
    for item in items:
        summary[item.result] += 1
    ordered = sorted(items, key=lambda i: (_ORDER[i.result], i.kind, i.namespace or "", i.name))
    kept = ordered[:max_results]
    omitted = len(ordered) - len(kept)
    labels = dict(MANAGED_LABELS)
    if scope_tenant:
        labels[TENANT_LABEL] = scope_tenant
    metadata: dict[str, Any] = {
        "name": name,
        "labels": labels,
        "annotations": {OMITTED_ANNOTATION: str(omitted)},
    }
    resource = POLICY_REPORTS if namespace else CLUSTER_POLICY_REPORTS
    if namespace:
        metadata["namespace"] = namespace
    return {
        "apiVersion": resource.api_version,
        "kind": resource.kind,
        "metadata": metadata,
        "summary": summary,
        "results": [_result(item, now, max_chars) for item in kept],
    }


def write_report(kube: Kube, report: dict[str, Any]) -> None:
    """Create the report, or replace the existing one whole (results are not merged)."""
    namespace = report["metadata"].get("namespace")
    resource = POLICY_REPORTS if namespace else CLUSTER_POLICY_REPORTS
    name = report["metadata"]["name"]
    try:
        current = kube.request("GET", resource.path(namespace, name))
    except KubeError as exc:
        if not exc.not_found:
            raise
        kube.request("POST", resource.path(namespace), body=report)
        return
    report = {
        **report,
        "metadata": {
            **report["metadata"],
            "resourceVersion": current["metadata"]["resourceVersion"],
        },
    }
    kube.request("PUT", resource.path(namespace, name), body=report)
