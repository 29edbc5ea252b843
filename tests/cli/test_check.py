"""`exportgate check` as other tools call it: the real installed command in a subprocess.

Covers the contract in docs/cli.md: JSON shape, exit codes 0 / 3 / 2, `-` for stdin, `--at`,
`--decision-log` followed by `exportgate audit verify`, and bad input that names the file.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.cli.helpers import AT, TENANT, TENANTS, WORKLOADS, by_object, check, results
from tests.commands import audit_verify

CONTRACT_KEYS = ("object", "tenant", "decision", "accelerators", "models", "rule", "citation",
                 "message")


@pytest.fixture(scope="module")
def examples() -> subprocess.CompletedProcess[str]:
    return check("--tenant", TENANTS, "--at", AT, "-o", "json", WORKLOADS)


def test_examples_show_a_denial_and_an_admission(
    examples: subprocess.CompletedProcess[str],
) -> None:
    assert examples.returncode == 3, examples.stderr
    decisions = {k: v["decision"] for k, v in by_object(examples).items()}
    assert decisions == {
        "Namespace/acme-ml": "allow",
        "Namespace/nimbus-ml": "allow",
        "Namespace/orbit-ml": "allow",
        "Pod/nimbus-ml/train-h100": "deny",
        "Pod/nimbus-ml/infer-t4": "allow",
        "Deployment/acme-ml/serve-h100": "allow",
        "Job/orbit-ml/finetune": "deny",
        "NodePool/nimbus-gpu": "deny",
        "ModelEndpoint/nimbus-ml/assistant": "deny",
    }


def test_json_shape_is_the_contract(examples: subprocess.CompletedProcess[str]) -> None:
    for result in results(examples):
        assert list(result)[: len(CONTRACT_KEYS)] == list(CONTRACT_KEYS)
        assert isinstance(result["object"], str)
        assert result["tenant"] is None or isinstance(result["tenant"], str)
        assert result["decision"] in {"allow", "deny", "warn", "dryrun"}
        assert isinstance(result["accelerators"], list)
        assert isinstance(result["models"], list)
        assert isinstance(result["message"], str) and result["message"]
        if result["decision"] == "allow":
            assert result["rule"] is None and result["citation"] is None
        else:
            assert isinstance(result["rule"], str) and isinstance(result["citation"], str)


def test_a_denial_explains_itself(examples: subprocess.CompletedProcess[str]) -> None:
    pod = by_object(examples)["Pod/nimbus-ml/train-h100"]
    assert pod["tenant"] == "nimbus"
    assert pod["rule"] == "ear-3a090-d5-macau"
    assert "744.23" in pod["citation"]
    assert "ultimate parent Example Holdings" in pod["message"]
    (accelerator,) = pod["accelerators"]
    assert accelerator["products"] == ["nvidia-h100-sxm"]
    assert accelerator["count"] == 8
    assert accelerator["pinned"] is True
    endpoint = by_object(examples)["ModelEndpoint/nimbus-ml/assistant"]
    assert endpoint["models"][0]["model"] == "anthropic-claude"
    # A CN parent is Anthropic's ownership rule (from 2025-09-05; regulation-2026.md s7).
    assert endpoint["rule"] == "anthropic-ownership"


def test_unpinned_gpu_message_says_how_to_pin(examples: subprocess.CompletedProcess[str]) -> None:
    job = by_object(examples)["Job/orbit-ml/finetune"]
    assert job["rule"] == "kyc-unverified-accelerator"
    assert job["accelerators"][0]["pinned"] is False
    assert "nodeSelector nvidia.com/gpu.product=" in job["message"]


def test_text_output_is_one_line_per_object_plus_reasons() -> None:
    process = check("--tenant", TENANTS, "--at", AT, WORKLOADS)
    assert process.returncode == 3
    heads = [line for line in process.stdout.splitlines() if not line.startswith(" ")]
    assert len(heads) == 9
    assert heads[3].startswith("DENY   Pod/nimbus-ml/train-h100")


def test_at_evaluates_expiry_in_the_past_and_future() -> None:
    before = check("--tenant", TENANTS, "--at", "2026-05-01T00:00:00Z", "-o", "json", WORKLOADS)
    assert by_object(before)["Job/orbit-ml/finetune"]["decision"] == "allow"
    after = check("--tenant", TENANTS, "--at", "2027-06-01T00:00:00Z", "-o", "json", WORKLOADS)
    decisions = by_object(after)
    assert decisions["Deployment/acme-ml/serve-h100"]["decision"] == "deny"  # acme expired too
    assert "expired on 2027-03-01" in decisions["Deployment/acme-ml/serve-h100"]["message"]


POD = """\
apiVersion: v1
kind: Pod
metadata: {{name: p, namespace: team}}
spec:
  nodeSelector: {{nvidia.com/gpu.product: {product}}}
  containers: [{{name: c, image: x, resources: {{limits: {{nvidia.com/gpu: 1}}}}}}]
