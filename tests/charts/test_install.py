"""`helm install` of the default chart into the real API server.

No kubelet runs, so the pods stay Pending and the in-cluster webhook Service has no endpoints:
exactly the state of a cluster whose webhook pods are down. That makes two properties testable
for real: requests the CEL pre-filter skips are admitted, and requests it sends fail closed.
"""

from __future__ import annotations

import base64
import copy
import json
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, cast

import pytest
from cryptography import x509

from tests.charts.chart import CHART, write_values
from tests.charts.cluster_helpers import (
    create_as_tenant,
    get,
    helm_install,
    helm_uninstall,
    pod,
    pod_from_template,
    tenant_namespace,
)
from tests.cluster.local_cluster import LocalCluster

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(300)]

RELEASE = "egi"
NAMESPACE = "egi-system"
TENANT_NS = "egi-nimbus-ml"
WEBHOOK = f"{RELEASE}-exportgate-webhook"
ROTATOR = CHART / "files" / "rotate_certs.py"


@pytest.fixture(scope="module")
def installed(
    kube_cluster: LocalCluster, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LocalCluster]:
    # Bound before the webhook exists: binding a namespace is itself guarded.
    tenant_namespace(kube_cluster, TENANT_NS, "nimbus")
    # With the opt-in decision stamp, so both configurations are installed, rotated and removed
    # (test_install_variants installs the default, validating only).
    values = write_values(
        tmp_path_factory.mktemp("values"), {"webhook": {"mutating": {"enabled": True}}}
    )
    helm_install(kube_cluster, RELEASE, NAMESPACE, values)
    try:
        # "Not sent" results only mean something once the API server uses the configuration.
        _wait_until_gpu_pods_fail_closed(kube_cluster)
        yield kube_cluster
    finally:
        # Its webhooks fail closed and nothing serves them: never leave them to other tests.
        helm_uninstall(kube_cluster, RELEASE, NAMESPACE)
        for kind in ("validatingwebhookconfiguration", "mutatingwebhookconfiguration"):
            kube_cluster.delete(kind, WEBHOOK)


def test_every_object_is_accepted(installed: LocalCluster) -> None:
    status = installed.helm("status", RELEASE, "--namespace", NAMESPACE, "-o", "json")
    assert '"status":"deployed"' in status.stdout.replace(" ", "")
    for kind, name in [
        ("deployment", WEBHOOK),
        ("deployment", f"{RELEASE}-exportgate-operator"),
        ("service", WEBHOOK),
        ("poddisruptionbudget", WEBHOOK),
        ("cronjob", f"{RELEASE}-exportgate-cert-rotator"),
        ("secret", f"{WEBHOOK}-tls"),
        ("serviceaccount", WEBHOOK),
    ]:
        assert get(installed, kind, name, NAMESPACE)["metadata"]["name"] == name
    for kind in ("validatingwebhookconfiguration", "mutatingwebhookconfiguration"):
        assert get(installed, kind, WEBHOOK)["webhooks"]
    peering = get(installed, "clusterkopfpeering", f"{RELEASE}-exportgate-operator")
    assert peering["kind"] == "ClusterKopfPeering"
    for crd in ("tenants.exportgate.dev", "exportpolicies.exportgate.dev"):
        assert get(installed, "crd", crd)["metadata"]["name"] == crd


@pytest.mark.parametrize(
    ("kind", "name"),
    [
        ("deployment", WEBHOOK),
        ("deployment", f"{RELEASE}-exportgate-operator"),
        ("cronjob", f"{RELEASE}-exportgate-cert-rotator"),
    ],
)
def test_pods_of_every_template_pass_pod_admission(
    installed: LocalCluster, kind: str, name: str
) -> None:
    proc = pod_from_template(installed, kind, name, NAMESPACE)
    assert proc.returncode == 0, proc.stderr


def test_prefilter_admits_plain_pods_without_calling_the_webhook(installed: LocalCluster) -> None:
    # The webhook has no endpoints: had the API server called it, this would fail closed.
    proc = create_as_tenant(installed, pod("web", TENANT_NS), dry_run=True)
    assert proc.returncode == 0, proc.stderr


