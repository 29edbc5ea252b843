"""The ComputeRun CRD (compute accounting, issue 14), used by generate.py.

Written only by the operator (docs/compute-accounting.md); its fields are those
`exportgate_operator.accounting.records.RunRecord.status` writes. Its own module so the CRD
generator can be split without touching it.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from exportgate.core.extract import AdapterRegistry

Schema = dict[str, Any]
# Already readable by the operator (its re-audit rules) or not owners of Pods.
_SKIP_GROUPS = frozenset({"", "exportgate.dev"})

STRING = {"type": "string", "maxLength": 1024}
TIME = {"type": "string", "format": "date-time"}
NUMBER = {"type": "number"}
COUNT = {"type": "integer", "format": "int64", "minimum": 0}


def compute_run_spec() -> Schema:
    return {
        "type": "object",
        "description": "Which run this is. Set by the operator when it first sees the run.",
        "required": ["owner"],
        "properties": {
            "tenant": {"type": "string", "maxLength": 253},
            "owner": {
                "type": "object",
                "description": "The run: the top owner of its Pods (or the Pod itself).",
                "properties": {
                    key: {"type": "string", "maxLength": 316}
                    for key in ("apiVersion", "kind", "name", "uid", "namespace")
                },
            },
        },
    }


def compute_run_status() -> Schema:
    product = {
        "type": "object",
        "required": ["product", "acceleratorSeconds"],
        "properties": {
            "product": {"type": "string", "maxLength": 128},
            "classification": {"type": "string", "maxLength": 64},
            "identified": {
                "type": "boolean",
                "description": "False: the node did not identify the product; counted as the "
                "most restrictive product the Pod's request could get.",
            },
            "acceleratorSeconds": NUMBER,
            "peakOpsPerSecond": {
                "type": "number",
                "description": "Peak dense operations per second of one accelerator (the "
                "catalogue figure behind its TPP).",
            },
            "estimatedOperations": NUMBER,
        },
    }
    crossing = {
        "type": "object",
        "required": ["tier"],
        "properties": {
            "tier": {"type": "string", "maxLength": 128},
            "level": {"type": "string", "enum": ["report", "monitor"]},
            "metric": {"type": "string", "enum": ["operations", "capacity"]},
            "threshold": NUMBER,
            "value": NUMBER,
            "at": TIME,
            "policy": STRING,
            "appliesBecause": STRING,
            "message": {"type": "string", "maxLength": 4096},
            "decisionId": {"type": "string", "maxLength": 64},
            "notified": {"type": "boolean"},
        },
    }
    return {
        "type": "object",
        "description": "Written by the exportgate operator at each checkpoint.",
        "properties": {
            "state": {"type": "string", "enum": ["Running", "Finished"]},
            "countedUntil": {
                **TIME,
                "description": "Every Pod of the run is counted up to here and not beyond; "
                "the next checkpoint (also after a restart) continues from here.",
            },
            "firstSeen": {**TIME, "description": "Earliest start of any of the run's Pods."},
            "lastSeen": {**TIME, "description": "Latest time any of its Pods held devices."},
            "accelerators": {**COUNT, "description": "Accelerators held now."},
            "pods": {**COUNT, "description": "Running accelerator Pods now."},
            "peakAccelerators": COUNT,
            "acceleratorSeconds": NUMBER,
            "gpuHours": {**NUMBER, "description": "acceleratorSeconds / 3600, rounded."},
            "unidentifiedAcceleratorSeconds": NUMBER,
            "estimatedOperations": {
                **NUMBER,
                "description": "Sum over products of accelerator-seconds x peak dense ops/s "
                "x utilisation; an upper bound when utilisation is 1.0.",
            },
            "peakCapacityOpsPerSecond": NUMBER,
            "utilisation": NUMBER,
            "estimation": STRING,
            "products": {"type": "array", "maxItems": 64, "items": product},
            "daily": {
                "type": "array",
                "maxItems": 62,
                "description": "Accelerator-seconds per UTC day (usage patterns).",
                "items": {
                    "type": "object",
                    "properties": {"day": {"type": "string", "maxLength": 10},
                                   "acceleratorSeconds": NUMBER},
                },
            },
            "crossings": {"type": "array", "maxItems": 64, "items": crossing},
        },
    }


def compute_run_columns() -> list[Schema]:
    return [
        {"name": "Tenant", "type": "string", "jsonPath": ".spec.tenant"},
        {"name": "Owner", "type": "string", "jsonPath": ".spec.owner.kind"},
        {"name": "Run", "type": "string", "jsonPath": ".spec.owner.name", "priority": 1},
        {"name": "Accelerators", "type": "integer", "jsonPath": ".status.accelerators"},
        {"name": "Peak", "type": "integer", "jsonPath": ".status.peakAccelerators",
         "priority": 1},
        {"name": "GPU-Hours", "type": "number", "jsonPath": ".status.gpuHours"},
        {"name": "Est-Ops", "type": "number", "jsonPath": ".status.estimatedOperations"},
        # The factor the estimate assumes, beside it: 1 means the figure is an upper bound.
        {"name": "Util", "type": "number", "jsonPath": ".status.utilisation"},
        {"name": "State", "type": "string", "jsonPath": ".status.state"},
        {"name": "Crossed", "type": "string", "jsonPath": ".status.crossings[*].tier",
         "priority": 1},
        {"name": "Last-Seen", "type": "date", "jsonPath": ".status.lastSeen"},
    ]


def plural(kind: str) -> str:
    """The plural API resource name of a kind, by Kubernetes' convention."""
    lower = kind.lower()
    if lower.endswith("y") and lower[-2:-1] not in "aeiou":
        return lower[:-1] + "ies"
    return lower + ("es" if lower.endswith(("s", "x", "ch", "sh")) else "s")


def owner_rules() -> list[Schema]:
    """`get` on every kind the adapter data guards (one kind table, from the adapters): the
    accountant climbs ownerReferences through them to find each Pod's run."""
    by_group: dict[str, set[str]] = defaultdict(set)
    for group, kind in AdapterRegistry.builtin().kinds():
        if group not in _SKIP_GROUPS:
            by_group[group].add(plural(kind))
    return [
        {"apiGroups": [group], "resources": sorted(names), "verbs": ["get"]}
        for group, names in sorted(by_group.items())
    ]