"""


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("country", "product", "code", "decision"),
    [("SG", "NVIDIA-H100-80GB-HBM3", 0, "allow"), ("CN", "NVIDIA-H100-80GB-HBM3", 3, "deny"),
     ("CN", "Tesla-T4", 0, "allow")],
)
def test_exit_codes_with_the_only_tenant_given(
    tmp_path: Path, country: str, product: str, code: int, decision: str
) -> None:
    tenant = _write(tmp_path / "t.yaml", TENANT.format(country=country, state="Verified"))
    pod = _write(tmp_path / "pod.yaml", POD.format(product=product))
    process = check("--tenant", tenant, "--at", AT, "-o", "json", pod)
    assert process.returncode == code, process.stderr
    (result,) = results(process)
    assert (result["tenant"], result["decision"]) == ("t1", decision)


def test_stdin_and_json_manifests(tmp_path: Path) -> None:
    tenant = _write(tmp_path / "t.yaml", TENANT.format(country="CN", state="Verified"))
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "team"},
           "spec": {"containers": [{"name": "c", "image": "x",
                                    "resources": {"limits": {"nvidia.com/gpu": 1}}}]}}
    process = check("--tenant", tenant, "--at", AT, "-o", "json", "-", stdin=json.dumps(pod))
    assert process.returncode == 3, process.stderr
    (result,) = results(process)
    assert result["object"] == "Pod/team/p"
    assert result["accelerators"][0]["pinned"] is False


def test_tenants_policies_and_workloads_may_share_one_stream(tmp_path: Path) -> None:
    text = "\n---\n".join(
        [TENANT.format(country="VN", state="Verified"), POD.format(product="NVIDIA-H100-80GB-HBM3")]
    )
    process = check("--at", AT, "-o", "json", "-", stdin=text)
    assert process.returncode == 3
    (result,) = results(process)
    assert (result["tenant"], result["rule"]) == ("t1", "ear-3a090-d1-d4")


def test_a_user_policy_with_warn_admits_with_exit_zero(tmp_path: Path) -> None:
    policy = _write(tmp_path / "house.yaml", """\
apiVersion: exportgate.dev/v1alpha1
kind: ExportPolicy
metadata: {name: house}
spec:
  version: "1"
  enforcementAction: warn
  rules:
    - id: t4-watch
      citation: "house rule 1"
      effective: "2024-01-01"
      match: {accelerators: {products: [nvidia-t4]}}
      jurisdictions: {anyIn: ["*"]}
      message: "{subject} is watched for {tenant}"
