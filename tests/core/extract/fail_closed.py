"""What the fail-closed tests share: the real engine, a tenant headquartered in China
(sanctioned: D:5 / arms-embargoed), and builders for the objects they decide.

The tests are split by the classes of issue 10: test_fail_closed.py (negative placement, device
access, messages), test_fail_closed_names.py (names outside the vocabulary),
test_fail_closed_dra.py (DRA), test_fail_closed_kinds.py (kinds without an adapter) and
test_fail_closed_over_blocking.py.
"""

from __future__ import annotations

from typing import Any

from exportgate.core.data import load_data
from exportgate.core.engine import PolicyEngine
from exportgate.core.extract import AdapterRegistry, extract_workload, parse_adapter_text
from exportgate.core.extract.dra_refs import DraObjects
from exportgate.core.types import Action, Workload
from tests.core.builders import NOW, make_tenant

ENGINE = PolicyEngine.build()
ENGINE_RULES = [
    rule
    for name in ("us-ear-advanced-computing", "kyc-verification", "vendor-model-terms")
    for rule in load_data(f"policies/{name}.yaml")["spec"].get("rules", [])
]
RESTRICTED = make_tenant("cn-corp", incorporation="CN", headquarters="CN")
GPU = {"nvidia.com/gpu": 1}
T4_GFD = "Tesla-T4"


def site_registry(vocabulary: str) -> AdapterRegistry:
    """The built-in adapters extended by a platform's adapter file holding only `vocabulary`
    (a YAML mapping, as under ``vocabulary:``)."""
    text = (
        "apiVersion: exportgate.dev/v1alpha1\nkind: AdapterSet\nmetadata: {name: site}\n"
        f"vocabulary: {vocabulary}\n"
    )
    return AdapterRegistry.builtin().extended([parse_adapter_text(text)])


def argo_workflow(*patches: str) -> dict[str, Any]:
    """An Argo Workflow with one template per pod spec patch (``podSpecPatch``)."""
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Workflow",
        "metadata": {"name": "wf", "namespace": "team"},
        "spec": {
            "entrypoint": "t0",
            "templates": [
                {"name": f"t{i}", "container": {"image": "busybox"}, "podSpecPatch": patch}
                for i, patch in enumerate(patches)
            ],
        },
    }


def pod_of(containers: list[dict[str, Any]], **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "p", "namespace": "team"},
        "spec": {"containers": containers, **spec},
    }


def container(**fields: Any) -> dict[str, Any]:
    return {"name": "c", "image": "registry.example/app:1", **fields}


def custom_resource(
    api_version: str, kind: str, spec: dict[str, Any], name: str = "x"
) -> dict[str, Any]:
    """A namespaced custom resource of `kind` with `spec` as given."""
    return {
        "apiVersion": api_version,
        "kind": kind,
        "metadata": {"name": name, "namespace": "t"},
        "spec": spec,
    }


def decide(obj: dict[str, Any], dra: DraObjects | None = None) -> tuple[Workload, Action]:
    workload = extract_workload(obj, dra=dra)
    return workload, ENGINE.evaluate(workload, RESTRICTED, NOW).action


def required(*expressions: dict[str, Any]) -> dict[str, Any]:
    term = {"matchExpressions": list(expressions)}
    return {
        "nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [term]}
        }
    }


def gpu_container() -> dict[str, Any]:
    return container(resources={"limits": {"nvidia.com/gpu": 8}})


def gpu_template() -> dict[str, Any]:
    return {"spec": {"containers": [gpu_container()]}}


def device_class(name: str, *expressions: str) -> dict[str, Any]:
    spec = {"selectors": [{"cel": {"expression": e}} for e in expressions]} if expressions else {}
    return {
        "apiVersion": "resource.k8s.io/v1",
        "kind": "DeviceClass",
        "metadata": {"name": name},
        "spec": spec,
    }


def claim_template(name: str, device_class: str, namespace: str = "team") -> dict[str, Any]:
    return {
        "apiVersion": "resource.k8s.io/v1",
        "kind": "ResourceClaimTemplate",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "spec": {
                "devices": {
                    "requests": [{"name": "g", "exactly": {"deviceClassName": device_class}}]
                }
            }
        },
    }


def claim_of(device_class: str) -> dict[str, Any]:
    return {
        "apiVersion": "resource.k8s.io/v1",
        "kind": "ResourceClaim",
        "metadata": {"name": "c", "namespace": "team"},
        "spec": {
            "devices": {"requests": [{"name": "g", "exactly": {"deviceClassName": device_class}}]}
        },
    }
