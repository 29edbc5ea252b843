"""Re-audit existing workloads when what decides them changed (a tenant, a policy, the clock).

For every tenant concerned, the workloads in its namespaces (namespaces labelled
`exportgate.dev/tenant=<name>`) and its cluster-scoped node pools (objects carrying that label)
are decided again with the current engine, exactly as admission would decide them now:

* a workload that would now be denied gets the annotation `exportgate.dev/violation`
  (`<rule> decision=<id>`) and `exportgate.dev/violation-message`, and a Warning Event;
* a workload whose violation is gone loses the annotations and gets a Normal Event;
* every verdict is recorded in the decision log (operation AUDIT), and written to the
  namespace's PolicyReport / the tenant's ClusterPolicyReport.

Nothing is ever deleted or scaled down: the operator reports, people decide.
"""

from __future__ import annotations

import asyncio
import socket
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from exportgate.core.errors import InputError
from exportgate.core.extract import AdapterRegistry
from exportgate.core.tenancy import TENANT_LABEL, tenant_label
from exportgate.core.types import Action, Workload
from exportgate_operator import reports
from exportgate_operator.conditions import timestamp
from exportgate_operator.decisions import DecisionRecorder
from exportgate_operator.kinds import GuardedResources
from exportgate_operator.kube import (
    CLUSTER_POLICY_REPORTS,
    ENDPOINTS,
    EVENTS,
    NAMESPACES,
    PODS,
    POLICY_REPORTS,
    Kube,
    KubeError,
    Resource,
)
from exportgate_operator.logconfig import get_logger
from exportgate_operator.settings import OperatorConfig
from exportgate_operator.status import endpoint_status
from exportgate_operator.world import World

VIOLATION = "exportgate.dev/violation"
VIOLATION_MESSAGE = "exportgate.dev/violation-message"
COMPONENT = "exportgate-operator"
FINISHED_PHASES = frozenset({"Succeeded", "Failed"})

log = get_logger(__name__)


@dataclass(slots=True)
class TenantAudit:
    audited: int = 0
    violations: int = 0
    warnings: int = 0


@dataclass(slots=True)
class AuditOutcome:
    at: datetime
    tenants: dict[str, TenantAudit] = field(default_factory=dict)
    items: list[reports.Audited] = field(default_factory=list)


def tenant_of(obj: Mapping[str, Any]) -> str | None:
    return tenant_label(obj)


def violation_value(rule: str | None, decision_id: str) -> str:
    return f"{rule or 'unknown-rule'} decision={decision_id}"


def _running(obj: Mapping[str, Any]) -> bool:
    """Finished Pods and objects being deleted are history, not running workloads."""
    if (obj.get("metadata") or {}).get("deletionTimestamp"):
        return False
    if obj.get("kind") == PODS.kind:
        return (obj.get("status") or {}).get("phase") not in FINISHED_PHASES
    return True


