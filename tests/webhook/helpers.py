"""Building AdmissionReviews and sending them to the webhook over real HTTPS.

The API server sends the object twice over (`request.object`, and its identity in `kind`,
`name`, `namespace`); `review_for` derives the envelope from the object the way the API server
does, so tests write only the object.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

TENANT_LABEL = "exportgate.dev/tenant"

# Namespaces of the tests' static directory (examples/tenants.yaml has the tenants).
ACME_NS = "acme-ml"  # verified, Singapore: may use H100s
NIMBUS_NS = "nimbus-ml"  # Singapore subsidiary of a CN parent: restricted
ORBIT_NS = "orbit-ml"  # verification expired
UNBOUND_NS = "sandbox"  # no tenant label
NAMESPACES = {ACME_NS: "acme", NIMBUS_NS: "nimbus", ORBIT_NS: "orbit", UNBOUND_NS: ""}

TENANT_USER = "alice@nimbus.example"
TENANT_GROUPS = ("nimbus-developers", "system:authenticated")
PLATFORM_USER = "platform-bot"
PLATFORM_GROUP = "exportgate:platform"
KYC_USER = "kyc-officer@provider.example"
KYC_GROUP = "exportgate:kyc"


def gvk(obj: Mapping[str, Any]) -> dict[str, str]:
    group, _, version = str(obj["apiVersion"]).rpartition("/")
    return {"group": group, "version": version, "kind": str(obj["kind"])}


def review_for(
    obj: Mapping[str, Any] | None,
    *,
    operation: str = "CREATE",
    old: Mapping[str, Any] | None = None,
    user: str = TENANT_USER,
    groups: Sequence[str] = TENANT_GROUPS,
    uid: str | None = None,
    dry_run: bool = False,
) -> dict[str, Any]:
    """An AdmissionReview v1 request body for `obj` (or `old` for a DELETE)."""
    subject = obj if obj is not None else old
    assert subject is not None
    kind = gvk(subject)
    metadata = subject.get("metadata") or {}
    request: dict[str, Any] = {
        "uid": uid or str(uuid.uuid4()),
        "kind": kind,
        "resource": {
            "group": kind["group"],
            "version": kind["version"],
            "resource": kind["kind"].lower() + "s",
        },
        "operation": operation,
        "userInfo": {"username": user, "uid": "u-" + user, "groups": list(groups)},
        "object": dict(obj) if obj is not None else None,
        "oldObject": dict(old) if old is not None else None,
        "dryRun": dry_run,
    }
    if metadata.get("name"):
        request["name"] = metadata["name"]
    if metadata.get("namespace"):
        request["namespace"] = metadata["namespace"]
    return {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": request}


def decode_patch(response: Mapping[str, Any]) -> list[dict[str, Any]]:
    if "patch" not in response:
        return []
    assert response["patchType"] == "JSONPatch"
    patch: list[dict[str, Any]] = json.loads(base64.b64decode(response["patch"]))
    return patch


def gpu_pod(
    name: str = "train",
    namespace: str = NIMBUS_NS,
    product: str | None = "NVIDIA-H100-80GB-HBM3",
    count: int = 1,
    annotations: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "containers": [
            {
                "name": "main",
                "image": "registry.example.com/trainer:1.0",
                "resources": {"limits": {"nvidia.com/gpu": str(count)}},
            }
        ]
    }
    if product:
        spec["nodeSelector"] = {"nvidia.com/gpu.product": product}
    metadata: dict[str, Any] = {"name": name, "namespace": namespace}
    if annotations is not None:
        metadata["annotations"] = dict(annotations)
    return {"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": spec}


def plain_pod(name: str = "web", namespace: str = NIMBUS_NS) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"containers": [{"name": "web", "image": "nginx:1.27"}]},
    }


def namespace(name: str, tenant: str | None) -> dict[str, Any]:
    labels = {TENANT_LABEL: tenant} if tenant is not None else {}
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels}}