""")
    tenant = _write(tmp_path / "t.yaml", TENANT.format(country="SG", state="Verified"))
    pod = _write(tmp_path / "pod.yaml", POD.format(product="Tesla-T4"))
    process = check("--tenant", tenant, "--policy", policy, "--at", AT, "-o", "json", pod)
    assert process.returncode == 0, process.stderr
    (result,) = results(process)
    assert (result["decision"], result["rule"], result["citation"]) == (
        "warn", "t4-watch", "house rule 1")


@pytest.mark.parametrize("action", ["warn", "dryrun"])
def test_default_action_override(tmp_path: Path, action: str) -> None:
    tenant = _write(tmp_path / "t.yaml", TENANT.format(country="CN", state="Verified"))
    pod = _write(tmp_path / "pod.yaml", POD.format(product="NVIDIA-H100-80GB-HBM3"))
    process = check("--tenant", tenant, "--default-action", action, "--at", AT, "-o", "json", pod)
    assert process.returncode == 0
    assert results(process)[0]["decision"] == action


@pytest.mark.parametrize(
    "at",
    # Compliance with the AI Diffusion rule was due 2025-05-15 and BIS stopped enforcing it on
    # 2025-05-13 (regulation-2026.md s2.4), so the pack never warns, before, between or after.
    ["2025-03-01T00:00:00Z", "2025-05-14T00:00:00Z", "2025-05-15T00:00:00Z", AT],
)
def test_the_not_enforced_diffusion_pack_never_warns(tmp_path: Path, at: str) -> None:
    tenant = _write(tmp_path / "t.yaml", TENANT.format(country="IN", state="Verified").replace(
        "2026-01-01", "2024-01-01"))
    pod = _write(tmp_path / "pod.yaml", POD.format(product="NVIDIA-H100-80GB-HBM3"))
    default = check("--tenant", tenant, "--at", at, "-o", "json", pod)
    assert results(default)[0]["decision"] == "allow"
    packs = "us-ear-advanced-computing,kyc-verification,vendor-model-terms,us-ear-ai-diffusion-2025"
    enabled = check("--tenant", tenant, "--packs", packs, "--at", at, "-o", "json", pod)
    assert enabled.returncode == 0
    assert results(enabled)[0]["decision"] == "allow"
    assert results(enabled)[0]["violations"] == []


def test_decision_log_then_audit_verify(tmp_path: Path) -> None:
    log = tmp_path / "decisions.jsonl"
    first = check("--tenant", TENANTS, "--at", AT, "--decision-log", log, WORKLOADS)
    assert first.returncode == 3
    second = check("--tenant", TENANTS, "--at", AT, "--decision-log", log, WORKLOADS)
    assert second.returncode == 3
    lines = log.read_text().splitlines()
    assert len(lines) == 18
    record = json.loads(lines[3])
    for key in ("id", "time", "tenant", "jurisdictions", "verificationRef", "object", "rule",
                "citation", "action", "policyVersions", "prev", "hash"):
        assert key in record, key
    verify = audit_verify(log)
    assert verify.returncode == 0, verify.stdout + verify.stderr
    # Editing one decision breaks the chain, and verify names the line.
    lines[3] = lines[3].replace('"action":"deny"', '"action":"allow"')
    log.write_text("\n".join(lines) + "\n")
    tampered = audit_verify(log)
    assert tampered.returncode == 1
    assert f"{log}:4: hash mismatch" in tampered.stdout + tampered.stderr


BAD_INPUT = [
    # (case, files {name: text}, extra args, words in stderr)
    ("broken-yaml", {"pod.yaml": "kind: Pod\nmetadata: [\n"}, [], "pod.yaml:3"),
    ("no-kind", {"pod.yaml": "apiVersion: v1\nmetadata: {name: x}\n"}, [], "no kind"),
    ("unknown-country", {"t.yaml": TENANT.format(country="XX", state="Verified")},
     ["--tenant", "t.yaml"], "t.yaml:6: field spec.incorporation: 'XX'"),
    ("unknown-verification-state", {"t.yaml": TENANT.format(country="SG", state="Approved")},
     ["--tenant", "t.yaml"], "t.yaml:8: field spec.verification.state"),
    ("broken-policy", {"p.yaml": "apiVersion: exportgate.dev/v1alpha1\nkind: ExportPolicy\n"
                                 "metadata: {name: p}\nspec:\n  version: '1'\n"
                                 "  enforcementAction: block\n  rules: []\n"},
     ["--policy", "p.yaml"], "p.yaml:6: field spec.enforcementAction"),
    ("bad-at", {}, ["--at", "yesterday"], "--at 'yesterday' is not an RFC 3339"),
    ("missing-file", {}, ["--tenant", "nope.yaml"], "nope.yaml: file not found"),
    ("bad-count", {"pod.yaml": POD.format(product="Tesla-T4").replace("gpu: 1", "gpu: lots")},
     [], "pod.yaml:6: field spec.containers[0].resources.limits"),
    ("bad-field-in-a-list", {"pod.yaml": "apiVersion: v1\nkind: List\nitems:\n"
                                         "- apiVersion: v1\n  kind: Pod\n"
                                         "  metadata: {name: p, namespace: t}\n"
                                         "  spec:\n    containers: main\n"},
     [], "pod.yaml:8: field spec.containers: expected a list"),
]


@pytest.mark.parametrize(
    ("files", "extra", "words"), [b[1:] for b in BAD_INPUT], ids=[b[0] for b in BAD_INPUT]
)
def test_bad_input_exits_2_naming_the_file(
    tmp_path: Path, files: dict[str, str], extra: list[str], words: str
) -> None:
    for name, text in files.items():
        _write(tmp_path / name, text)
    manifest = tmp_path / "pod.yaml"
    if not manifest.exists():
        _write(manifest, POD.format(product="Tesla-T4"))
    args = [str(tmp_path / a) if a.endswith(".yaml") else a for a in extra]
    process = check(*args, "-o", "json", manifest)
    assert process.returncode == 2, process.stdout
    assert process.stdout == ""
    assert process.stderr.startswith("exportgate check: error: ")
    assert words in process.stderr.replace(str(tmp_path) + "/", "")


def test_tenant_binding_missing_record_and_unbound(tmp_path: Path) -> None:
    """A namespace labelled for a tenant with no record, and one bound to nothing."""
    manifests = _write(tmp_path / "m.yaml", "\n---\n".join([
        "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: team\n"
        "  labels: {exportgate.dev/tenant: ghost}\n",
        POD.format(product="NVIDIA-H100-80GB-HBM3"),
        POD.format(product="NVIDIA-H100-80GB-HBM3").replace("namespace: team", "namespace: other"),
    ]))
    acme = _write(tmp_path / "a.yaml", TENANT.format(country="SG", state="Verified"))
    other = _write(tmp_path / "b.yaml", TENANT.format(country="SG", state="Verified").replace(
        "name: t1", "name: t2"))
    process = check("--tenant", acme, "--tenant", other, "--at", AT, "-o", "json", manifests)
    assert process.returncode == 3
    decided = by_object(process)
    ghost = decided["Pod/team/p"]
    assert (ghost["tenant"], ghost["rule"]) == ("ghost", "kyc-unverified-accelerator")
    assert "no tenant record" in ghost["message"]
    unbound = decided["Pod/other/p"]
    assert (unbound["tenant"], unbound["rule"]) == (None, "kyc-unverified-accelerator")
    assert "exportgate.dev/tenant" in unbound["message"]


ADAPTER = """\
apiVersion: exportgate.dev/v1alpha1
kind: AdapterSet
metadata: {name: acme-training}
adapters:
  - group: training.example.com
    kinds: [GpuJob]
    accelerators:
      - resource: nvidia.com/gpu
        countFrom: spec.gpus
        hints: [{key: nvidia.com/gpu.product, from: spec.gpuModel}]
