"""Tenant status and conditions, written by the running operator on the real API server."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

import pytest
from exportgate_operator.app import App
from exportgate_operator.handlers import tenants
from exportgate_operator.kube import Kube
from exportgate_operator.settings import OperatorConfig

from exportgate.kubeapi import new_api_client
from tests.operator.builders import tenant
from tests.operator.conftest import OPERATOR_USER, OperatorHandle, wait_for

pytestmark = pytest.mark.cluster


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


def status_of(operator: OperatorHandle, name: str, generation: int | None = None) -> Any:
    def probe() -> Any:
        found = operator.get("tenant", name)
        status = (found or {}).get("status") or {}
        if not status.get("conditions"):
            return None
        if generation is not None and status.get("observedGeneration") != generation:
            return None
        return status

    return wait_for(probe, what=f"status of Tenant {name}")


def conditions(status: Any) -> dict[str, Any]:
    return {c["type"]: c for c in status["conditions"]}


def test_verified_tenant(operator: OperatorHandle) -> None:
    name = unique("verified")
    operator.cluster.apply(tenant(name, hq="SG"))
    status = status_of(operator, name)
    assert status["verification"] == "Verified"
    assert status["verificationExpiresAt"] == "2030-01-01T00:00:00Z"
    assert status["nextTransitionAt"] == "2030-01-01T00:00:00Z"
    found = conditions(status)
    assert found["Ready"]["status"] == "True"
    assert found["Verified"]["status"] == "True"
    assert found["Verified"]["reason"] == "Verified"
    assert {"country": "SG", "role": "headquarters"}.items() <= status["jurisdictions"][1].items()
    access = {a["classification"]: a for a in status["access"]}
    assert access["3A090.a"]["allowed"] is True
    assert status["policyVersion"]


def test_parent_in_d5_country_is_denied_controlled_classes(operator: OperatorHandle) -> None:
    name = unique("parent-cn")
    operator.cluster.apply(tenant(name, hq="SG", parent_hq="CN"))
    status = status_of(operator, name)
    assert status["verification"] == "Verified"
    parent = [j for j in status["jurisdictions"] if j["role"] == "parentHeadquarters"]
    assert parent[0]["country"] == "CN"
    assert "D:5" in parent[0]["groups"]
    assert "D:5" in status["countryGroups"]
    access = {a["classification"]: a for a in status["access"]}
    assert access["3A090.a"]["allowed"] is False
    assert access["3A090.a"]["rule"] == "ear-3a090-d5-macau"
    assert "denied classes: 3A090.a" in conditions(status)["Ready"]["message"]
    assert "denied products: outside-3A090 (nvidia-h20)" in conditions(status)["Ready"]["message"]


def test_a_placeholder_parent_is_accepted_and_reported(operator: OperatorHandle) -> None:
    """Red team 13b, M2: KYC records whose ultimate parent is "N/A" stay valid Tenants (the
    contract is unchanged); the operator reports the placeholder in a condition."""
    name = unique("placeholder")
    doc = tenant(name, hq="SG", parent_hq="SG")
    doc["spec"]["ultimateParent"]["name"] = "N/A"
    operator.cluster.apply(doc)
    found = conditions(status_of(operator, name))
    assert found["Ready"]["status"] == "True"
    assert (found["PartiesNamed"]["status"], found["PartiesNamed"]["reason"]) == (
        "False",
        "PlaceholderName",
    )
    assert "spec.ultimateParent.name is 'N/A'" in found["PartiesNamed"]["message"]


def test_pending_and_expired_tenants(operator: OperatorHandle) -> None:
    pending, expired = unique("pending"), unique("expired")
    operator.cluster.apply(tenant(pending, state="Pending", verified="", expires=None))
    operator.cluster.apply(tenant(expired, expires="2025-06-01T00:00:00Z"))
    status = status_of(operator, pending)
    assert status["verification"] == "Pending"
    assert conditions(status)["Verified"]["status"] == "False"
    assert conditions(status)["Verified"]["reason"] == "Pending"
    status = status_of(operator, expired)
    assert status["verification"] == "Expired"
    # Nothing of its own changes any more; only a rule coming into force (at midnight) could.
    assert status.get("nextTransitionAt", "T00:00:00Z").endswith("T00:00:00Z")
    verified = conditions(status)["Verified"]
    assert (verified["status"], verified["reason"]) == ("False", "Expired")
    assert "expired 2025-06-01T00:00:00Z" in verified["message"]
    assert not any(a["allowed"] for a in status["access"])


def test_spec_the_core_rejects_sets_ready_false(operator: OperatorHandle) -> None:
    # The CRD enumerates the ISO codes now; what only the core refuses is a date-time the API
    # server's format takes but Python cannot represent (year 0).
    name = unique("bad-time")
    operator.cluster.apply(tenant(name, verified="", expires="0000-01-01T00:00:00Z"))
    status = status_of(operator, name)
    ready = conditions(status)["Ready"]
    assert (ready["status"], ready["reason"]) == ("False", "InvalidSpec")
    assert "'0000-01-01T00:00:00Z' is not an RFC 3339 timestamp" in ready["message"]
    assert conditions(status)["Verified"]["status"] == "Unknown"
    fixed = tenant(name, hq="SG")
    operator.cluster.apply(fixed)
    status = status_of(operator, name, generation=2)
    assert conditions(status)["Ready"]["status"] == "True"
    assert status["verification"] == "Verified"


def test_a_tenant_gets_no_finalizer_and_deletes_while_its_timer_runs(
    operator: OperatorHandle,
) -> None:
    """The tenant timers are not kopf daemons: kopf would put a finalizer on every Tenant (the
    operator may not write Tenants, and nobody could delete one while the operator is down)."""
    name = unique("no-finalizer")
    operator.cluster.apply(tenant(name, expires="2030-01-01T00:00:00Z"))
    status_of(operator, name)  # handled: the timer runs from here on
    assert not (operator.get("tenant", name)["metadata"].get("finalizers") or [])
    operator.cluster.delete("tenant", name)
    wait_for(lambda: operator.get("tenant", name) is None, timeout=10, what="tenant deleted")


def test_a_kyc_decision_shows_in_status_before_a_queued_reaudit_runs(
    operator: OperatorHandle, tmp_path: Path
) -> None:
    # Re-audits run one at a time; behind a long one (every tenant's workloads after a policy
    # change) the revocation must still show in status at once. The Auditor's lock is held
    # here as such a re-audit would hold it.
    name = unique("revoked-now")
    operator.cluster.apply(tenant(name, hq="SG"))
    status_of(operator, name)  # the running operator has seen it
    operator.cluster.apply(tenant(name, hq="SG", state="Revoked"))
    body = operator.get("tenant", name)
    config = OperatorConfig(kubeconfig=operator.config.kubeconfig,
                            decision_log=str(tmp_path / "decisions.log"))  # fmt: skip
    app = App.create(config, Kube(new_api_client(str(
        operator.cluster.user_kubeconfig(OPERATOR_USER)))))  # fmt: skip
    published_while_audit_ran: list[bool] = []
    publish = app.publish_tenant

    def recording_publish(tenant_name: str, outcome: Any = None) -> None:
        published_while_audit_ran.append(app.auditor._lock.locked())
        publish(tenant_name, outcome)

    app.publish_tenant = recording_publish  # type: ignore[method-assign]

    async def scenario() -> None:
        await app.auditor._lock.acquire()
        followed = asyncio.create_task(tenants.follow_spec(app, body, name, "update"))
        try:
            for _ in range(200):
                if published_while_audit_ran:
                    break
                await asyncio.sleep(0.05)
            assert published_while_audit_ran == [True]  # written while the audit waited
            found = await asyncio.to_thread(operator.get, "tenant", name)
            assert found["status"]["verification"] == "Revoked"
            assert not followed.done()
        finally:
            app.auditor._lock.release()
        await asyncio.wait_for(followed, 30)
        await app.timers.stop(name)

    try:
        asyncio.run(scenario())
    finally:
        app.close()
    # ...and the re-audit wrote it again, with its workload counts.
    assert published_while_audit_ran == [True, False]
    assert operator.get("tenant", name)["status"]["workloads"]["audited"] == 0