def _wait_until_gpu_pods_fail_closed(cluster: LocalCluster) -> None:
    def rejected() -> bool:
        proc = create_as_tenant(cluster, pod("gpu", TENANT_NS, gpus=1), dry_run=True)
        # The mutating webhook is called first; either of the two workload webhooks will do.
        return proc.returncode != 0 and 'failed calling webhook "workloads.' in proc.stderr

    cluster.wait_for_webhook(rejected, timeout=30)


def test_gpu_pods_fail_closed_when_no_webhook_answers(installed: LocalCluster) -> None:
    _wait_until_gpu_pods_fail_closed(installed)


def _with(obj: dict[str, Any], **container: Any) -> dict[str, Any]:
    obj["spec"]["containers"][0].update(container)
    return obj


def _controller(kind: str, pod_spec: dict[str, Any]) -> dict[str, Any]:
    template = {"metadata": {"labels": {"app": "x"}}, "spec": pod_spec}
    if kind == "Deployment":
        spec: dict[str, Any] = {"selector": {"matchLabels": {"app": "x"}}, "template": template}
        api = "apps/v1"
    else:
        pod_spec["restartPolicy"] = "Never"
        spec = {"schedule": "0 * * * *", "jobTemplate": {"spec": {"template": template}}}
        api = "batch/v1"
    name = kind.lower()
    return {"apiVersion": api, "kind": kind, "metadata": {"name": name, "namespace": TENANT_NS},
            "spec": spec}  # fmt: skip


def _gpu_spec() -> dict[str, Any]:
    return dict(pod("x", TENANT_NS, gpus=1)["spec"])


def _plain_spec() -> dict[str, Any]:
    return dict(pod("x", TENANT_NS)["spec"])


# The red team's containers (F3): each names a model the core finds, and denies to nimbus.
FLAG_FROM_VAR: dict[str, Any] = {
    "env": [{"name": "FLAG", "value": "--model"}],
    "args": ["$(FLAG)", "claude-sonnet-4"],
}
PROGRAM_FROM_SHELL_VAR: dict[str, Any] = {
    "env": [{"name": "SRV", "value": "vllm"}],
    "command": ["sh", "-c", "$SRV serve meta-llama/Llama-4-Scout-17B-16E-Instruct"],
}
FLAG_FROM_SHELL_VAR: dict[str, Any] = {
    "env": [{"name": "F", "value": "--model=claude-sonnet-4"}],
    "command": ["sh", "-c", "exec /app/run $F"],
}

SCOUT = "meta-llama/Llama-4-Scout-17B-16E-Instruct"
# Red team (this session): model servers, downloads, envFrom and base URLs the model reader
# reads but the hand-written filter let through unseen. Each must be sent.
MODEL_SERVER_LINES: list[tuple[str, dict[str, Any]]] = [
    ("llama-server -hf", {"command": ["llama-server", "-hf",
                                      "unsloth/Llama-4-Scout-17B-16E-Instruct-GGUF"]}),
    ("llama.cpp -hf=", {"image": "ghcr.io/ggml-org/llama.cpp:server", "args": [f"-hf={SCOUT}"]}),
    ("llama.cpp -m file", {"args": ["-m", "/models/Llama-4-Scout-Q4_K_M.gguf"]}),
    ("trtllm-serve", {"command": ["trtllm-serve", SCOUT]}),
    ("lmdeploy", {"command": ["lmdeploy", "serve", "api_server", SCOUT]}),
    ("vllm image envFrom", {"image": "vllm/vllm-openai:v0.9",
                            "envFrom": [{"configMapRef": {"name": "llm"}}]}),
    ("vendor secret envFrom", {"envFrom": [{"secretRef": {"name": "openai-key"}}]}),
    ("server program envFrom", {"command": ["/usr/bin/text-generation-launcher"],
                                "envFrom": [{"configMapRef": {"name": "m"}}]}),
    ("openai base url", {"env": [{"name": "OPENAI_BASE_URL",
                                  "value": "https://api.openai.com/v1"}]}),
    # A shell joins quoted pieces of a word: sh -c "v''llm serve M" runs vllm.
    ("quote-split program", {"command": ["sh", "-c", f"v''llm serve {SCOUT}"]}),
    ("quoted short flag", {"command": ["sh", "-c", f'llama-server "-hf" {SCOUT}']}),
    ("backslash-split program", {"command": ["sh", "-c", f"h\\f download {SCOUT}"]}),
]  # fmt: skip
# An init container that downloads the weights the server then loads from a local path.
HF_DOWNLOAD_INIT: dict[str, Any] = {
    "name": "fetch", "image": "python:3.12",
    "command": ["sh", "-c", f"pip install -q huggingface_hub && hf download {SCOUT} -q"],
}  # fmt: skip


