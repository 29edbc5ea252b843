"""Publish: what a re-audit concluded, written where people look (blocking calls).

* a workload that would now be denied gets the annotation `exportgate.dev/violation`
  (`<rule> decision=<id>`) and `exportgate.dev/violation-message`, and a Warning Event;
* a workload whose violation is gone loses the annotations and gets a Normal Event;
* a ModelEndpoint's status carries its verdict;
* each audited namespace's PolicyReport and each tenant's ClusterPolicyReport are rewritten.

Nothing is ever deleted or scaled down: the operator reports, people decide.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from exportgate.core.types import Action
from exportgate.logsetup import get_logger
from exportgate_operator import reports
from exportgate_operator.decide import AuditOutcome
from exportgate_operator.events import EventPoster
from exportgate_operator.kinds import (
    CLUSTER_POLICY_REPORTS,
    ENDPOINTS,
    POLICY_REPORTS,
    Resource,
    ref,
)
from exportgate_operator.kube import Kube, KubeError
from exportgate_operator.settings import OperatorConfig
from exportgate_operator.status import endpoint_status

VIOLATION = "exportgate.dev/violation"
VIOLATION_MESSAGE = "exportgate.dev/violation-message"

log = get_logger(__name__)


def violation_value(rule: str | None, decision_id: str) -> str:
    return f"{rule or 'unknown-rule'} decision={decision_id}"


class Publisher:
    def __init__(
        self,
        kube: Kube,
        config: OperatorConfig,
        events: EventPoster,
        served: Callable[[Resource], bool],
        resource_for: Callable[[str, str], Resource | None],
    ) -> None:
        self.kube = kube
        self.config = config
        self.events = events
        self.served = served
        self.resource_for = resource_for

    def publish(self, outcome: AuditOutcome, reason: str) -> None:
        for obj, item in zip(outcome.objects, outcome.items, strict=True):
            self._mark(obj, item, reason, outcome.at)
        for obj in outcome.unguarded:
            self._clear(obj, reason, None)
        self._write_reports(outcome)

    # --- one object ---------------------------------------------------------------------

    def _mark(
        self, obj: dict[str, Any], item: reports.Audited, reason: str, now: datetime
    ) -> None:
        annotations = obj["metadata"].get("annotations") or {}
        current = annotations.get(VIOLATION)
        decision = item.decision
        if obj["kind"] == ENDPOINTS.kind:
            self._endpoint_status(obj, item, now)
        if decision.action is not Action.DENY:
            self._clear(obj, reason, item.decision_id)
            return
        rule = decision.rule_id or "unknown-rule"
        if current and current.split(" ", 1)[0] == rule:
            return  # already marked for this rule: no new Event, no churn
        message = decision.message[: self.config.message_max_chars]
        self._annotate(
            obj,
            {VIOLATION: violation_value(rule, item.decision_id), VIOLATION_MESSAGE: message},
        )
        self.events.post(
            obj,
            "Warning",
            "ExportControlViolation",
            f"re-audit ({reason}): {message} [rule {rule}, decision {item.decision_id}]",
        )

    def _clear(self, obj: dict[str, Any], reason: str, decision_id: str | None) -> None:
        annotations = obj["metadata"].get("annotations") or {}
        if VIOLATION not in annotations:
            return
        self._annotate(obj, {VIOLATION: None, VIOLATION_MESSAGE: None})
        suffix = f" [decision {decision_id}]" if decision_id else ""
        self.events.post(
            obj,
            "Normal",
            "ExportControlViolationResolved",
            f"re-audit ({reason}): no export-control rule blocks this object any more{suffix}",
        )

    def _annotate(self, obj: Mapping[str, Any], annotations: Mapping[str, str | None]) -> None:
        resource = self.resource_for(obj["apiVersion"], obj["kind"])
        if resource is None:
            return
        meta = obj["metadata"]
        try:
            self.kube.merge_patch(
                resource,
                meta["name"],
                {"metadata": {"annotations": dict(annotations)}},
                namespace=meta.get("namespace"),
            )
        except KubeError as exc:
            if not exc.not_found:  # deleted meanwhile: nothing to annotate
                log.warning("cannot annotate", object=ref(obj), error=str(exc))

    def _endpoint_status(
        self, obj: Mapping[str, Any], item: reports.Audited, now: datetime
    ) -> None:
        existing = obj.get("status") or {}
        if (
            existing.get("decision") == item.decision.action.value
            and existing.get("rule") == item.decision.rule_id
            and existing.get("message") == item.decision.message[:4096]
        ):
            return
        status = endpoint_status(
            item.decision,
            item.decision_id,
            now,
            generation=obj["metadata"].get("generation"),
            existing=existing,
        )
        try:
            self.kube.merge_patch(
                ENDPOINTS,
                obj["metadata"]["name"],
                {"status": status},
                namespace=obj["metadata"]["namespace"],
                sub="status",
            )
        except KubeError as exc:
            if not exc.not_found:
                log.warning("cannot update endpoint status", object=ref(obj), error=str(exc))

    # --- reports ------------------------------------------------------------------------

    def _write_reports(self, outcome: AuditOutcome) -> None:
        namespaced_ok = self.served(POLICY_REPORTS)
        cluster_ok = self.served(CLUSTER_POLICY_REPORTS)
        if not (namespaced_ok or cluster_ok):
            log.info("wgpolicyk8s.io reports not installed; skipping reports")
            return
        by_namespace, by_tenant = reports.scopes(outcome.items, outcome.namespaces,
                                                 outcome.tenants)
        scoped = [
            (namespace, reports.REPORT_NAME, outcome.namespaces.get(namespace), items)
            for namespace, items in sorted(by_namespace.items())
            if namespaced_ok
        ] + [
            (None, f"exportgate-{tenant}", tenant, items)
            for tenant, items in sorted(by_tenant.items())
            if cluster_ok
        ]
        try:
            for namespace, name, tenant, items in scoped:
                report = reports.build_report(
                    items,
                    outcome.at,
                    namespace=namespace,
                    scope_tenant=tenant,
                    max_results=self.config.report_max_results,
                    max_chars=self.config.message_max_chars,
                    name=name,
                )
                reports.write_report(self.kube, report)
        except KubeError as exc:
            log.warning("cannot write policy report", error=str(exc))
