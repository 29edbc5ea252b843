"""`exportgate check --bindings`: the platform's namespace bindings, which a bundle cannot change.

Also `exportgate check` resolving DRA references from its own inputs.
"""

from __future__ import annotations

from pathlib import Path

from tests.cli.helpers import AT, TENANTS, by_object, check

H100_POD = """\
apiVersion: v1
kind: Pod
metadata: {name: train, namespace: team-a}
spec:
  nodeSelector: {nvidia.com/gpu.product: NVIDIA-H100-80GB-HBM3}
  containers:
  - name: c
    image: registry.example/train:1
    resources: {limits: {nvidia.com/gpu: 1}}
"""


def _namespace(name: str, tenant: str | None) -> str:
    labels = f"\n  labels: {{exportgate.dev/tenant: {tenant}}}" if tenant else ""
    return f"apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {name}{labels}\n"


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_bindings_from_the_platform_decide_the_tenant(tmp_path: Path) -> None:
    bindings = _write(tmp_path, "bindings.yaml", "team-a: nimbus\n")
    bundle = _write(tmp_path, "bundle.yaml", H100_POD)
    done = check("--tenant", TENANTS, "--bindings", bindings, "--at", AT, "-o", "json", bundle)
    assert done.returncode == 3, done.stderr
    assert by_object(done)["Pod/team-a/train"]["tenant"] == "nimbus"


def test_bindings_as_kubectl_namespace_list(tmp_path: Path) -> None:
    listing = (
        "apiVersion: v1\nkind: List\nitems:\n"
        "- {apiVersion: v1, kind: Namespace, metadata: {name: team-a, labels: "
        "{exportgate.dev/tenant: acme}}}\n"
        "- {apiVersion: v1, kind: Namespace, metadata: {name: other}}\n"
    )
    bindings = _write(tmp_path, "ns.yaml", listing)
    bundle = _write(tmp_path, "bundle.yaml", H100_POD)
    done = check("--tenant", TENANTS, "--bindings", bindings, "--at", AT, "-o", "json", bundle)
    assert done.returncode == 0, done.stderr
    assert by_object(done)["Pod/team-a/train"]["tenant"] == "acme"


def test_a_bundle_cannot_rebind_its_namespace(tmp_path: Path) -> None:
    bindings = _write(tmp_path, "bindings.yaml", "team-a: nimbus\n")
    for declared in ("acme", None):
        bundle = _write(
            tmp_path, "bundle.yaml", _namespace("team-a", declared) + "---\n" + H100_POD
        )
        done = check("--tenant", TENANTS, "--bindings", bindings, "--at", AT, bundle)
        assert done.returncode == 2, done.stdout
        assert "cannot rebind" in done.stderr
        assert "bundle.yaml" in done.stderr


def test_a_bundle_may_repeat_its_binding(tmp_path: Path) -> None:
    bindings = _write(tmp_path, "bindings.yaml", "team-a: nimbus\n")
    bundle = _write(tmp_path, "bundle.yaml", _namespace("team-a", "nimbus") + "---\n" + H100_POD)
    done = check("--tenant", TENANTS, "--bindings", bindings, "--at", AT, "-o", "json", bundle)
    assert done.returncode == 3, done.stderr


def test_without_bindings_the_bundle_binds_as_before(tmp_path: Path) -> None:
    bundle = _write(tmp_path, "bundle.yaml", _namespace("team-a", "acme") + "---\n" + H100_POD)
    done = check("--tenant", TENANTS, "--at", AT, "-o", "json", bundle)
    assert done.returncode == 0, done.stderr


def test_a_bad_bindings_file_is_bad_input(tmp_path: Path) -> None:
    bindings = _write(tmp_path, "bindings.yaml", "team-a: [nimbus]\n")
    bundle = _write(tmp_path, "bundle.yaml", H100_POD)
    done = check("--tenant", TENANTS, "--bindings", bindings, bundle)
    assert done.returncode == 2
    assert "bindings.yaml" in done.stderr


CLAIM_TEMPLATE_POD = """\
apiVersion: v1
kind: Pod
metadata: {name: dra, namespace: team-a}
spec:
  resourceClaims: [{name: gpu, resourceClaimTemplateName: nics}]
  containers:
  - name: c
    image: registry.example/app:1
    resources: {claims: [{name: gpu}]}
"""
NIC_TEMPLATE = """\
apiVersion: resource.k8s.io/v1
kind: ResourceClaimTemplate
metadata: {name: nics, namespace: team-a}
spec: {spec: {devices: {requests: [{name: n, exactly: {deviceClassName: nics}}]}}}
---
apiVersion: resource.k8s.io/v1
kind: DeviceClass
metadata: {name: nics}
spec: {selectors: [{cel: {expression: 'device.driver == "dra.net"'}}]}
"""


def test_dra_references_resolve_from_the_inputs(tmp_path: Path) -> None:
    bindings = _write(tmp_path, "bindings.yaml", "team-a: nimbus\n")
    alone = _write(tmp_path, "pod.yaml", CLAIM_TEMPLATE_POD)
    done = check("--tenant", TENANTS, "--bindings", bindings, "--at", AT, "-o", "json", alone)
    assert done.returncode == 3  # the template cannot be read: an unknown accelerator
    both = _write(tmp_path, "both.yaml", CLAIM_TEMPLATE_POD + "---\n" + NIC_TEMPLATE)
    done = check("--tenant", TENANTS, "--bindings", bindings, "--at", AT, "-o", "json", both)
    assert done.returncode == 0, done.stdout