def _with_init(obj: dict[str, Any], *init: dict[str, Any]) -> dict[str, Any]:
    obj["spec"]["initContainers"] = list(init)
    return obj


def _annotated(obj: dict[str, Any], annotations: dict[str, str]) -> dict[str, Any]:
    """`obj` with `annotations` on its pod: a Pod's own metadata, a controller's template."""
    if obj["kind"] == "Pod":
        metadata = obj["metadata"]
    elif obj["kind"] == "CronJob":
        metadata = obj["spec"]["jobTemplate"]["spec"]["template"]["metadata"]
    else:
        metadata = obj["spec"]["template"]["metadata"]
    metadata["annotations"] = dict(annotations)
    return obj


def _owner_annotated(annotations: dict[str, str]) -> dict[str, Any]:
    """A plain Deployment whose own metadata (not its pods') carries `annotations`."""
    obj = _controller("Deployment", _plain_spec())
    obj["metadata"]["annotations"] = dict(annotations)
    return obj


FRACTION = {"gpu-fraction": "0.5"}
CDI_ALL = {"cdi.k8s.io/gpu": "nvidia.com/gpu=all"}


# (case, object, sent?). The webhook is unreachable, so "sent" shows as a fail-closed refusal
# and "not sent" as a plain admission: the CEL pre-filter is observed through the API server.
PREFILTER_CASES = [
    ("gpu pod", lambda: pod("a", TENANT_NS, gpus=1), True),
    ("gpu deployment", lambda: _controller("Deployment", _gpu_spec()), True),
    ("gpu cronjob", lambda: _controller("CronJob", _gpu_spec()), True),
    ("product nodeSelector", lambda: pod("b", TENANT_NS, product="NVIDIA-H100-80GB-HBM3"), True),
    ("model env", lambda: _with(pod("c", TENANT_NS), env=[{"name": "MODEL_ID", "value": "m"}]),
     True),
    ("vllm args", lambda: _with(pod("d", TENANT_NS), args=["--model", "meta-llama/x"]), True),
    ("nim image", lambda: _with(pod("e", TENANT_NS), image="nvcr.io/nim/meta/llama3:1"), True),
    ("sdk model env", lambda: _with(pod("e1", TENANT_NS), env=[
        {"name": "ANTHROPIC_MODEL", "value": "$(M)"}]), True),
    ("azure deployment env", lambda: _with(pod("e2", TENANT_NS), env=[
        {"name": "AZURE_OPENAI_DEPLOYMENT", "value": "prod"}]), True),
    ("ollama command", lambda: _with(pod("e3", TENANT_NS), command=["ollama", "run", "llama3"]),
     True),
    ("claude code switch", lambda: _with(pod("e6", TENANT_NS), env=[
        {"name": "CLAUDE_CODE_USE_BEDROCK", "value": "1"}]), True),
    ("postStart hook", lambda: _with(pod("e4", TENANT_NS), lifecycle={
        "postStart": {"exec": {"command": ["ollama", "pull", "llama3"]}}}), True),
    ("preStop hook only", lambda: _with(pod("e5", TENANT_NS), lifecycle={
        "preStop": {"exec": {"command": ["sleep", "5"]}}}), False),
    ("stamp annotation", lambda: {**pod("f", TENANT_NS), "metadata": {
        "name": "f", "namespace": TENANT_NS,
        "annotations": {"exportgate.dev/decision-id": "forged"}}}, True),
    # Red-team F3: an extended resource the vocabulary does not list as no accelerator is an
    # unknown accelerator, so the filter sends it; Kubernetes' own and listed NICs are not sent.
    ("unknown device plugin", lambda: _with(pod("q", TENANT_NS), resources={
        "limits": {"qualcomm.com/qaic": "1"}}), True),
    ("rdma nic", lambda: _with(pod("r", TENANT_NS),
                               resources={"limits": {"rdma/hca_shared_devices_a": "1"}}), False),
    ("hugepages", lambda: _with(pod("r2", TENANT_NS), resources={
        "limits": {"hugepages-2Mi": "2Mi", "memory": "64Mi", "cpu": "1"}}), False),
    # Red team 3, F3: a model named only once env values are expanded into the command line.
    ("flag from $(VAR)", lambda: _with(pod("e7", TENANT_NS), **FLAG_FROM_VAR), True),
    ("program from shell $VAR", lambda: _with(pod("e8", TENANT_NS), **PROGRAM_FROM_SHELL_VAR),
     True),
    ("flag from shell $VAR", lambda: _with(pod("e9", TENANT_NS), **FLAG_FROM_SHELL_VAR), True),
    ("$ without env", lambda: _with(pod("e10", TENANT_NS), command=["sh", "-c", "echo $HOME"]),
     False),
    ("env without $", lambda: _with(pod("e11", TENANT_NS), env=[{"name": "LANG", "value": "C"}],
                                    args=["--port", "8080"]), False),
    *[(case, lambda c=c: _with(pod("s", TENANT_NS), **c), True)
      for case, c in MODEL_SERVER_LINES],
    ("hf download in an init container",
     lambda: _with_init(pod("s", TENANT_NS), HF_DOWNLOAD_INIT), True),
    # Ordinary containers the model vocabulary must not send (the filter spares them a call).
    ("nginx envFrom", lambda: _with(pod("n1", TENANT_NS), image="nginx",
                                    envFrom=[{"configMapRef": {"name": "nginx-conf"}}]), False),
    ("max-connections args", lambda: _with(pod("n2", TENANT_NS),
                                           args=["--max-connections", "100", "-v"]), False),
    ("python -m module", lambda: _with(pod("n3", TENANT_NS),
                                       command=["python", "-m", "http.server", "8080"]), False),
    ("models directory", lambda: _with(pod("n4", TENANT_NS),
                                       args=["--data-dir", "/models/cache"]), False),
    ("model-ish variable", lambda: _with(pod("n5", TENANT_NS), env=[
        {"name": "MODEL_CACHE_DIR", "value": "/cache"}]), False),
    # Red team: pods that get a GPU through annotations instead of a resource request.
    ("kai gpu-fraction pod", lambda: _annotated(pod("k1", TENANT_NS), FRACTION), True),
    ("cdi annotation pod", lambda: _annotated(pod("k2", TENANT_NS), CDI_ALL), True),
    ("gpu-memory deployment", lambda: _annotated(_controller("Deployment", _plain_spec()),
                                                 {"gpu-memory": "2000"}), True),
    ("cdi cronjob", lambda: _annotated(_controller("CronJob", _plain_spec()), CDI_ALL), True),
    ("unrelated annotations", lambda: _annotated(pod("k3", TENANT_NS), {
        "prometheus.io/scrape": "true", "example.com/gpu-fraction": "1"}), False),
    ("owner annotation only", lambda: _owner_annotated(FRACTION), False),
    ("plain pod", lambda: pod("g", TENANT_NS), False),
    ("cpu-only pod", lambda: _with(pod("h", TENANT_NS),
                                   resources={"limits": {"cpu": "2", "memory": "1Gi"}}), False),
    ("os nodeSelector", lambda: {**pod("i", TENANT_NS), "spec": {
        **_plain_spec(), "nodeSelector": {"kubernetes.io/os": "linux"}}}, False),
    ("plain deployment", lambda: _controller("Deployment", _plain_spec()), False),
    ("plain cronjob", lambda: _controller("CronJob", _plain_spec()), False),
]  # fmt: skip


