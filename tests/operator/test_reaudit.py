"""Re-audit of running workloads: on expiry (nobody touches anything), on policy changes, with
annotations, Events, decision-log records and bounded PolicyReports, on the real API server."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from exportgate_operator.decisions import DecisionRecorder
from exportgate_operator.events import EventPoster
from exportgate_operator.kube import Kube
from exportgate_operator.publish import VIOLATION, VIOLATION_MESSAGE
from exportgate_operator.reaudit import Auditor
from exportgate_operator.settings import OperatorConfig
from exportgate_operator.world import World

from exportgate.core.limits import MAX_CONTAINERS
from exportgate.core.records import UNREADABLE_OBJECT_RULE
from exportgate.decisionlog import verify_files
from exportgate.kubeapi import new_api_client
from tests.cluster.stand_in_crds import NODEPOOL_CRD
from tests.operator.builders import (
    endpoint,
    gpu_deployment,
    gpu_pod,
    nodepool,
    policy,
    tenant,
)
from tests.operator.conftest import REPORT_CAP, OperatorHandle, wait_for

pytestmark = pytest.mark.cluster


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


def annotations(operator: OperatorHandle, kind: str, name: str, ns: str | None) -> Any:
    found = operator.get(kind, name, ns) or {}
    return found.get("metadata", {}).get("annotations") or {}


def violation(operator: OperatorHandle, kind: str, name: str, ns: str | None = None) -> Any:
    return annotations(operator, kind, name, ns).get(VIOLATION)


def events(operator: OperatorHandle, ns: str, name: str) -> list[Any]:
    out = operator.cluster.kubectl(
        "get", "events", "-n", ns, "-o", "json",
        f"--field-selector=involvedObject.name={name}",
    ).stdout
    return list(json.loads(out)["items"])


def logged_ids(operator: OperatorHandle) -> set[str]:
    path = Path(str(operator.config.decision_log))
    return {json.loads(line)["id"] for line in path.read_text().splitlines() if line.strip()}


def test_expiry_flips_status_and_annotates_running_pod(operator: OperatorHandle) -> None:
    name = unique("expiring")
    expires = (datetime.now(UTC) + timedelta(seconds=12)).strftime("%Y-%m-%dT%H:%M:%SZ")
    ns = operator.tenant_namespace(name)
    operator.cluster.apply(gpu_pod("train"), namespace=ns)
    operator.cluster.apply(tenant(name, hq="DE", expires=expires))
    wait_for(
        lambda: operator.verification(name) == "Verified",
        what="tenant verified",
    )
    assert violation(operator, "pod", "train", ns) is None  # verified: the H100 is allowed
    # Nobody touches the tenant or the Pod from here on: the operator's timer does it all.
    wait_for(
        lambda: operator.verification(name) == "Expired",
        timeout=40,
        what="status to flip to Expired",
    )
    value = wait_for(lambda: violation(operator, "pod", "train", ns), what="pod annotated")
    rule, decision = value.split(" ", 1)
    assert rule == "kyc-unverified-accelerator"
    decision_id = decision.removeprefix("decision=")
    assert decision_id in logged_ids(operator)
    verified = verify_files([str(operator.config.decision_log)])
    assert verified.ok, verified.to_dict()
    message = annotations(operator, "pod", "train", ns)[VIOLATION_MESSAGE]
    assert "verif" in message.lower()
    warning = wait_for(
        lambda: [
            e for e in events(operator, ns, "train") if e["reason"] == "ExportControlViolation"
        ],
        what="Warning event",
    )
    assert warning[0]["type"] == "Warning"
    assert decision_id in warning[0]["message"]
    flipped = wait_for(
        lambda: [e for e in events(operator, "default", name) if e["reason"] ==
                 "VerificationExpired"],
        what="Event on the Tenant",
    )
    assert flipped[0]["involvedObject"]["kind"] == "Tenant"
    status = operator.get("tenant", name)["status"]
    assert status["workloads"]["violations"] == 1
    assert {c["type"]: c["status"] for c in status["conditions"]}["Verified"] == "False"


def test_policy_change_reaudits_and_reports(operator: OperatorHandle) -> None:
    name, pname = unique("nz"), unique("nz-policy")
    rule = f"{pname}-advanced"
    ns = operator.tenant_namespace(name)
    operator.cluster.apply(tenant(name, hq="NZ"))
    operator.cluster.apply(gpu_pod("train"), namespace=ns)
    operator.cluster.apply(gpu_pod("inference", "Tesla-T4"), namespace=ns)
    operator.cluster.apply(gpu_deployment("serve"), namespace=ns)
    wait_for(lambda: (operator.get("tenant", name) or {}).get("status"), what="tenant status")
    assert violation(operator, "pod", "train", ns) is None

    # A new policy denies 3A090.a to NZ tenants: existing H100 workloads become violators.
    operator.cluster.apply(policy(pname, any_in=("NZ",)))
    for kind, obj in (("pod", "train"), ("deployment", "serve")):
        value = wait_for(lambda k=kind, o=obj: violation(operator, k, o, ns), what=f"{kind} marked")
        assert value.startswith(f"{rule} decision=")
    assert violation(operator, "pod", "inference", ns) is None  # a T4 is not 3A090.a
    status = wait_for(lambda: operator.get("exportpolicy", pname).get("status"), what="status")
    assert status["compiled"] is True
    assert status["servedVersion"] == "1"
    assert {c["type"]: c["status"] for c in status["conditions"]} == {
        "Compiled": "True",
        "Served": "True",
    }
    report = wait_for(
        lambda: (r := operator.get("policyreport", "exportgate", ns)) and r["summary"]["fail"] == 2
        and r,
        what="PolicyReport with two failures",
    )
    assert report["summary"]["pass"] == 1
    failed = [r for r in report["results"] if r["result"] == "fail"]
    assert {r["rule"] for r in failed} == {rule}
    assert {r["resources"][0]["kind"] for r in failed} == {"Pod", "Deployment"}
    assert all(r["properties"]["decisionId"] in logged_ids(operator) for r in failed)
    assert report["metadata"]["labels"]["exportgate.dev/tenant"] == name

    # The policy stops compiling: the last good version keeps being served, status says why.
    broken = policy(pname, version="2", any_in=("NOT-A-GROUP",))
    operator.cluster.apply(broken)
    status = wait_for(
        lambda: (s := operator.get("exportpolicy", pname)["status"]) and not s["compiled"] and s,
        what="compile error in status",
    )
    assert status["servedVersion"] == "1"
    assert "NOT-A-GROUP" in status["error"]["message"]
    assert status["error"]["field"].startswith("spec.rules[0].jurisdictions")
    served = {c["type"]: c for c in status["conditions"]}["Served"]
    assert (served["status"], served["reason"]) == ("False", "ServingPreviousVersion")
    assert violation(operator, "pod", "train", ns) is not None

    # Downgraded to warn: no longer a violation, the annotation goes, an Event says so.
    operator.cluster.apply(policy(pname, version="3", action="warn", any_in=("NZ",)))
    wait_for(lambda: violation(operator, "pod", "train", ns) is None, what="annotation removed")
    wait_for(
        lambda: [e for e in events(operator, ns, "train")
                 if e["reason"] == "ExportControlViolationResolved"],
        what="resolved event",
    )
    wait_for(
        lambda: operator.get("policyreport", "exportgate", ns)["summary"]["warn"] == 2,
        what="report shows warnings",
    )
    operator.cluster.delete("exportpolicy", pname)
    wait_for(
        lambda: operator.get("policyreport", "exportgate", ns)["summary"]["pass"] == 3,
        what="report clean after the policy is deleted",
    )


def test_reports_are_bounded(operator: OperatorHandle) -> None:
    name = unique("many")
    ns = operator.tenant_namespace(name)
    total = REPORT_CAP + 2
    for index in range(total):
        operator.cluster.apply(gpu_pod(f"train-{index}"), namespace=ns)
    operator.cluster.apply(tenant(name, parent_hq="CN"))
    report = wait_for(
        lambda: (r := operator.get("policyreport", "exportgate", ns)) and r["summary"]["fail"]
        == total and r,
        what="report of every pod",
    )
    assert len(report["results"]) == REPORT_CAP
    assert report["metadata"]["annotations"]["exportgate.dev/results-omitted"] == "2"
    assert all(r["rule"] == "ear-3a090-d5-macau" for r in report["results"])
    wait_for(
        lambda: all(violation(operator, "pod", f"train-{i}", ns) for i in range(total)),
        what="every pod annotated",
    )


def test_model_endpoints_and_node_pools(operator: OperatorHandle) -> None:
    operator.cluster.install_crds(NODEPOOL_CRD)
    restricted, permitted = unique("nimbus"), unique("acme")
    ns_restricted = operator.tenant_namespace(restricted)
    ns_permitted = operator.tenant_namespace(permitted)
    operator.cluster.apply(nodepool(f"{restricted}-gpu", restricted))
    for ns in (ns_restricted, ns_permitted):
        operator.cluster.apply(
            endpoint("assistant", provider="anthropic", model="claude-sonnet-4-5"), namespace=ns
        )
    operator.cluster.apply(tenant(permitted, hq="SG"))
    operator.cluster.apply(tenant(restricted, hq="SG", parent_hq="CN"))

    def phase(ns: str) -> Any:
        found = operator.get("modelendpoint", "assistant", ns) or {}
        return found.get("status", {}).get("phase") and found["status"]

    # The endpoint may first be decided before its tenant is known (Unbound, so blocked by the
    # KYC rule); the tenant's re-audit then decides it again with the vendor's country terms.
    blocked = wait_for(
        lambda: (s := phase(ns_restricted)) and s["rule"] == "anthropic-ownership"
        and s,
        what="blocked by the vendor terms",
    )
    assert (blocked["phase"], blocked["decision"]) == ("Blocked", "deny")
    assert blocked["decisionId"]
    assert {c["type"]: c["status"] for c in blocked["conditions"]} == {"Admitted": "False"}
    admitted = wait_for(
        lambda: (s := phase(ns_permitted)) and s["phase"] == "Admitted" and s, what="admitted"
    )
    assert admitted["decision"] == "allow"

    pool = f"{restricted}-gpu"
    value = wait_for(lambda: violation(operator, "nodepool", pool), what="node pool marked")
    assert value.startswith("ear-3a090-d5-macau decision=")
    report = wait_for(
        lambda: operator.get("clusterpolicyreport", f"exportgate-{restricted}"),
        what="ClusterPolicyReport",
    )
    assert report["summary"]["fail"] == 1
    assert report["results"][0]["resources"][0]["name"] == pool


def test_namespace_changing_tenant_reaudits(operator: OperatorHandle) -> None:
    permitted, restricted = unique("owner-a"), unique("owner-b")
    operator.cluster.apply(tenant(permitted, hq="SG"))
    operator.cluster.apply(tenant(restricted, hq="SG", parent_hq="CN"))
    ns = operator.tenant_namespace(permitted)
    operator.cluster.apply(gpu_pod("train"), namespace=ns)
    wait_for(
        lambda: (operator.get("tenant", restricted) or {}).get("status"), what="tenants ready"
    )
    assert violation(operator, "pod", "train", ns) is None
    operator.cluster.kubectl(
        "label", "namespace", ns, f"exportgate.dev/tenant={restricted}", "--overwrite"
    )
    value = wait_for(lambda: violation(operator, "pod", "train", ns), what="pod re-audited")
    assert value.startswith("ear-3a090-d5-macau decision=")


def test_stored_object_past_the_caps_is_a_violator_not_a_skip(operator: OperatorHandle) -> None:
    """A Pod stored before exportgate guarded the cluster, with more containers than extraction
    reads (core/limits.py): admission would refuse it as unreadable, so re-audit reports it."""
    name = unique("oversized")
    ns = operator.tenant_namespace(name)
    pod = gpu_pod("sprawl")
    template = pod["spec"]["containers"][0]
    pod["spec"]["containers"] = [
        {**template, "name": f"c{i}"} for i in range(MAX_CONTAINERS + 1)
    ]
    operator.cluster.apply(pod, namespace=ns)
    operator.cluster.apply(tenant(name, hq="DE"))  # verified: a readable H100 Pod is allowed
    value = wait_for(lambda: violation(operator, "pod", "sprawl", ns), what="pod marked")
    rule, decision = value.split(" ", 1)
    assert rule == UNREADABLE_OBJECT_RULE
    assert decision.removeprefix("decision=") in logged_ids(operator)
    message = annotations(operator, "pod", "sprawl", ns)[VIOLATION_MESSAGE]
    assert "could not read" in message and "unknown accelerator" in message


def test_namespaced_operator_audits_only_its_namespaces(operator: OperatorHandle) -> None:
    """The auditor of an operator started with --namespace, against the real API server."""
    owner = unique("scoped")
    mine, other = operator.tenant_namespace(owner), operator.tenant_namespace(owner)
    for ns in (mine, other):
        operator.cluster.apply(gpu_pod("train"), namespace=ns)
    config = OperatorConfig(namespaces=(mine,))
    world = World()
    world.set_tenant(tenant(owner, parent_hq="CN"))
    kube = Kube(new_api_client(str(operator.cluster.kubeconfig)))
    auditor = Auditor(kube, world, DecisionRecorder(None), config, EventPoster(kube))
    outcome = asyncio.run(auditor.audit([owner], reason="test"))
    assert {(i.namespace, i.name) for i in outcome.items} == {(mine, "train")}
    assert outcome.tenants[owner].violations == 1