"""
GPU_JOB = """\
apiVersion: training.example.com/v1
kind: GpuJob
metadata: {name: j, namespace: team}
spec: {gpus: 2, gpuModel: NVIDIA-H100-80GB-HBM3}
"""


def test_adapters_add_a_kind_and_a_broken_one_is_bad_input(tmp_path: Path) -> None:
    tenant = _write(tmp_path / "t.yaml", TENANT.format(country="CN", state="Verified"))
    job = _write(tmp_path / "job.yaml", GPU_JOB)
    without = check("--tenant", tenant, "--at", AT, "-o", "json", job)
    assert (without.returncode, results(without)[0]["decision"]) == (0, "allow")
    adapters = _write(tmp_path / "adapters.yaml", ADAPTER)
    found = check("--tenant", tenant, "--adapters", adapters, "--at", AT, "-o", "json", job)
    assert found.returncode == 3
    (result,) = results(found)
    assert result["accelerators"][0]["products"] == ["nvidia-h100-sxm"]
    assert result["accelerators"][0]["count"] == 2
    _write(adapters, ADAPTER.replace("countFrom", "countFromm"))
    broken = check("--tenant", tenant, "--adapters", adapters, "--at", AT, job)
    assert broken.returncode == 2
    assert "adapters.yaml:9: field adapters[0].accelerators[0].countFromm" in broken.stderr


NODEPOOL = """\
apiVersion: karpenter.sh/v1
kind: NodePool
metadata:
  name: {name}
  labels: {{exportgate.dev/tenant: {tenant}}}