@pytest.mark.parametrize(
    ("obj", "sent"),
    [pytest.param(make, sent, id=case) for case, make, sent in PREFILTER_CASES],
)
def test_prefilter_sends_exactly_what_may_need_a_decision(
    installed: LocalCluster, obj: Callable[[], dict[str, Any]], sent: bool
) -> None:
    def observed() -> bool:
        proc = create_as_tenant(installed, obj(), dry_run=True)
        refused = proc.returncode != 0 and 'failed calling webhook "workloads.' in proc.stderr
        assert refused or proc.returncode == 0, proc.stderr  # no other kind of failure
        return refused == sent

    # Retried only while the API server may still be loading the configuration.
    installed.wait_for_webhook(observed, timeout=30)


def _containers_naming_models() -> list[tuple[str, dict[str, Any]]]:
    """Every container of the model reader's own tests (and the red team's) in which the core
    finds a model: the pre-filter must send each, or the webhook never sees what it would deny."""
    from exportgate.core.extract import extract_workload
    from tests.core.extract.test_models import CONTAINERS, MORE_CONTAINERS, SERVER_LINES
    from tests.core.test_model_decisions import DENIED_LLAMA_4_FOR_THE_EU, RUN_TIME

    lists = [*CONTAINERS, *MORE_CONTAINERS, *SERVER_LINES]
    cases = [(case, cast(dict[str, Any], c)) for case, c, _ in lists]
    cases += [("red-team-flag-from-var", {"image": "x", **FLAG_FROM_VAR}),
              ("red-team-program-from-shell-var", {"image": "x", **PROGRAM_FROM_SHELL_VAR}),
              ("red-team-flag-from-shell-var", {"image": "x", **FLAG_FROM_SHELL_VAR})]  # fmt: skip
    cases += [(f"red-team-{case}", {"image": "x", **container})
              for case, container in MODEL_SERVER_LINES]  # fmt: skip
    found = []
    for case, container in cases:
        obj = _with(pod("m", TENANT_NS), **container)
        if extract_workload(obj).models:
            found.append((case, obj))
    # The decision tests' Deployments: their pod specs, init containers included, as pods.
    decisions = [*DENIED_LLAMA_4_FOR_THE_EU, *((case, obj) for case, obj, _ in RUN_TIME)]
    for case, obj in decisions:
        if obj["kind"] != "Deployment":
            continue  # other kinds are always sent (webhook.guardedResources)
        spec = copy.deepcopy(obj["spec"]["template"]["spec"])
        as_pod = pod("m", TENANT_NS)
        as_pod["spec"] = {**spec, "containers": [{"image": "x", **c} for c in spec["containers"]]}
        if extract_workload(as_pod).models:
            found.append((f"decision-{case}", as_pod))
    assert len(found) >= 60, "the model reader's fixtures moved: import them from their new home"
    return found


