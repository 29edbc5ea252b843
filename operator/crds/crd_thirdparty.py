"""CRDs exportgate ships for others' APIs: kopf's peering and the wg-policy reports."""

from __future__ import annotations

from crd_common import AGE, PART_OF, Schema, definition

# The result values of the Policy Report API, in its order (summary counts and columns).
SUMMARY = ("pass", "fail", "warn", "error", "skip")


# --- kopf peering -------------------------------------------------------------------------


def peering_crd(scope: str) -> Schema:
    """The resource kopf replicas use to elect one active operator (see kopf's peering docs).

    kopf keeps its own free-form bookkeeping in `status`, hence the preserved unknown fields.
    """
    kind = "ClusterKopfPeering" if scope == "Cluster" else "KopfPeering"
    return definition(
        group="kopf.dev",
        version="v1",
        kind=kind,
        plural=kind.lower() + "s",
        scope=scope,
        list_kind=False,
        schema={
            "type": "object",
            "properties": {
                "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
            },
        },
    )


# --- wg-policy reports -------------------------------------------------------------------


def object_reference() -> Schema:
    return {
        "type": "object",
        "properties": {
            key: {"type": "string"}
            for key in ("apiVersion", "kind", "name", "namespace", "uid", "resourceVersion")
        },
    }


def report_crd(kind: str, plural: str, scope: str) -> Schema:
    """wgpolicyk8s.io/v1alpha2 reports, for clusters that have no policy engine shipping them.

    The fields are those of the Policy Report API of the Kubernetes Policy working group; a
    cluster running Kyverno or another engine already has these CRDs and should keep its own.
    """
    count = {"type": "integer"}
    result = {
        "type": "object",
        "required": ["policy"],
        "properties": {
            "source": {"type": "string"},
            "policy": {"type": "string"},
            "rule": {"type": "string"},
            "category": {"type": "string"},
            "severity": {"type": "string", "enum": ["critical", "high", "medium", "low", "info"]},
            "timestamp": {
                "type": "object",
                "properties": {
                    "seconds": {"type": "integer", "format": "int64"},
                    "nanos": {"type": "integer", "format": "int32"},
                },
            },
            "result": {"type": "string", "enum": list(SUMMARY)},
            "scored": {"type": "boolean"},
            "message": {"type": "string"},
            "resources": {"type": "array", "items": object_reference()},
            "properties": {"type": "object", "additionalProperties": {"type": "string"}},
        },
    }
    return definition(
        group="wgpolicyk8s.io",
        version="v1alpha2",
        kind=kind,
        plural=plural,
        scope=scope,
        labels=False,
        names={"shortNames": ["polr" if scope == "Namespaced" else "cpolr"]},
        extra={
            "additionalPrinterColumns": [
                {"name": name.capitalize(), "type": "integer", "jsonPath": f".summary.{name}"}
                for name in SUMMARY
            ]
            + [AGE]
        },
        schema={
            "type": "object",
            "properties": {
                "apiVersion": {"type": "string"},
                "kind": {"type": "string"},
                "metadata": {"type": "object"},
                "scope": object_reference(),
                "summary": {"type": "object", "properties": {name: count for name in SUMMARY}},
                "results": {"type": "array", "items": result},
            },
        },
    )


def peering_object(name: str = "exportgate-operator") -> Schema:
    """The object kopf replicas heartbeat into; kopf does not create it, so we ship it."""
    return {
        "apiVersion": "kopf.dev/v1",
        "kind": "ClusterKopfPeering",
        "metadata": {"name": name, "labels": dict(PART_OF)},
    }