spec:
  template:
    spec:
      requirements:
        - {{key: karpenter.k8s.aws/instance-family, operator: In, values: [p5]}}
"""


def _unnamespaced_pod(tenant_label: str) -> str:
    """A Pod as `helm template` prints it: no metadata.namespace, its own tenant label."""
    return POD.format(product="NVIDIA-H100-80GB-HBM3").replace(
        "metadata: {name: p, namespace: team}",
        f"metadata: {{name: p, labels: {{exportgate.dev/tenant: {tenant_label}}}}}",
    )


def test_a_namespaced_object_without_a_namespace_is_not_bound_by_its_own_label(
    tmp_path: Path,
) -> None:
    # acme may use H100s, nimbus may not. The Pod's author labels it acme: with several tenants
    # given it is decided as unbound (denied), never as acme. The NodePool, cluster-scoped,
    # names its tenant with its own label, as in the cluster.
    manifests = _write(tmp_path / "m.yaml", "\n---\n".join([
        _unnamespaced_pod("acme"),
        NODEPOOL.format(name="for-acme", tenant="acme"),
        NODEPOOL.format(name="for-nimbus", tenant="nimbus"),
    ]))
    process = check("--tenant", TENANTS, "--at", AT, "-o", "json", manifests)
    assert process.returncode == 3, process.stderr
    decided = by_object(process)
    pod = decided["Pod/p"]
    assert (pod["tenant"], pod["decision"]) == (None, "deny")
    assert pod["rule"] == "kyc-unverified-accelerator"
    assert (decided["NodePool/for-acme"]["tenant"], decided["NodePool/for-acme"]["decision"]) == (
        "acme", "allow")
    assert (decided["NodePool/for-nimbus"]["tenant"],
            decided["NodePool/for-nimbus"]["decision"]) == ("nimbus", "deny")


def test_a_namespaced_object_without_a_namespace_binds_to_the_only_tenant(
    tmp_path: Path,
) -> None:
    # The label names a permitted tenant; the only --tenant (in CN) is who it is decided for.
    tenant = _write(tmp_path / "t.yaml", TENANT.format(country="CN", state="Verified"))
    pod = _write(tmp_path / "pod.yaml", _unnamespaced_pod("acme"))
    process = check("--tenant", tenant, "--at", AT, "-o", "json", pod)
    assert process.returncode == 3, process.stderr
    (result,) = results(process)
    assert (result["tenant"], result["decision"]) == ("t1", "deny")


def test_an_adapter_kind_names_its_tenant_only_when_its_scope_is_cluster(tmp_path: Path) -> None:
    unnamespaced = GPU_JOB.replace(
        "metadata: {name: j, namespace: team}",
        "metadata: {name: j, labels: {exportgate.dev/tenant: acme}}",
    )
    job = _write(tmp_path / "job.yaml", unnamespaced)
    namespaced = _write(tmp_path / "namespaced.yaml", ADAPTER)  # no scope: Namespaced
    clustered = _write(tmp_path / "cluster.yaml", ADAPTER.replace(
        "kinds: [GpuJob]\n", "kinds: [GpuJob]\n    scope: Cluster\n"))
    as_namespaced = check("--tenant", TENANTS, "--adapters", namespaced, "--at", AT, "-o", "json",
                          job)
    (result,) = results(as_namespaced)
    assert (result["tenant"], result["decision"]) == (None, "deny")
    as_cluster = check("--tenant", TENANTS, "--adapters", clustered, "--at", AT, "-o", "json", job)
    (result,) = results(as_cluster)
    assert (result["tenant"], result["decision"]) == ("acme", "allow")


OWNED_TENANT = """\
apiVersion: exportgate.dev/v1alpha1
kind: Tenant
metadata: {name: t1}
spec:
  legalName: T1 Pte. Ltd.
  incorporation: SG
  headquarters: SG
  verification: {state: Verified, verifiedAt: "2024-01-01T00:00:00Z"}
  ownership:
    owners:
      - {name: Listed Holdings, share: 60, headquarters: CN, listedOn: [EntityList]}