def test_prefilter_sends_every_container_the_model_reader_finds_a_model_in(
    installed: LocalCluster,
) -> None:
    """Differential (red team 3, F3): the CEL pre-filter, evaluated by the real API server, is
    never narrower than exportgate.core.extract.models."""
    unsent = []
    for index, (case, obj) in enumerate(_containers_naming_models()):
        obj["metadata"]["name"] = f"model-{index}"
        proc = create_as_tenant(installed, obj, dry_run=True)
        if 'failed calling webhook "workloads.' not in proc.stderr:
            unsent.append(f"{case}: {proc.stderr.strip() or 'admitted without a call'}")
    assert not unsent, "extend exportgate.celContainer in _cel.tpl:\n" + "\n".join(unsent)


def _annotated_workloads() -> list[tuple[str, dict[str, Any]]]:
    """Every annotation case of the device-annotation reader's tests (string values, as the API
    server takes them), on a Pod, a Deployment's template and a CronJob's template."""
    from tests.core.extract.test_device_annotations import (
        CDI,
        PER_CONTAINER,
        SHARING,
        UNRELATED,
    )
    from tests.core.extract.test_pod_vm import POD_VM_ANNOTATIONS

    cases = [(case, pairs) for case, pairs in SHARING + PER_CONTAINER + UNRELATED]
    cases += [(case, pairs) for case, pairs, _ in CDI]
    # A peer pod's VM chosen by annotation (red team 13, F5): machine_type, default_gpus.
    cases += POD_VM_ANNOTATIONS
    found = []
    for case, pairs in cases:
        if not all(isinstance(v, str) for v in pairs.values()):
            continue  # the API server refuses it before any webhook
        for kind in ("Pod", "Deployment", "CronJob"):
            obj = pod("a", TENANT_NS) if kind == "Pod" else _controller(kind, _plain_spec())
            found.append((f"{case}-{kind}", _annotated(obj, pairs)))
    assert len(found) >= 40, "the reader's fixtures moved: import them from their new home"
    return found


