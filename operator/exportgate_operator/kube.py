"""A small raw-JSON client for the Kubernetes API, on top of the official client's transport.

The operator handles objects of many kinds (Pods, Deployments, NodePools, custom resources,
wg-policy reports) as plain dicts, exactly as the core's extraction expects them; the typed
models of the official client would only get in the way. Calls are synchronous; async code runs
them with `asyncio.to_thread`, so the kopf event loop never blocks.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any

from kubernetes import client

from exportgate_operator.kinds import Resource

MERGE_PATCH = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"


class KubeError(RuntimeError):
    """A non-2xx answer from the API server."""

    def __init__(self, status: int, method: str, path: str, body: str) -> None:
        self.status = status
        self.body = body
        super().__init__(f"{method} {path}: HTTP {status}: {body[:500]}")

    @property
    def not_found(self) -> bool:
        return self.status == 404

    @property
    def conflict(self) -> bool:
        return self.status == 409


class Kube:
    """Raw JSON requests with the ApiClient's authentication and TLS settings."""

    def __init__(self, api: client.ApiClient, timeout: float = 30.0) -> None:
        self.api = api
        self.timeout = timeout

    def request(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        query: Mapping[str, str] | None = None,
        content_type: str = "application/json",
    ) -> dict[str, Any]:
        headers = {"Accept": "application/json", "Content-Type": content_type}
        serialized = self.api.param_serialize(
            method=method,
            resource_path=path,
            query_params=list((query or {}).items()),
            header_params=headers,
            body=body,
            auth_settings=["BearerToken"],
        )
        response = self.api.call_api(*serialized, _request_timeout=self.timeout)
        data = response.read() or b"{}"  # type: ignore[no-untyped-call]
        text = data.decode("utf-8", "replace") if isinstance(data, bytes) else str(data)
        if not 200 <= response.status < 300:
            raise KubeError(response.status, method, path, text)
        loaded: dict[str, Any] = json.loads(text) if text else {}
        return loaded

    # --- conveniences -------------------------------------------------------------------

    def each(
        self,
        resource: Resource,
        namespace: str | None = None,
        *,
        label_selector: str | None = None,
        page: int = 500,
    ) -> Iterator[dict[str, Any]]:
        """Every object, paged; items get the apiVersion and kind a list leaves out."""
        query = {"limit": str(page)}
        if label_selector:
            query["labelSelector"] = label_selector
        while True:
            answer = self.request("GET", resource.path(namespace), query=query)
            for item in answer.get("items") or ():
                item.setdefault("apiVersion", resource.api_version)
                item.setdefault("kind", resource.kind)
                yield item
            token = (answer.get("metadata") or {}).get("continue")
            if not token:
                return
            query["continue"] = token

    def get(
        self, resource: Resource, name: str, namespace: str | None = None
    ) -> dict[str, Any] | None:
        """The object, or None when it does not exist (any other error raises)."""
        try:
            return self.request("GET", resource.path(namespace, name))
        except KubeError as exc:
            if exc.not_found:
                return None
            raise

    def merge_patch(
        self,
        resource: Resource,
        name: str,
        patch: Mapping[str, Any],
        *,
        namespace: str | None = None,
        sub: str = "",
    ) -> dict[str, Any]:
        return self.request(
            "PATCH",
            resource.path(namespace, name, sub),
            body=dict(patch),
            content_type=MERGE_PATCH,
        )

    def has_resource(self, resource: Resource) -> bool:
        """True when the API server serves `resource` (a CRD may not be installed)."""
        base = (
            f"/apis/{resource.group}/{resource.version}" if resource.group else "/api/v1"
        )
        try:
            answer = self.request("GET", base)
        except KubeError as exc:
            if exc.not_found:
                return False
            raise
        return any(r.get("name") == resource.plural for r in answer.get("resources") or ())


def discover(
    kube: Kube, group: str, kind: str, versions: tuple[str, ...] | None = None
) -> Resource | None:
    """Where the API serves `kind` of `group` (its preferred version, or the first of
    `versions` served), with its real plural and scope; None when it is not served."""
    if group:
        try:
            answer = kube.request("GET", f"/apis/{group}")
        except KubeError as exc:
            if exc.not_found:
                return None
            raise
        served = [str(v.get("version")) for v in answer.get("versions") or ()]
        preferred = str((answer.get("preferredVersion") or {}).get("version") or "")
        candidates = [v for v in versions if v in served] if versions else [preferred]
    else:
        candidates = ["v1"]
    for version in candidates:
        base = f"/apis/{group}/{version}" if group else f"/api/{version}"
        try:
            listing = kube.request("GET", base)
        except KubeError as exc:
            if exc.not_found:
                continue
            raise
        for entry in listing.get("resources") or ():
            if entry.get("kind") == kind and "/" not in str(entry.get("name", "")):
                return Resource(
                    group, version, str(entry["name"]), kind, bool(entry.get("namespaced"))
                )
    return None