class Auditor:
    def __init__(
        self,
        kube: Kube,
        world: World,
        recorder: DecisionRecorder,
        config: OperatorConfig,
        registry: AdapterRegistry | None = None,
    ) -> None:
        self.kube = kube
        self.world = world
        self.recorder = recorder
        self.config = config
        self.registry = registry or AdapterRegistry.builtin()
        self._lock = asyncio.Lock()
        self._served: dict[Resource, bool] = {}
        self.kinds = GuardedResources(kube, self.registry)
        self._instance = socket.gethostname()

    # --- discovery ----------------------------------------------------------------------

    def served(self, resource: Resource) -> bool:
        """Whether the API serves `resource`, asked once per kind and remembered when true (a
        missing CRD, e.g. Karpenter's, is asked about again next time)."""
        if not self._served.get(resource):
            try:
                self._served[resource] = self.kube.has_resource(resource)
            except KubeError as exc:
                log.warning("discovery failed", resource=resource.plural, error=str(exc))
                return False
        return self._served[resource]

    def tenant_namespaces(self, names: set[str] | None) -> dict[str, str]:
        """namespace -> tenant for the tenant namespaces this operator handles."""
        found: dict[str, str] = {}
        for ns in self.kube.each(NAMESPACES, label_selector=TENANT_LABEL):
            name = str(ns["metadata"]["name"])
            tenant = tenant_of(ns)
            if tenant is None or (names is not None and tenant not in names):
                continue
            if self.config.namespaces and name not in self.config.namespaces:
                continue
            found[name] = tenant
        return found

    def _collect(
        self, names: set[str] | None
    ) -> tuple[list[tuple[dict[str, Any], str | None]], dict[str, str]]:
        """(object, tenant) for every running workload of the tenants `names` (None: all), and
        the namespaces that were looked at."""
        objects: list[tuple[dict[str, Any], str | None]] = []
        namespaces = self.tenant_namespaces(names)
        resources = self.kinds.served()
        for namespace, tenant in sorted(namespaces.items()):
            for resource in resources:
                if not resource.namespaced:
                    continue
                objects += [
                    (obj, tenant) for obj in self.kube.each(resource, namespace) if _running(obj)
                ]
        for resource in resources:
            if resource.namespaced:
                continue
            for obj in self.kube.each(resource, label_selector=TENANT_LABEL):
                owner = tenant_of(obj)
                if owner and (names is None or owner in names) and _running(obj):
                    objects.append((obj, owner))
        return objects, namespaces

    # --- the audit ----------------------------------------------------------------------

    async def audit(self, names: Iterable[str] | None, reason: str) -> AuditOutcome:
        """Re-audit the workloads of the tenants `names` (None: every tenant)."""
        wanted = set(names) if names is not None else None
        async with self._lock:
            return await self._audit(wanted, reason)

    async def _audit(self, names: set[str] | None, reason: str) -> AuditOutcome:
        now = datetime.now(UTC)
        engine = self.world.engine
        objects, namespaces = await asyncio.to_thread(self._collect, names)
        dra = await asyncio.to_thread(self.kinds.dra_objects, [obj for obj, _ in objects])
        guarded: list[tuple[dict[str, Any], str | None, Workload]] = []
        unguarded: list[dict[str, Any]] = []
        for obj, tenant in objects:
            try:
                workload = self.registry.extract(obj, dra)
            except InputError as exc:
                log.warning("cannot extract workload", object=_ref(obj), error=exc.describe())
                continue
            if workload.guarded:
                guarded.append((obj, tenant, workload))
            else:
                unguarded.append(obj)
        decisions = [
            engine.evaluate(workload, self.world.tenant(tenant) if tenant else None, now,
                            tenant_name=tenant)
            for _, tenant, workload in guarded
        ]
        ids = await self.recorder.record(
            decisions,
            extra={"policyVersion": engine.version, "reason": reason},
            inputs=[(w, self.world.tenant(t) if t else None) for _, t, w in guarded],
        )
        outcome = AuditOutcome(at=now)
        everyone = names if names is not None else self.world.tenant_names()
        outcome.tenants = {name: TenantAudit() for name in everyone}
        for (obj, tenant, _), decision, decision_id in zip(guarded, decisions, ids, strict=True):
            meta = obj["metadata"]
            item = reports.Audited(
                api_version=obj["apiVersion"],
                kind=obj["kind"],
                name=meta["name"],
                namespace=meta.get("namespace"),
                uid=meta.get("uid"),
                tenant=tenant,
                decision=decision,
                decision_id=decision_id,
            )
            outcome.items.append(item)
            counts = outcome.tenants.setdefault(tenant or "", TenantAudit())
            counts.audited += 1
            counts.violations += decision.action is Action.DENY
            counts.warnings += decision.action in (Action.WARN, Action.DRYRUN)
        await asyncio.to_thread(self._apply, namespaces, guarded, outcome, unguarded, reason)
        log.info(
            "re-audit done",
            reason=reason,
            tenants=sorted(names) if names is not None else "all",
            audited=len(outcome.items),
            violations=sum(t.violations for t in outcome.tenants.values()),
            policy_version=engine.version,
        )
        return outcome

    def _apply(
        self,
        namespaces: dict[str, str],
        guarded: list[tuple[dict[str, Any], str | None, Workload]],
        outcome: AuditOutcome,
        unguarded: list[dict[str, Any]],
        reason: str,
    ) -> None:
        """Annotations, Events, ModelEndpoint statuses and reports (blocking API calls)."""
        for (obj, _, _), item in zip(guarded, outcome.items, strict=True):
            self._mark(obj, item, reason, outcome.at)
        for obj in unguarded:
            self._clear(obj, reason, None)
        self._write_reports(namespaces, outcome)

    def _mark(self, obj: dict[str, Any], item: reports.Audited, reason: str, now: datetime) -> None:
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
        self.event(
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
        self.event(
            obj,
            "Normal",
            "ExportControlViolationResolved",
            f"re-audit ({reason}): no export-control rule blocks this object any more{suffix}",
        )

    def _annotate(self, obj: Mapping[str, Any], annotations: Mapping[str, str | None]) -> None:
        resource = self.kinds.resource_for(obj["apiVersion"], obj["kind"])
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
                log.warning("cannot annotate", object=_ref(obj), error=str(exc))

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
                log.warning("cannot update endpoint status", object=_ref(obj), error=str(exc))

    def event(self, obj: Mapping[str, Any], type_: str, reason: str, message: str) -> None:
        """A core/v1 Event about `obj` (cluster-scoped objects' Events go to `default`)."""
        meta = obj["metadata"]
        namespace = meta.get("namespace") or "default"
        when = timestamp(datetime.now(UTC))
        involved = {"apiVersion": obj["apiVersion"], "kind": obj["kind"], "name": meta["name"]}
        if meta.get("namespace"):
            involved["namespace"] = meta["namespace"]
        if meta.get("uid"):
            involved["uid"] = meta["uid"]
        body = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"generateName": f"{meta['name']}.", "namespace": namespace},
            "involvedObject": involved,
            "type": type_,
            "reason": reason,
            "message": message[:1024],
            "source": {"component": COMPONENT},
            "reportingComponent": f"exportgate.dev/{COMPONENT}",
            "reportingInstance": self._instance[:128],
            "firstTimestamp": when,
            "lastTimestamp": when,
            "count": 1,
        }
        try:
            self.kube.request("POST", EVENTS.path(namespace), body=body)
        except KubeError as exc:
            log.warning("cannot post event", object=_ref(obj), reason=reason, error=str(exc))

    def _write_reports(self, namespaces: dict[str, str], outcome: AuditOutcome) -> None:
        namespaced_ok = self.served(POLICY_REPORTS)
        cluster_ok = self.served(CLUSTER_POLICY_REPORTS)
        if not (namespaced_ok or cluster_ok):
            log.info("wgpolicyk8s.io reports not installed; skipping reports")
            return
        # Every audited scope gets a report, even an empty one, so old results disappear.
        by_namespace: dict[str, list[reports.Audited]] = {ns: [] for ns in namespaces}
        by_tenant: dict[str, list[reports.Audited]] = defaultdict(list)
        for name in outcome.tenants:
            if name:
                by_tenant.setdefault(name, [])
        for item in outcome.items:
            if item.namespace:
                by_namespace.setdefault(item.namespace, []).append(item)
            elif item.tenant:
                by_tenant[item.tenant].append(item)
        cap, chars = self.config.report_max_results, self.config.message_max_chars
        try:
            if namespaced_ok:
                for namespace, items in sorted(by_namespace.items()):
                    report = reports.build_report(
                        items,
                        outcome.at,
                        namespace=namespace,
                        scope_tenant=namespaces.get(namespace),
                        max_results=cap,
                        max_chars=chars,
                    )
                    reports.write_report(self.kube, report)
            if cluster_ok:
                for tenant, items in sorted(by_tenant.items()):
                    report = reports.build_report(
                        items,
                        outcome.at,
                        namespace=None,
                        name=f"exportgate-{tenant}",
                        scope_tenant=tenant,
                        max_results=cap,
                        max_chars=chars,
                    )
                    reports.write_report(self.kube, report)
        except KubeError as exc:
            log.warning("cannot write policy report", error=str(exc))


def _ref(obj: Mapping[str, Any]) -> str:
    meta = obj.get("metadata") or {}
    where = f"{meta.get('namespace')}/" if meta.get("namespace") else ""
    return f"{obj.get('kind')}/{where}{meta.get('name')}"
