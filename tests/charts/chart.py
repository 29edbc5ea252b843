"""Running the real `helm` binary on the chart, for the chart tests.

`helm` comes from the test-cluster build (`python -m tests.cluster build`, which puts it in
~/.cache/exportgate/k8s-bin). Without it the tests skip, unless EXPORTGATE_REQUIRE_CLUSTER is set
(CI), in which case they fail: a missing binary must never look like a green run.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.cluster import build
from tests.cluster.fixtures import REQUIRE_ENV, cluster_required

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "exportgate"
RELEASE = "eg"
NAMESPACE = "exportgate-system"
# The helm built from source reports client-go's placeholder Kubernetes version (v1.20) to
# templates; pin a realistic one so capabilities-dependent rendering is exercised sensibly.
KUBE_VERSION = "1.33.0"

# The variants docs/helm.md documents; each must lint and render.
VARIANTS: dict[str, dict[str, Any]] = {
    "defaults": {},  # the policy service embedded in the webhook process
    "sidecar": {"policyService": {"mode": "sidecar"}},
    "sidecar-stamp-dryrun": {
        "policyService": {"mode": "sidecar"},
        "webhook": {"mutating": {"enabled": True}},
        "policy": {"defaultAction": "dryrun"},
        "decisionLog": {"destination": "pvc"},
        "serviceMonitor": {"enabled": True},
    },
    "cert-manager": {"certs": {"mode": "cert-manager"}},
    "cert-manager-external-issuer": {
        "certs": {
            "mode": "cert-manager",
            "certManager": {"issuerRef": {"name": "corp-ca", "kind": "ClusterIssuer"}},
        }
    },
    "decision-log-pvc": {"decisionLog": {"destination": "pvc"}},
    "decision-log-stdout": {"decisionLog": {"destination": "stdout"}},
    "network-policy": {"networkPolicy": {"enabled": True, "apiServerCIDRs": ["10.0.0.1/32"]}},
    "service-monitor": {"serviceMonitor": {"enabled": True, "labels": {"release": "prom"}}},
    "decision-stamp": {"webhook": {"mutating": {"enabled": True}}},
    "no-mutating-no-operator": {
        "webhook": {"mutating": {"enabled": False}},
        "operator": {"enabled": False},
    },
    "dryrun-rollout": {
        "policy": {"defaultAction": "dryrun", "enabledPacks": ["kyc-verification"]},
        "webhook": {"exemptNamespaces": ["gpu-operator", "monitoring"]},
    },
    "external-url": {"webhook": {"url": "https://127.0.0.1:9443", "caBundle": "PEM"}},
    "catch-all": {"webhook": {"catchAll": {"enabled": True}, "mutating": {"enabled": True}}},
}


def helm_binary() -> Path:
    found = build.find_binaries().get("helm")
    if found is None:
        message = "helm not built: run `python -m tests.cluster build`"
        if cluster_required():
            pytest.fail(f"{REQUIRE_ENV} is set but {message}", pytrace=False)
        pytest.skip(message)
    return found


def write_values(directory: Path, values: Mapping[str, Any], name: str = "values.yaml") -> Path:
    path = directory / name
    path.write_text(yaml.safe_dump(dict(values), sort_keys=False), encoding="utf-8")
    return path


def run_helm(*args: str, env: Mapping[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(helm_binary()), *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=dict(env) if env is not None else None,
    )


def template(
    values_file: Path | None = None,
    *extra: str,
    release: str = RELEASE,
    namespace: str = NAMESPACE,
) -> list[dict[str, Any]]:
    """Rendered objects of the chart (CRDs included), or an AssertionError with helm's stderr."""
    args = ["template", release, str(CHART), "--namespace", namespace, "--include-crds"]
    args += ["--kube-version", KUBE_VERSION, *extra]
    if values_file is not None:
        args += ["--values", str(values_file)]
    proc = run_helm(*args)
    assert proc.returncode == 0, proc.stderr
    return [d for d in yaml.safe_load_all(proc.stdout) if d]


def find(docs: list[dict[str, Any]], kind: str, name: str | None = None) -> dict[str, Any]:
    matches = [
        d for d in docs if d["kind"] == kind and (name is None or d["metadata"]["name"] == name)
    ]
    assert len(matches) == 1, f"expected one {kind} {name or ''}, got {len(matches)}"
    return matches[0]


def all_of(docs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [d for d in docs if d["kind"] == kind]


def container(docs: list[dict[str, Any]], owner: str, name: str) -> dict[str, Any]:
    """The container `name` of the pod template of `owner`."""
    found = [c for o, c in containers(docs) if o == owner and c["name"] == name]
    assert len(found) == 1, f"expected one container {name} in {owner}, got {len(found)}"
    return found[0]


def containers(docs: list[dict[str, Any]]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(owner name, container) for every container of every pod template the chart renders."""
    for doc in docs:
        spec = doc.get("spec", {})
        if doc["kind"] == "CronJob":
            spec = spec["jobTemplate"]["spec"]
        template_spec = spec.get("template", {}).get("spec")
        if template_spec:
            for container in template_spec.get("containers", []):
                yield doc["metadata"]["name"], container
