"""`helm lint` and `helm template` with the real helm, and assertions on the rendered objects."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.charts.chart import (
    CHART,
    NAMESPACE,
    VARIANTS,
    all_of,
    container,
    containers,
    find,
    run_helm,
    template,
    write_values,
)

WEBHOOK = "eg-exportgate-webhook"
OPERATOR = "eg-exportgate-operator"


@pytest.fixture(scope="module")
def default_docs() -> list[dict[str, Any]]:
    return template()


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_variant_lints_and_renders(variant: str, tmp_path: Path) -> None:
    values = write_values(tmp_path, VARIANTS[variant])
    lint = run_helm("lint", "--strict", str(CHART), "--values", str(values))
    assert lint.returncode == 0, lint.stdout + lint.stderr
    docs = template(values)
    assert all_of(docs, "ValidatingWebhookConfiguration")


def test_variants_render_what_they_promise(tmp_path: Path) -> None:
    def render(name: str) -> list[dict[str, Any]]:
        return template(write_values(tmp_path, VARIANTS[name], f"{name}.yaml"))

    cm = render("cert-manager")
    assert find(cm, "Certificate", WEBHOOK)["spec"]["secretName"] == "eg-exportgate-webhook-tls"
    vwc = find(cm, "ValidatingWebhookConfiguration")
    assert vwc["metadata"]["annotations"]["cert-manager.io/inject-ca-from"] == (
        f"{NAMESPACE}/{WEBHOOK}"
    )
    assert all("caBundle" not in h["clientConfig"] for h in vwc["webhooks"])
    assert not all_of(cm, "Secret") and not all_of(cm, "CronJob")

    external = render("cert-manager-external-issuer")
    assert find(external, "Certificate")["spec"]["issuerRef"]["name"] == "corp-ca"
    assert not all_of(external, "Issuer")

    pvc = render("decision-log-pvc")
    claim = find(pvc, "PersistentVolumeClaim")
    assert claim["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    pod = find(pvc, "Deployment", WEBHOOK)["spec"]["template"]["spec"]
    # Embedded (the default): the webhook container writes the log; nothing streams it.
    assert {c["name"] for c in pod["containers"]} == {"webhook"}
    decisions = next(v for v in pod["volumes"] if v["name"] == "decisions")
    assert decisions["persistentVolumeClaim"]["claimName"] == claim["metadata"]["name"]
    assert {"name": "decisions", "mountPath": "/var/lib/exportgate/decisions"} in (
        pod["containers"][0]["volumeMounts"]
    )

    stdout = render("decision-log-stdout")
    pod = find(stdout, "Deployment", WEBHOOK)["spec"]["template"]["spec"]
    streamer = next(c for c in pod["containers"] if c["name"] == "decision-log")
    assert streamer["command"][:2] == ["tail", "-n"]
    assert not all_of(stdout, "PersistentVolumeClaim")

    policies = all_of(render("network-policy"), "NetworkPolicy")
    assert len(policies) == 2
    for policy in policies:
        assert set(policy["spec"]["policyTypes"]) == {"Ingress", "Egress"}

    # Embedded, the service's metrics are on the webhook's own /metrics (the probes port).
    monitor = find(render("service-monitor"), "ServiceMonitor")
    assert [e["port"] for e in monitor["spec"]["endpoints"]] == ["probes"]
    assert monitor["metadata"]["labels"]["release"] == "prom"

    stamp = render("decision-stamp")
    assert {h["name"] for h in find(stamp, "MutatingWebhookConfiguration")["webhooks"]} == {
        "workloads.mutate.exportgate.dev",
        "resources.mutate.exportgate.dev",
        "machinekinds.mutate.exportgate.dev",
    }
    # Every validating route but the guards of tenancy and pod status (which read no stamp)
    # has a mutating twin with the same rules: /validate trusts that /mutate removed the
    # stamps a caller wrote, so no guarded kind may reach /validate without passing /mutate.
    validating = {h["name"]: h for h in find(stamp, "ValidatingWebhookConfiguration")["webhooks"]}
    mutating = {h["name"]: h for h in find(stamp, "MutatingWebhookConfiguration")["webhooks"]}
    for name, hook in validating.items():
        if name in {"tenancy.exportgate.dev", "podstatus.exportgate.dev"}:
            continue
        twin = mutating[name.replace(".exportgate.dev", ".mutate.exportgate.dev")]
        stamped = [r for r in hook["rules"] if r["operations"] != ["DELETE"]]
        assert twin["rules"] == stamped, name
        assert twin.get("matchConditions") == hook.get("matchConditions"), name
    assert "--mutate" in container(stamp, WEBHOOK, "webhook")["args"]
    assert "--reuse-window=0" not in container(stamp, WEBHOOK, "webhook")["args"]

    minimal = render("no-mutating-no-operator")
    assert not all_of(minimal, "MutatingWebhookConfiguration")
    assert OPERATOR not in {d["metadata"]["name"] for d in all_of(minimal, "Deployment")}
    webhook_args = container(minimal, WEBHOOK, "webhook")["args"]
    assert "--no-mutate" in webhook_args

    dry = render("dryrun-rollout")
    service_args = container(dry, WEBHOOK, "webhook")["args"]
    assert "--default-action=dryrun" in service_args
    packs = service_args.index("--packs")
    assert service_args[packs + 1] == "kyc-verification"
    assert "--packs=kyc-verification" in container(dry, OPERATOR, "operator")["args"]

    # The sidecar shape, with the stamp: the service flags are the sidecar's.
    sidecar = render("sidecar-stamp-dryrun")
    sidecar_args = container(sidecar, WEBHOOK, "sidecar")["args"]
    assert "--default-action=dryrun" in sidecar_args
    assert "--reuse-window=0" not in sidecar_args
    monitor = find(sidecar, "ServiceMonitor")
    assert [e["port"] for e in monitor["spec"]["endpoints"]] == ["probes", "sidecar-metrics"]

    url = render("external-url")
    for hook in find(url, "ValidatingWebhookConfiguration")["webhooks"]:
        assert hook["clientConfig"]["url"] == "https://127.0.0.1:9443/validate"
        assert "service" not in hook["clientConfig"]


def _webhooks(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    hooks: list[dict[str, Any]] = []
    for kind in ("ValidatingWebhookConfiguration", "MutatingWebhookConfiguration"):
        for doc in all_of(docs, kind):
            if doc["metadata"]["name"] == WEBHOOK:
                hooks += doc["webhooks"]
    return hooks


def test_one_admission_phase_by_default(default_docs: list[dict[str, Any]]) -> None:
    # The decision stamp is opt-in (a second round trip per write, bench/NOTES.md).
    assert not all_of(default_docs, "MutatingWebhookConfiguration")
    assert "--no-mutate" in container(default_docs, WEBHOOK, "webhook")["args"]
    # ... and the policy service keeps no decisions for a reuse that cannot come.
    assert "--reuse-window=0" in container(default_docs, WEBHOOK, "webhook")["args"]


def test_http2_is_offered_when_turned_on(
    default_docs: list[dict[str, Any]], tmp_path: Path
) -> None:
    assert "--http2" not in container(default_docs, WEBHOOK, "webhook")["args"]
    docs = template(write_values(tmp_path, {"webhook": {"http2": True}}))
    assert "--http2" in container(docs, WEBHOOK, "webhook")["args"]


def test_webhooks_fail_closed_fast_and_exempt_system_namespaces(tmp_path: Path) -> None:
    # With the opt-in stamp, so that the mutating webhooks are held to the same rules.
    docs = template(write_values(tmp_path, VARIANTS["decision-stamp"]))
    hooks = _webhooks(docs)
    assert len(hooks) == 8  # 5 validating, 3 mutating (workloads, resources, machine kinds)
    for hook in hooks:
        assert hook["failurePolicy"] == "Fail"
        assert hook["timeoutSeconds"] == 5
        assert hook["sideEffects"] == "None"
        assert hook["admissionReviewVersions"] == ["v1"]
        # Exemption by a label only the API server sets, never one tenants could add.
        (expression,) = hook["namespaceSelector"]["matchExpressions"]
        assert expression["key"] == "kubernetes.io/metadata.name"
        assert expression["operator"] == "NotIn"
        assert {"kube-system", NAMESPACE} <= set(expression["values"])
        assert "objectSelector" not in hook
        for rule in hook["rules"]:
            assert "*" not in rule["operations"]
    by_name = {h["name"]: h for h in hooks}
    # Deletes are sent only where they change tenancy or policy (red team 3, F2): Tenants and
    # ExportPolicies, to the validating tenancy guard; removing a workload needs no licence.
    deletes = [(h["name"], r) for h in hooks for r in h["rules"] if "DELETE" in r["operations"]]
    assert deletes == [("resources.exportgate.dev", {
        "apiGroups": ["exportgate.dev"], "apiVersions": ["*"], "operations": ["DELETE"],
        "resources": ["exportpolicies", "tenants"], "scope": "*"})]  # fmt: skip
    # Every write that can change a Namespace's labels reaches the label guard (F1).
    (tenancy,) = by_name["tenancy.exportgate.dev"]["rules"]
    assert tenancy["resources"] == ["namespaces", "namespaces/status", "namespaces/finalize"]
    assert tenancy["operations"] == ["CREATE", "UPDATE"]
    # pods/status keeps annotations as sent, and a Binding's annotations are merged into its
    # Pod (red team 13b, H4): their writes reach the webhook, but only those that change (a
    # Binding: carry) an annotation exportgate reads (the kubelet's status writes and
    # kube-scheduler's Bindings are never sent).
    status, bindings = by_name["podstatus.exportgate.dev"]["rules"]
    assert (status["resources"], status["operations"]) == (["pods/status"], ["UPDATE"])
    assert (bindings["resources"], bindings["operations"]) == (["pods/binding", "bindings"],
                                                               ["CREATE"])  # fmt: skip
    changed, bound = by_name["podstatus.exportgate.dev"]["matchConditions"]
    for condition in (changed, bound):
        assert "'gpu-fraction'" in condition["expression"]
        assert "'cdi.k8s.io/'" in condition["expression"]
        assert "'io.katacontainers.config.hypervisor.machine_type'" in condition["expression"]
    # Conditions are ANDed: each passes the other operation; a CREATE has no oldObject.
    assert changed["expression"].startswith("request.operation != 'UPDATE' || (")
    assert "oldObject.metadata.annotations" in changed["expression"]
    assert bound["expression"].startswith("request.operation != 'CREATE' || (")
    assert "oldObject" not in bound["expression"]
    # Guarded kinds are named one by one (no subresources), except the groups sent whole
    # (webhook.wholeGroups: "when in doubt, send"), whose one rule is "*".
    whole = {"kubeflow.org", "serving.kserve.io", "ray.io", "trainer.kubeflow.org"}
    for rule in by_name["resources.exportgate.dev"]["rules"]:
        if rule["resources"] == ["*"]:
            assert len(rule["apiGroups"]) == 1
            whole.discard(rule["apiGroups"][0])
            continue
        assert rule["resources"] and all("*" not in r and "/" not in r for r in rule["resources"])
    assert not whole, f"groups not sent whole: {whole}"
    karpenter = [r for r in by_name["resources.exportgate.dev"]["rules"]
                 if r["apiGroups"] == ["karpenter.sh"]]  # fmt: skip
    assert karpenter[0]["resources"] == ["nodepools", "provisioners"]
    assert "matchConditions" in by_name["workloads.exportgate.dev"]
    assert "matchConditions" in by_name["tenancy.exportgate.dev"]
    # The CA the webhook serves with is the one the API server trusts.
    tls = find(docs, "Secret", "eg-exportgate-webhook-tls")["data"]
    for hook in hooks:
        assert hook["clientConfig"]["caBundle"] == tls["ca.crt"]
        assert hook["clientConfig"]["service"]["name"] == WEBHOOK


def test_configured_exemptions_reach_selector_and_webhook_flags(tmp_path: Path) -> None:
    values = write_values(tmp_path, {"webhook": {"exemptNamespaces": ["gpu-operator"]}})
    docs = template(values)
    for hook in _webhooks(docs):
        (expression,) = hook["namespaceSelector"]["matchExpressions"]
        assert expression["values"] == ["kube-system", NAMESPACE, "gpu-operator"]
    args = container(docs, WEBHOOK, "webhook")["args"]
    for namespace in ("kube-system", NAMESPACE, "gpu-operator"):
        assert f"--exempt-namespace={namespace}" in args


def test_webhook_is_highly_available(default_docs: list[dict[str, Any]]) -> None:
    deployment = find(default_docs, "Deployment", WEBHOOK)
    assert deployment["spec"]["replicas"] >= 2
    assert deployment["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    pod = deployment["spec"]["template"]["spec"]
    assert pod["priorityClassName"] == "system-cluster-critical"
    assert pod["affinity"]["podAntiAffinity"]
    assert pod["topologySpreadConstraints"][0]["topologyKey"] == "topology.kubernetes.io/zone"
    pdb = find(default_docs, "PodDisruptionBudget")
    assert pdb["spec"]["minAvailable"] == 1
    assert pdb["spec"]["selector"]["matchLabels"] == deployment["spec"]["selector"]["matchLabels"]
    for each in pod["containers"]:
        assert each["resources"]["requests"], each["name"]


def test_sidecar_shares_only_a_unix_socket_with_the_webhook(tmp_path: Path) -> None:
    docs = template(write_values(tmp_path, VARIANTS["sidecar"]))
    pod = find(docs, "Deployment", WEBHOOK)["spec"]["template"]["spec"]
    socket = next(v for v in pod["volumes"] if v["name"] == "socket")
    assert socket["emptyDir"]["medium"] == "Memory"
    webhook = container(docs, WEBHOOK, "webhook")
    sidecar = container(docs, WEBHOOK, "sidecar")
    assert "--sidecar=unix:///run/exportgate/policy.sock" in webhook["args"]
    assert "--listen=unix:///run/exportgate/policy.sock" in sidecar["args"]
    assert "--source=kube" in sidecar["args"]
    assert not any(a.startswith("--listen-tcp") for a in sidecar["args"])
    assert f"--platform-user=system:serviceaccount:{NAMESPACE}:{OPERATOR}" in webhook["args"]


@pytest.mark.parametrize(("variant", "expected"), [("defaults", 4), ("sidecar", 5)])
def test_every_container_is_hardened(variant: str, expected: int, tmp_path: Path) -> None:
    # webhook (with the policy service, or beside the sidecar), log streamer, operator, rotator
    seen = 0
    for owner, each in containers(template(write_values(tmp_path, VARIANTS[variant]))):
        seen += 1
        ctx = each["securityContext"]
        assert ctx["runAsNonRoot"] is True, owner
        assert ctx["runAsUser"] > 0, owner
        assert ctx["readOnlyRootFilesystem"] is True, owner
        assert ctx["allowPrivilegeEscalation"] is False, owner
        assert ctx["privileged"] is False, owner
        assert ctx["capabilities"] == {"drop": ["ALL"]}, owner
        assert ctx["seccompProfile"] == {"type": "RuntimeDefault"}, owner
    assert seen == expected


def test_rbac_names_every_verb_and_resource(default_docs: list[dict[str, Any]]) -> None:
    roles = all_of(default_docs, "ClusterRole") + all_of(default_docs, "Role")
    assert roles
    for role in roles:
        for rule in role["rules"]:
            for field in ("verbs", "resources", "apiGroups"):
                assert "*" not in rule.get(field, []), (role["metadata"]["name"], rule)
    webhook = find(default_docs, "ClusterRole", WEBHOOK)
    verbs = {v for rule in webhook["rules"] for v in rule["verbs"]}
    assert verbs == {"get", "list", "watch"}  # the admission path only ever reads
    rotator = find(default_docs, "Role", "eg-exportgate-cert-rotator")
    (secrets,) = rotator["rules"]
    assert set(secrets["resourceNames"]) == {
        "eg-exportgate-webhook-tls",
        "eg-exportgate-webhook-ca",
    }
    assert set(secrets["verbs"]) == {"get", "update"}
    operator = find(default_docs, "ClusterRole", OPERATOR)
    assert not any("delete" in r["verbs"] for r in operator["rules"] if "pods" in r["resources"])


def test_crds_are_shipped(default_docs: list[dict[str, Any]]) -> None:
    names = {d["metadata"]["name"] for d in all_of(default_docs, "CustomResourceDefinition")}
    assert {
        "tenants.exportgate.dev",
        "exportpolicies.exportgate.dev",
        "modelendpoints.exportgate.dev",
    } <= names


@pytest.mark.parametrize(
    ("values", "complaint"),
    [
        ({"webhok": {}}, "webhok"),
        ({"webhook": {"replica": 3}}, "replica"),
        ({"webhook": {"replicas": 1}}, "minimum"),
        ({"webhook": {"timeoutSeconds": 30}}, "maximum"),
        ({"webhook": {"failurePolicy": "Open"}}, "failurePolicy"),
        ({"decisionLog": {"destination": "s3"}}, "destination"),
        ({"policy": {"enabledPacks": ["no-such-pack"]}}, "enabledPacks"),
        ({"policy": {"enabledPacks": []}}, "enabledPacks"),
        ({"certs": {"mode": "vault"}}, "mode"),
    ],
)
def test_schema_rejects_unknown_and_invalid_values(
    values: dict[str, Any], complaint: str, tmp_path: Path
) -> None:
    proc = run_helm("template", "eg", str(CHART), "--values", str(write_values(tmp_path, values)))
    assert proc.returncode != 0
    assert complaint in proc.stderr, proc.stderr


def test_budget_must_stay_under_the_timeout(tmp_path: Path) -> None:
    values = {"webhook": {"timeoutSeconds": 2, "budgetSeconds": 2}}
    proc = run_helm("template", "eg", str(CHART), "--values", str(write_values(tmp_path, values)))
    assert proc.returncode != 0
    assert "budgetSeconds must be below" in proc.stderr


def test_schema_is_strict_everywhere() -> None:
    schema = json.loads((CHART / "values.schema.json").read_text())

    def walk(node: dict[str, Any], path: str) -> None:
        if node.get("type") == "object" and "properties" in node:
            assert node.get("additionalProperties") is False, path
            for key, child in node["properties"].items():
                assert child.get("description"), f"{path}.{key}"
                walk(child, f"{path}.{key}")

    walk(schema, "")


def test_values_file_parses_as_the_documented_defaults() -> None:
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    assert values["webhook"]["failurePolicy"] == "Fail"
    assert values["certs"]["mode"] == "self-signed"


def test_every_adapter_kind_is_sent_to_the_webhook(default_docs: list[dict[str, Any]]) -> None:
    # An adapter the webhook can read but the API server never sends would guard nothing.
    hooks = find(default_docs, "ValidatingWebhookConfiguration", WEBHOOK)["webhooks"]
    sent = {
        (group, resource)
        for hook in hooks
        for rule in hook["rules"]
        for group in rule["apiGroups"]
        for resource in rule["resources"]
    }
    adapters = Path(__file__).resolve().parents[2] / "exportgate" / "data" / "adapters"
    missing = []
    for path in sorted(adapters.glob("*.yaml")):
        for adapter in yaml.safe_load(path.read_text()).get("adapters") or []:
            for kind in adapter.get("kinds", []):  # kindPattern: see the next test
                plural = kind.lower() + "s"  # every adapter kind today has a regular plural
                sent_whole = (adapter["group"], "*") in sent  # webhook.wholeGroups
                if (adapter["group"], plural) not in sent and not sent_whole:
                    missing.append(f"{adapter['group']}/{plural} ({path.name})")
    assert not missing, "add to webhook.guardedResources: " + ", ".join(missing)


def test_machine_kinds_without_an_adapter_are_sent_by_kind_name(
    default_docs: list[dict[str, Any]],
) -> None:
    """Every Cluster API infrastructure machine kind reaches the webhook (an unknown GPU pool
    for a restricted tenant), through a webhook of its own that sends the kinds matching
    guardedKindPatterns that guardedResources does not name: each object once, and the
    groups' other objects (AWSCluster) not at all."""
    hooks = find(default_docs, "ValidatingWebhookConfiguration", WEBHOOK)["webhooks"]
    by_name = {h["name"]: h for h in hooks}
    machines = by_name["machinekinds.exportgate.dev"]
    assert machines["failurePolicy"] == "Fail"
    assert [(r["apiGroups"], r["resources"], r["operations"]) for r in machines["rules"]] == [
        (["infrastructure.cluster.x-k8s.io"], ["*"], ["CREATE", "UPDATE"]),
        (["vmware.infrastructure.cluster.x-k8s.io"], ["*"], ["CREATE", "UPDATE"]),
    ]
    conditions = {c["name"]: c["expression"] for c in machines["matchConditions"]}
    expression = conditions["machine-kind-without-adapter"]
    machine = (
        "(Machine|Machines|MachineTemplate|MachinePool|MachinePoolTemplate|MachineSet"
        "|MachineDeployment)"
    )
    assert f"request.kind.kind.matches('^(?:.*{machine})$')" in expression
    # Named kinds go to the resources webhook only.
    assert "'awsmachines'" in expression and "'vspheremachines'" in expression
    named = {
        resource
        for rule in by_name["resources.exportgate.dev"]["rules"]
        if rule["apiGroups"] == ["infrastructure.cluster.x-k8s.io"]
        for resource in rule["resources"]
    }
    assert {"awsmachines", "gcpmachines", "azuremachines", "ocimachines"} <= named
    assert "awsclusters" not in named


