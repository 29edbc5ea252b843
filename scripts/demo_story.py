"""The demo's story: what happens, in order, and what each step is expected to show.

Every tenant-facing step runs the real `kubectl` binary against the real API server with the
tenant's own client-certificate kubeconfig, so the output printed is exactly what that tenant
would see. Each step records its expected outcome in the scorecard.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import subprocess
import time
from typing import Any

from exportgate_operator.publish import VIOLATION

from scripts import demo_compute
from scripts import demo_objects as objects
from scripts.demo_kubectl import (
    EXAMPLES,
    PLATFORM,
    Identity,
    Narrator,
    find,
    rfc3339,
    tenant_identity,
)
from scripts.demo_stack import StackError, console_script
from tests.cluster.local_cluster import ClusterError, LocalCluster

DECISION_ID = "exportgate.dev/decision-id"

# Rules the default policy packs are expected to name for each refusal.
RULE_D5 = "ear-3a090-d5-macau"
RULE_UNVERIFIED = "kyc-unverified-accelerator"
RULE_MODEL_TERMS = "anthropic-ownership"  # nimbus's parent is in CN: the 2025-09-05 rule

# The tenant whose verification runs out during the demo.
EXPIRING = "vega"
EXPIRING_NS = "vega-ml"
OPERATOR_REACTION_S = 90.0


class Story(Narrator):
    """The chapters, in order; each records what it expects in the scorecard."""

    # ---- the story -----------------------------------------------------------------------

    def run(self) -> None:
        self.control_plane()
        self.exportgate()
        self.tenants()
        self.denied_h100()
        self.admitted_t4()
        self.other_examples()
        self.denied_nodepool()
        self.denied_model_endpoint()
        self.expiry()
        demo_compute.compute_accounting(self)  # issue 14: its own module
        self.audit()

    def control_plane(self) -> None:
        self.heading("A real Kubernetes API server")
        self.console.say("etcd + kube-apiserver built from the Kubernetes Go modules, on loopback.")
        cluster = self.stack.start_cluster()
        self.console.step(f"kube-apiserver {cluster.server} ready in {cluster.start_seconds:.1f}s")
        self.kubectl("version")
        names, problems = self.stack.install_crds()
        for problem in problems:
            self.score.expect("operator CRD installed", False, problem)
        if self.stack.stand_ins:
            self.console.say(
                "installed schemaless stand-ins for " + ", ".join(self.stack.stand_ins)
                + " (the operator's own CRDs were missing or rejected)."
            )
        self.console.step(f"CRDs established: {', '.join(names)}")

    def exportgate(self) -> None:
        self.heading("exportgate: policy sidecar, admission webhook, operator")
        self.console.say(
            "The sidecar watches Tenant/ExportPolicy objects and decides; the webhook asks it "
            "over a Unix socket; the API server calls the webhook over TLS (URL + caBundle)."
        )
        sidecar = self.stack.start_sidecar()
        self.console.step(f"exportgate-sidecar pid {sidecar.pid}: unix://{self.stack.socket}")
        webhook = self.stack.start_webhook()
        self.console.step(
            f"exportgate-webhook pid {webhook.pid}: {self.stack.webhook_url('/validate')}"
        )
        self.stack.register_webhooks()
        self.kubectl(
            "get", "validatingwebhookconfigurations,mutatingwebhookconfigurations", "-o", "name"
        )
        try:
            operator = self.stack.start_operator()
        except StackError as exc:
            self.score.expect("exportgate-operator started", False, str(exc))
            operator = None
        if operator is None:
            self.console.step("operator not installed (exportgate-operator missing): its steps "
                              "are skipped")
        else:
            self.operator_running = True
            self.console.step(f"exportgate-operator pid {operator.pid}")

    def tenants(self) -> None:
        self.heading("The platform team registers tenants and binds namespaces")
        self.console.say(
            "acme: verified, Singapore.  nimbus: Singapore subsidiary, ultimate parent "
            "headquartered in China (D:5).  orbit: verification expired."
        )
        self.kubectl("apply", "-f", str(EXAMPLES / "tenants.yaml"))
        namespaces = [d for d in self.workloads if d["kind"] == "Namespace"]
        self.kube.apply(namespaces)
        for ns in namespaces:
            tenant = ns["metadata"]["labels"][objects.TENANT_LABEL]
            group = tenant_identity(tenant).groups[0]
            self.kube.apply(objects.tenant_rbac(tenant, ns["metadata"]["name"], group))
        self.kube.apply(objects.platform_rbac())
        self.kubectl("get", "namespaces", "-l", objects.TENANT_LABEL, "-L", objects.TENANT_LABEL)
        self._wait_until_enforcing()
        if self.operator_running:
            self._wait_for_statuses(["acme", "nimbus", "orbit"])
        self.kubectl("get", "tenants")

    def _wait_until_enforcing(self) -> None:
        """The API server learns of webhook configurations and the sidecar of tenants
        asynchronously: probe with a server-side dry run until both are in effect."""
        probe_doc = find(self.workloads, "Pod", "train-h100")
        path = self._write_manifest(probe_doc)
        who = tenant_identity("nimbus")
        kubeconfig = self.kube.user_kubeconfig(who.user, who.groups)

        def enforcing() -> bool:
            proc = self.kube.kubectl(
                "create", "--dry-run=server", "-f", str(path), kubeconfig=kubeconfig, check=False
            )
            return proc.returncode != 0 and RULE_D5 in proc.stderr

        tries = LocalCluster.wait_for_webhook(enforcing, timeout=60.0, interval=0.5)
        self.console.step(f"webhook enforcing (confirmed by a server-side dry run, {tries} tries)")

    def denied_h100(self) -> None:
        self.heading("nimbus asks for 8 H100s: denied")
        self.console.say(
            "Acting as a nimbus developer. The H100 is 3A090.a; nimbus's parent is in D:5."
        )
        proc = self.create(find(self.workloads, "Pod", "train-h100"), tenant_identity("nimbus"))
        self.expect_denied(proc, "H100 Pod for nimbus", RULE_D5)

    def admitted_t4(self) -> None:
        self.heading("nimbus asks for a T4: admitted, with its decision id")
        self.console.say("A T4 is outside 3A090 for everyone; the mutating webhook stamps it.")
        who = tenant_identity("nimbus")
        proc = self.create(find(self.workloads, "Pod", "infer-t4"), who)
        self.expect_admitted(proc, "T4 Pod for nimbus")
        self.kubectl(
            "get",
            "pod",
            "infer-t4",
            "-n",
            "nimbus-ml",
            "-o",
            "custom-columns=NAME:.metadata.name,"
            "DECISION-ID:.metadata.annotations.exportgate\\.dev/decision-id,"
            "CLASS:.metadata.annotations.exportgate\\.dev/accelerator-class",
            who=who,
        )
        stamped = self.annotations("pod", "infer-t4", "nimbus-ml").get(DECISION_ID, "")
        self.score.expect("T4 Pod carries exportgate.dev/decision-id", bool(stamped), stamped)

    def other_examples(self) -> None:
        self.heading("The rest of examples/workloads.yaml")
        self.console.say("acme (verified, SG) may run H100s; orbit's verification has expired.")
        deployment = find(self.workloads, "Deployment", "serve-h100")
        proc = self.create(deployment, tenant_identity("acme"))
        self.expect_admitted(proc, "H100 Deployment for acme")
        proc = self.create(find(self.workloads, "Job", "finetune"), tenant_identity("orbit"))
        self.expect_denied(proc, "GPU Job for orbit (expired)", RULE_UNVERIFIED)

    def denied_nodepool(self) -> None:
        self.heading("A Karpenter NodePool of p5 (H100) instances for nimbus: denied")
        self.console.say(
            "Node pools are the platform team's; the pool is labelled for nimbus, so nimbus's "
            "rules apply to what it would provision (a minimal NodePool CRD is installed)."
        )
        proc = self.create(find(self.workloads, "NodePool", "nimbus-gpu"), PLATFORM)
        self.expect_denied(proc, "p5 NodePool for nimbus", RULE_D5)

    def denied_model_endpoint(self) -> None:
        self.heading("nimbus asks for a hosted Claude endpoint: denied")
        self.console.say("The model vendor's terms exclude companies owned from China.")
        proc = self.create(
            find(self.workloads, "ModelEndpoint", "assistant"), tenant_identity("nimbus")
        )
        self.expect_denied(proc, "Claude ModelEndpoint for nimbus", RULE_MODEL_TERMS)

    # ---- expiry --------------------------------------------------------------------------

    def expiry(self) -> None:
        self.heading(f"A verification expires while a workload runs ({EXPIRING})")
        expires = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=self.expiry_s)
        tenant = {
            "apiVersion": "exportgate.dev/v1alpha1",
            "kind": "Tenant",
            "metadata": {"name": EXPIRING},
            "spec": {
                "legalName": "Vega Systems GmbH",
                "incorporation": "DE",
                "headquarters": "DE",
                "verification": {
                    "state": "Verified",
                    "verifiedAt": "2025-12-01T00:00:00Z",
                    "expiresAt": rfc3339(expires),
                    "evidenceRef": "kyc-case-7730",
                },
            },
        }
        self.console.say(
            f"{EXPIRING} is verified in Germany until {rfc3339(expires)} "
            f"(about {self.expiry_s:.0f}s from now) and starts an H100 Pod in time."
        )
        self.kubectl("apply", "-f", str(self._write_manifest(tenant)))
        namespace = {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": EXPIRING_NS, "labels": {objects.TENANT_LABEL: EXPIRING}},
        }
        self.kube.apply(namespace)
        who = tenant_identity(EXPIRING)
        self.kube.apply(objects.tenant_rbac(EXPIRING, EXPIRING_NS, who.groups[0]))
        pod = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "train-h100", "namespace": EXPIRING_NS},
            "spec": {
                "nodeSelector": {"nvidia.com/gpu.product": "NVIDIA-H100-80GB-HBM3"},
                "containers": [
                    {
                        "name": "trainer",
                        "image": "registry.example.com/trainer:1.0",
                        "resources": {"limits": {"nvidia.com/gpu": "8"}},
                    }
                ],
            },
        }
        proc = self._create_when_known(pod, who)
        self.expect_admitted(proc, f"H100 Pod for {EXPIRING} while verified")
        if self.operator_running:
            self._wait_for_statuses([EXPIRING])
            self.kubectl("get", "tenant", EXPIRING, who=who)
        wait = (expires - dt.datetime.now(dt.UTC)).total_seconds()
        if wait > 0:
            self.console.say(f"waiting {wait:.0f}s for the verification to expire ...")
            time.sleep(wait + 1)
        if self.operator_running:
            self._operator_reaudit(who)
        else:
            self.score.skip(
                "operator not installed: no status flip or violation annotation on the running "
                "workload"
            )
        self.console.say("New requests are judged at the time they are made:")
        pod2 = {**pod, "metadata": {"name": "train-h100-again", "namespace": EXPIRING_NS}}
        proc = self.create(pod2, who)
        self.expect_denied(proc, f"new H100 Pod for {EXPIRING} after expiry", RULE_UNVERIFIED)

    def _create_when_known(
        self, doc: dict[str, Any], who: Identity
    ) -> subprocess.CompletedProcess[str]:
        """Create once the sidecar has seen the new Tenant (its watch is asynchronous)."""
        path = self._write_manifest(doc)
        kubeconfig = self.kube.user_kubeconfig(who.user, who.groups)

        def admitted_in_dry_run() -> bool:
            proc = self.kube.kubectl(
                "create", "--dry-run=server", "-f", str(path), kubeconfig=kubeconfig, check=False
            )
            return proc.returncode == 0

        # Not fatal if it never admits: the real create below shows the reason.
        with contextlib.suppress(ClusterError):
            LocalCluster.wait_for_webhook(admitted_in_dry_run, timeout=15.0, interval=0.5)
        return self.create(doc, who)

    def _operator_reaudit(self, who: Identity) -> None:
        self.console.say("Nobody touches the workload; the operator's expiry timer re-audits it.")
        deadline = time.monotonic() + OPERATOR_REACTION_S
        annotation = ""
        expired = False
        while time.monotonic() < deadline and not (annotation and expired):
            annotation = self.annotations("pod", "train-h100", EXPIRING_NS).get(VIOLATION, "")
            expired = "Expired" in json.dumps(self._tenant_status(EXPIRING))
            if not (annotation and expired):
                time.sleep(1.0)
        self.kubectl("get", "tenant", EXPIRING, who=who)
        self.score.expect(f"Tenant {EXPIRING} status shows Expired", expired)
        self.kubectl(
            "get",
            "pod",
            "train-h100",
            "-n",
            EXPIRING_NS,
            "-o",
            "jsonpath={.metadata.annotations.exportgate\\.dev/violation}{\"\\n\"}",
            who=who,
        )
        self.score.expect(
            f"running Pod of {EXPIRING} annotated {VIOLATION}", bool(annotation), annotation
        )
        self.kubectl(
            "get", "events", "-n", EXPIRING_NS, "--field-selector",
            "involvedObject.name=train-h100", who=who,
        )  # fmt: skip
        self.kubectl("get", "policyreports", "-n", EXPIRING_NS, who=who)

    # ---- audit ---------------------------------------------------------------------------

    def audit(self) -> None:
        self.heading("Auditors: verify the decision log")
        self.console.say(
            "Every decision above was written to a hash-chained log before it was answered."
        )
        files = sorted(str(p) for p in self.stack.decision_log.parent.glob("*.jsonl"))
        exportgate = console_script("exportgate")
        if exportgate is None or not files:
            self.score.expect("decision log verifies", False, "no exportgate CLI or no log")
            return
        for argv in ([str(exportgate), "audit", "summary", *files],
                     [str(exportgate), "audit", "verify", *files]):  # fmt: skip
            passed = [argv[0], *(self._arg(a)[0] for a in argv[1:])]
            self.console.command(["exportgate", *(self._arg(a)[1] for a in argv[1:])], "auditor")
            proc = subprocess.run(
                passed,
                cwd=self.stack.workdir,
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
            )
            self.console.output(proc.stdout + proc.stderr)
        self.score.expect("decision log verifies (exit 0)", proc.returncode == 0)