def test_prefilter_sends_exactly_the_pods_whose_annotations_hand_them_a_device(
    installed: LocalCluster,
) -> None:
    """Differential: the CEL pre-filter, evaluated by the real API server, sends a plain pod
    exactly when exportgate.core.extract.device_annotations finds a device in its annotations
    (the pod's own, or its template's), or pod_vm a VM (red team 13: KAI Scheduler's
    per-container keys, a peer pod's machine_type without a RuntimeClass): never narrower than
    the reader, and no wider here."""
    from exportgate.core.extract import extract_workload

    wrong = []
    for index, (case, obj) in enumerate(_annotated_workloads()):
        obj["metadata"]["name"] = f"annotated-{index}"
        read = extract_workload(obj).accelerators != ()
        proc = create_as_tenant(installed, obj, dry_run=True)
        sent = 'failed calling webhook "workloads.' in proc.stderr
        assert sent or proc.returncode == 0, proc.stderr  # no other kind of failure
        if sent != read:
            wrong.append(f"{case}: read {read}, sent {sent}")
    assert not wrong, "exportgate.celDeviceAnnotations in _cel.tpl:\n" + "\n".join(wrong)


# Red team 13b, H4: the API server merges a Binding's metadata.annotations into its Pod
# (BindingREST.setPodHostAndAnnotations, kubernetes/kubernetes
# pkg/registry/core/pod/storage/storage.go; the legacy `bindings` resource calls the same
# code), unseen by the Pod's admission. The chart sends a Binding to the pod-write guard only
# when it carries an annotation exportgate reads; kube-scheduler's Bindings carry none
# (DefaultBinder.Bind, pkg/scheduler/framework/plugins/defaultbinder/default_binder.go: name,
# namespace, uid and target only), so they are never sent: never slowed, never refused.
SCHEDULER = "system:kube-scheduler"
BOUND_POD = "bind-me"
RED_TEAM_BINDING = {
    "cdi.k8s.io/x": "nvidia.com/gpu=all",
    "io.katacontainers.config.hypervisor.machine_type": "p5.48xlarge",
    "gpu-fraction": "1",
    "exportgate.dev/decision-id": "forged",
}
BINDING_CASES = [
    ("kube-scheduler's binding", {}, False),
    ("red team 13b probe", RED_TEAM_BINDING, True),
    ("cdi device", CDI_ALL, True),
    ("kai gpu-fraction", FRACTION, True),
    ("kai per-container share", {"nvidia.com/container.main.gpu-memory.request": "2000"}, True),
    ("kata machine_type", {"io.katacontainers.config.hypervisor.machine_type": "p5.48xlarge"},
     True),
    ("forged stamp", {"exportgate.dev/decision-id": "forged"}, True),
    ("unrelated annotations", {"prometheus.io/scrape": "true", "example.com/gpu-fraction": "1"},
     False),
]  # fmt: skip


def _bind(
    cluster: LocalCluster, annotations: dict[str, str], *, legacy: bool, user: str = SCHEDULER
) -> subprocess.CompletedProcess[str]:
    """A dry-run Binding of BOUND_POD (which stays unbound), through pods/binding or, `legacy`,
    the top-level bindings resource (POST /api/v1/namespaces/{ns}/bindings)."""
    metadata: dict[str, Any] = {"name": BOUND_POD, "namespace": TENANT_NS}
    if annotations:
        metadata["annotations"] = dict(annotations)
    binding = {
        "apiVersion": "v1",
        "kind": "Binding",
        "metadata": metadata,
        "target": {"apiVersion": "v1", "kind": "Node", "name": "gpu-node-1"},
    }
    base = f"/api/v1/namespaces/{TENANT_NS}"
    path = f"{base}/bindings" if legacy else f"{base}/pods/{BOUND_POD}/binding"
    return cluster.kubectl(
        "create", "--raw", f"{path}?dryRun=All", "-f", "-", input=json.dumps(binding),
        as_user=user, check=False, timeout=30,
    )  # fmt: skip


@pytest.fixture(scope="module")
def unbound_pod(installed: LocalCluster) -> str:
    """A plain pod (not sent) with no node yet: what a Binding binds."""
    if installed.kubectl("get", "pod", BOUND_POD, "-n", TENANT_NS, check=False).returncode:
        proc = create_as_tenant(installed, pod(BOUND_POD, TENANT_NS))
        assert proc.returncode == 0, proc.stderr
    return BOUND_POD