"""


@pytest.mark.parametrize(
    ("country", "product", "at", "code", "rule"),
    [
        # regulation-2026.md s3: Cambodia left D:5 on 2025-11-07 and stays in D:1.
        ("KH", "NVIDIA-H100-80GB-HBM3", "2025-11-06T12:00:00Z", 3, "ear-3a090-d5-macau"),
        ("KH", "NVIDIA-H100-80GB-HBM3", "2025-11-07T12:00:00Z", 3, "ear-3a090-d1-d4"),
        ("KH", "NVIDIA-H20", "2025-11-06T12:00:00Z", 3, "ear-h20-is-informed"),
        ("KH", "NVIDIA-H20", "2025-11-07T12:00:00Z", 0, None),
        # The UAE is in D:4 and not in A:5/A:6.
        ("AE", "NVIDIA-H100-80GB-HBM3", "2026-11-30T00:00:00Z", 3, "ear-3a090-d1-d4"),
        # Old parts resolve to uncontrolled products instead of "unknown".
        ("CN", "Tesla-V100-SXM2-16GB", "2026-11-30T00:00:00Z", 0, None),
        ("CN", "Tesla-P100-PCIE-16GB", "2026-11-30T00:00:00Z", 0, None),
    ],
)
def test_at_answers_with_the_facts_of_that_instant(
    tmp_path: Path, country: str, product: str, at: str, code: int, rule: str | None
) -> None:
    tenant = _write(
        tmp_path / "t.yaml",
        TENANT.format(country=country, state="Verified").replace("2026-01-01", "2024-01-01"),
    )
    pod = _write(tmp_path / "pod.yaml", POD.format(product=product))
    process = check("--tenant", tenant, "--at", at, "-o", "json", pod)
    assert process.returncode == code, process.stderr
    assert results(process)[0]["rule"] == rule


@pytest.mark.parametrize(
    ("at", "code"),
    # The Affiliates Rule: in force 2025-09-29, suspended 2025-11-10 to 2026-11-09, back after.
    [("2025-10-01T00:00:00Z", 3), ("2026-06-01T00:00:00Z", 0), ("2026-11-30T00:00:00Z", 3)],
)
def test_ownership_on_the_tenant_and_the_affiliates_rule_window(
    tmp_path: Path, at: str, code: int
) -> None:
    tenant = _write(tmp_path / "t.yaml", OWNED_TENANT)
    pod = _write(tmp_path / "pod.yaml", POD.format(product="Tesla-T4"))
    process = check("--tenant", tenant, "--at", at, "-o", "json", pod)
    assert process.returncode == code, process.stderr
    if code:
        (result,) = results(process)
        assert result["rule"] == "affiliates-rule-50"
        assert "Listed Holdings (60%, Entity List)" in result["message"]


def test_a_bad_ownership_share_names_the_field(tmp_path: Path) -> None:
    tenant = _write(tmp_path / "t.yaml", OWNED_TENANT.replace("share: 60", "share: 160"))
    pod = _write(tmp_path / "pod.yaml", POD.format(product="Tesla-T4"))
    process = check("--tenant", tenant, pod)
    assert process.returncode == 2
    assert "share" in process.stderr