def _webhook_ingress_from(docs: list[dict[str, Any]]) -> list[Any] | None:
    policy = find(docs, "NetworkPolicy", WEBHOOK)
    (rule,) = [
        r for r in policy["spec"]["ingress"] if {"port": 8443, "protocol": "TCP"} in r["ports"]
    ]
    found: list[Any] | None = rule.get("from")
    return found


def test_the_network_policy_is_on_and_admits_only_the_api_server(tmp_path: Path) -> None:
    """Issue 11: on by default; the webhook port accepts the API server's addresses only, where
    they are known (apiServerCIDRs, webhookFrom, or the install-time lookup)."""
    assert _webhook_ingress_from(template()) is None  # helm template: no cluster to look up
    # ... and says so where a GitOps render is read (red team 3, F7): on the object itself.
    warning = find(template(), "NetworkPolicy", WEBHOOK)["metadata"]["annotations"]
    assert "open to any source" in warning["exportgate.dev/warning"]
    cidrs = write_values(tmp_path, {"networkPolicy": {"apiServerCIDRs": ["10.0.0.1/32"]}})
    assert _webhook_ingress_from(template(cidrs)) == [{"ipBlock": {"cidr": "10.0.0.1/32"}}]
    assert "annotations" not in find(template(cidrs), "NetworkPolicy", WEBHOOK)["metadata"]
    peers = [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "konn"}}}]
    explicit = write_values(
        tmp_path,
        {"networkPolicy": {"apiServerCIDRs": ["10.0.0.1/32"], "webhookFrom": peers}},
        "explicit.yaml",
    )
    assert _webhook_ingress_from(template(explicit)) == peers


def test_kyc_identities_reach_the_webhook_and_their_role(
    default_docs: list[dict[str, Any]], tmp_path: Path
) -> None:
    """Red team 3, F4: one list makes the KYC team's RBAC binding and the webhook's KYC set."""
    assert "--kyc-group=exportgate:kyc" in container(default_docs, WEBHOOK, "webhook")["args"]
    binding = find(default_docs, "ClusterRoleBinding", "eg-exportgate-kyc-editor")
    assert binding["roleRef"]["name"] == "exportgate-kyc-editor"
    assert binding["subjects"] == [
        {"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": "exportgate:kyc"}
    ]
    nobody = template(write_values(tmp_path, {"webhook": {"kycGroups": []}}))
    assert not any(d["metadata"]["name"] == "eg-exportgate-kyc-editor" for d in nobody)
    assert not any(a.startswith("--kyc") for a in container(nobody, WEBHOOK, "webhook")["args"])