@pytest.mark.parametrize("legacy", [False, True], ids=["pods-binding", "bindings"])
@pytest.mark.parametrize(
    ("annotations", "sent"),
    [pytest.param(a, sent, id=case) for case, a, sent in BINDING_CASES],
)
def test_bindings_are_sent_exactly_when_they_carry_an_annotation_exportgate_reads(
    installed: LocalCluster, unbound_pod: str, annotations: dict[str, str], sent: bool,
    legacy: bool,
) -> None:  # fmt: skip
    """The webhook is unreachable: "sent" is a fail-closed refusal by the pod-write guard,
    "not sent" a plain admission (kube-scheduler's Binding among them)."""

    def observed() -> bool:
        proc = _bind(installed, annotations, legacy=legacy)
        refused = proc.returncode != 0 and 'failed calling webhook "podstatus.' in proc.stderr
        assert refused or proc.returncode == 0, proc.stderr  # no other kind of failure
        return refused == sent

    installed.wait_for_webhook(observed, timeout=30)


def test_bindings_are_sent_exactly_when_the_guard_would_read_their_annotations(
    installed: LocalCluster, unbound_pod: str
) -> None:
    """Differential: the match condition, evaluated by the real API server, sends a Binding
    exactly when the webhook's rule (exportgate_webhook.podstatus) finds an annotation it
    guards, over every annotation case of the device-annotation reader's tests."""
    from exportgate_webhook.podstatus import binding_guarded_annotations

    from exportgate.core.extract import AdapterRegistry

    vocabulary = AdapterRegistry.builtin().vocabulary
    wrong = []
    for case, obj in _annotated_workloads():
        if obj["kind"] != "Pod":
            continue
        annotations = obj["metadata"]["annotations"]
        guarded = bool(binding_guarded_annotations({"metadata": obj["metadata"]}, vocabulary))
        proc = _bind(installed, annotations, legacy=False)
        sent = 'failed calling webhook "podstatus.' in proc.stderr
        assert sent or proc.returncode == 0, proc.stderr
        if sent != guarded:
            wrong.append(f"{case}: guarded {guarded}, sent {sent}")
    assert not wrong, "exportgate.celBindingGuarded in _cel.tpl:\n" + "\n".join(wrong)


def test_exempt_namespaces_are_never_sent(installed: LocalCluster) -> None:
    for namespace in ("kube-system", NAMESPACE):
        proc = installed.kubectl(
            "create", "--dry-run=server", "-f", "-", check=False,
            input=_yaml(pod("gpu", namespace, gpus=1)),
        )  # fmt: skip
        assert proc.returncode == 0, proc.stderr


def test_upgrade_keeps_the_generated_ca(installed: LocalCluster, tmp_path: Path) -> None:
    before = get(installed, "secret", f"{WEBHOOK}-tls", NAMESPACE)["data"]
    installed.helm(
        "upgrade", RELEASE, str(CHART), "--namespace", NAMESPACE,
        "--values", str(write_values(tmp_path, {})),
    )  # fmt: skip
    after = get(installed, "secret", f"{WEBHOOK}-tls", NAMESPACE)["data"]
    assert after == before
    hooks = get(installed, "validatingwebhookconfiguration", WEBHOOK)["webhooks"]
    assert {h["clientConfig"]["caBundle"] for h in hooks} == {before["ca.crt"]}


