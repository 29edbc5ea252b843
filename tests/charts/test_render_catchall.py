"""The opt-in catch-all webhook (webhook.catchAll) as `helm template` renders it.

The API server's side (the CEL compiles, what is and is not sent) is tests/charts/test_catchall.py.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from tests.charts.chart import NAMESPACE, VARIANTS, all_of, find, template, write_values

WEBHOOK = "eg-exportgate-webhook"
CATCH_ALL = "catchall.exportgate.dev"


def _hooks(
    docs: list[dict[str, Any]], kind: str = "ValidatingWebhookConfiguration"
) -> dict[str, dict[str, Any]]:
    return {h["name"]: h for h in find(docs, kind, WEBHOOK)["webhooks"]}


def _render(tmp_path: Path, catch_all: dict[str, Any], **webhook: Any) -> list[dict[str, Any]]:
    values = {"webhook": {"catchAll": {"enabled": True, **catch_all}, **webhook}}
    return template(write_values(tmp_path, values))


def _condition(hook: dict[str, Any]) -> str:
    (condition,) = hook["matchConditions"]
    assert condition["name"] == "not-sent-elsewhere-nor-excluded"
    return str(condition["expression"])


def _skipped_groups(expression: str) -> set[str]:
    found = re.match(r"!\(request\.resource\.group in \[([^\]]*)\]", expression)
    assert found, expression
    return {g.strip().strip("'") for g in found.group(1).split(",")}


def test_off_by_default(tmp_path: Path) -> None:
    assert CATCH_ALL not in _hooks(template())
    stamp = template(write_values(tmp_path, VARIANTS["decision-stamp"]))
    assert "catchall.mutate.exportgate.dev" not in _hooks(stamp, "MutatingWebhookConfiguration")


def test_every_namespaced_main_resource_in_tenant_namespaces_fails_closed(tmp_path: Path) -> None:
    docs = _render(tmp_path, {}, exemptNamespaces=["gpu-operator"])
    hooks = _hooks(docs)
    hook = hooks[CATCH_ALL]
    # "*" alone: main resources, no subresource (status writes are never sent).
    assert hook["rules"] == [{
        "apiGroups": ["*"], "apiVersions": ["*"], "operations": ["CREATE", "UPDATE"],
        "resources": ["*"], "scope": "Namespaced"}]  # fmt: skip
    # Never deadlock: kube-system and the release namespace are never sent, bound or not; and
    # only namespaces bound to a tenant are.
    exempt, bound = hook["namespaceSelector"]["matchExpressions"]
    assert exempt == {"key": "kubernetes.io/metadata.name", "operator": "NotIn",
                      "values": ["kube-system", NAMESPACE, "gpu-operator"]}  # fmt: skip
    assert bound == {"key": "exportgate.dev/tenant", "operator": "Exists"}
    # Like the other webhooks: fail closed, same timeout, same endpoint and CA.
    resources = hooks["resources.exportgate.dev"]
    for key in ("failurePolicy", "timeoutSeconds", "sideEffects", "matchPolicy", "clientConfig"):
        assert hook[key] == resources[key], key
    assert hook["failurePolicy"] == "Fail"
    assert not all_of(docs, "MutatingWebhookConfiguration")


def test_failure_policy_may_be_relaxed_for_the_catch_all_alone(tmp_path: Path) -> None:
    hooks = _hooks(_render(tmp_path, {"failurePolicy": "Ignore"}))
    assert hooks[CATCH_ALL]["failurePolicy"] == "Ignore"
    assert {h["failurePolicy"] for n, h in hooks.items() if n != CATCH_ALL} == {"Fail"}


def test_nothing_another_webhook_receives_is_sent_again(tmp_path: Path) -> None:
    """Each object is reviewed once: every group or kind another webhook receives is skipped."""
    extra = {"apiGroups": ["batch.example.com"], "apiVersions": ["v1"],
             "operations": ["CREATE"], "resources": ["gpujobs"], "scope": "*"}  # fmt: skip
    hooks = _hooks(_render(tmp_path, {}, extraRules=[extra]))
    expression = _condition(hooks[CATCH_ALL])
    skipped = _skipped_groups(expression)
    for name, hook in hooks.items():
        for rule in hook["rules"] if name != CATCH_ALL else []:
            if not {"CREATE", "UPDATE"} & set(rule["operations"]):
                continue  # the Tenant and ExportPolicy deletes: the catch-all sends no delete
            for group in set(rule["apiGroups"]) - skipped:
                if name == "machinekinds.exportgate.dev":  # its condition, negated
                    assert f"(request.resource.group == '{group}' && " in expression
                elif group == "batch.example.com":  # the extra rule: a term of its own
                    assert (
                        "(request.resource.group in ['batch.example.com'] && "
                        "request.resource.resource in ['gpujobs'] && "
                        "request.operation in ['CREATE'])" in expression
                    )
                else:
                    for resource in rule["resources"]:
                        assert f"'{group}/{resource}'" in expression, (name, group, resource)
    # The workloads' groups, exportgate's own records and the whole groups are skipped whole.
    assert {"", "apps", "batch", "exportgate.dev", "wgpolicyk8s.io", "kubeflow.org"} <= skipped


def test_high_rate_and_nothing_runnable_groups_are_skipped(tmp_path: Path) -> None:
    """What Kyverno's default resourceFilters (Events, Leases by namespace, reviews) and the
    chart's own list skip; excludeGroups and excludeResources add to it."""
    catch_all = {
        "excludeGroups": ["monitoring.example.com", "*.internal.example.com"],
        "excludeResources": ["argoproj.io/workflowtaskresults", "example.com/caches"],
    }
    expression = _condition(_hooks(_render(tmp_path, catch_all))[CATCH_ALL])
    skipped = _skipped_groups(expression)
    assert {
        "events.k8s.io", "coordination.k8s.io", "discovery.k8s.io", "metrics.k8s.io",
        "authorization.k8s.io", "authentication.k8s.io", "resource.k8s.io", "kopf.dev",
        "monitoring.example.com",
    } <= skipped  # fmt: skip
    # A value replaces the default list: Cilium's objects are sent again.
    assert "cilium.io" not in skipped
    assert "['.internal.example.com'].exists(s, request.resource.group.endsWith(s))" in expression
    assert "'example.com/caches'" in expression
    assert "'argoproj.io/workflowtaskresults'" in expression
    defaults = _skipped_groups(_condition(_hooks(_render(tmp_path, {}))[CATCH_ALL]))
    assert {"cilium.io", "reports.kyverno.io", "snapshot.storage.k8s.io"} <= defaults


def test_with_the_stamp_the_catch_all_kinds_pass_mutate_first(tmp_path: Path) -> None:
    """/validate trusts that /mutate removed caller-written stamps when the stamp is on, so the
    catch-all has a mutating twin with the same rules, selector and condition."""
    docs = template(write_values(tmp_path, VARIANTS["catch-all"]))
    validating = _hooks(docs)[CATCH_ALL]
    mutating = _hooks(docs, "MutatingWebhookConfiguration")["catchall.mutate.exportgate.dev"]
    assert mutating["clientConfig"]["service"]["path"] == "/mutate"
    assert mutating["reinvocationPolicy"] == "Never"
    for key in ("rules", "namespaceSelector", "matchConditions", "failurePolicy"):
        assert mutating[key] == validating[key], key