def test_rotator_renews_with_the_same_ca_and_heals_the_ca_bundle(
    installed: LocalCluster,
) -> None:
    before = get(installed, "secret", f"{WEBHOOK}-tls", NAMESPACE)["data"]
    # Someone broke one webhook's caBundle: the rotator must put the chart's CA back.
    installed.kubectl(
        "patch", "validatingwebhookconfiguration", WEBHOOK, "--type=json",
        "-p", '[{"op":"replace","path":"/webhooks/1/clientConfig/caBundle","value":"Zm9v"}]',
    )  # fmt: skip
    # Renewing more than the certificate's lifetime ahead forces a renewal now.
    proc = subprocess.run(
        [
            sys.executable, str(ROTATOR), f"--kubeconfig={installed.kubeconfig}",
            f"--namespace={NAMESPACE}", f"--tls-secret={WEBHOOK}-tls",
            f"--ca-secret={WEBHOOK}-ca", f"--webhook-configuration={WEBHOOK}",
            "--renew-before-days=400", "--validity-days=365",
        ],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "renewed serving certificate" in proc.stdout
    assert "caBundle re-synced on 1 webhook(s)" in proc.stdout
    after = get(installed, "secret", f"{WEBHOOK}-tls", NAMESPACE)["data"]
    assert after["ca.crt"] == before["ca.crt"]
    assert after["tls.crt"] != before["tls.crt"]
    ca = x509.load_pem_x509_certificate(base64.b64decode(after["ca.crt"]))
    leaf = x509.load_pem_x509_certificate(base64.b64decode(after["tls.crt"]))
    leaf.verify_directly_issued_by(ca)
    names = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert f"{WEBHOOK}.{NAMESPACE}.svc" in names.get_values_for_type(x509.DNSName)
    for kind in ("validatingwebhookconfiguration", "mutatingwebhookconfiguration"):
        hooks = get(installed, kind, WEBHOOK)["webhooks"]
        assert {h["clientConfig"]["caBundle"] for h in hooks} == {before["ca.crt"]}


def test_off_switch_then_upgrade_restores_admission(installed: LocalCluster) -> None:
    ca = get(installed, "secret", f"{WEBHOOK}-tls", NAMESPACE)["data"]["ca.crt"]
    gpu = pod("gpu", TENANT_NS, gpus=1)
    # The documented off switch: delete both configurations.
    for kind in ("validatingwebhookconfiguration", "mutatingwebhookconfiguration"):
        installed.kubectl("delete", kind, WEBHOOK)
    installed.wait_for_webhook(
        lambda: create_as_tenant(installed, gpu, dry_run=True).returncode == 0, timeout=30
    )
    # Switching back on is an upgrade: Helm recreates what it owns and finds missing.
    installed.helm(
        "upgrade", RELEASE, str(CHART), "--namespace", NAMESPACE, "--reuse-values"
    )  # fmt: skip
    for kind in ("validatingwebhookconfiguration", "mutatingwebhookconfiguration"):
        hooks = get(installed, kind, WEBHOOK)["webhooks"]
        assert {h["clientConfig"]["caBundle"] for h in hooks} == {ca}
    installed.wait_for_webhook(
        lambda: create_as_tenant(installed, gpu, dry_run=True).returncode != 0, timeout=30
    )


def _yaml(obj: object) -> str:
    import yaml

    return yaml.safe_dump(obj)


# Shell lines as long scripts carry them: plain, and the worst case for the model vocabulary
# (every substring guard true, so every regular expression runs, yet no whole token matches).
PLAIN_LINE = "echo 'hello world'; ls -la /srv/data && cat \"/etc/hosts\"\n"
WORST_LINE = "echo xhfx --mux x-mx 'ab' \\c \"d\" 'e'; : > x/y.gguf\n"


@pytest.mark.parametrize(
    ("line", "kib", "sent"),
    [(PLAIN_LINE, 60, False), (WORST_LINE, 60, False), (PLAIN_LINE, 1024, True),
     (WORST_LINE, 1024, True)],
    ids=["plain-60KiB", "worst-60KiB", "plain-1MiB", "worst-1MiB"],
)  # fmt: skip
def test_long_command_lines_stay_within_the_filters_cost_limit(
    installed: LocalCluster, line: str, kib: int, sent: bool
) -> None:
    """CEL charges string operations by length, and an evaluation over the API server's cost
    limit is an error that refuses the request: an ordinary pod with a long inline script must
    be admitted or sent, never refused by the filter itself."""
    # Half in command, half in args, on a container with envFrom: every list is read.
    script = line * (kib * 1024 // len(line) // 2)
    obj = _with(
        pod("long", TENANT_NS),
        image="nginx",
        command=["sh", "-c", script],
        args=[script],
        envFrom=[{"configMapRef": {"name": "site"}}],
    )

    def observed() -> bool:
        proc = create_as_tenant(installed, obj, dry_run=True)
        refused = proc.returncode != 0 and 'failed calling webhook "workloads.' in proc.stderr
        assert refused or proc.returncode == 0, proc.stderr[-300:]
        return refused == sent

    installed.wait_for_webhook(observed, timeout=30)
