"""The ComputeRun CRD (compute accounting, issue 14), used by generate.py.

Written only by the operator (docs/compute-accounting.md); its fields are those
`exportgate_operator.accounting.records.RunRecord.status` writes. The owners it climbs through
are readable already: the re-audit rules grant every kind of the one kind table.
"""

from __future__ import annotations

from typing import Any

from crd_common import AGE, crd

Schema = dict[str, Any]

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
    tenant_crossing = {
        "type": "object",
        "description": "A crossing of a tier judged over all the tenant's runs together (the "
        "capacity tier), copied into every run that made it up.",
        "required": ["tier", "at"],
        "properties": {
            **crossing["properties"],
            "scope": {"type": "string", "enum": ["tenant"]},
            "value": {**NUMBER, "description": "The tenant's concurrent capacity (ops/s)."},
            "at": {**TIME, "description": "The instant of the tenant's peak."},
            "endedAt": {**TIME, "description": "The first checkpoint that found the tenant "
                        "below the tier again; a later rise is a new crossing."},
            "runCount": COUNT,
            "accelerators": {**COUNT, "description": "Accelerators the tenant held at `at`."},
            "runValue": {**NUMBER, "description": "This run's share of `value` at `at`."},
            "runAccelerators": COUNT,
        },
    }
    group_crossing = {
        "type": "object",
        "description": "A crossing of a tier judged over all the runs of a group of tenants "
        "(Tenant records answering to one party: a shared ultimate parent or majority owner, a "
        "reseller's end customer that is also a tenant), copied into every run that made it up.",
        "required": ["tier", "at", "group"],
        "properties": {
            **tenant_crossing["properties"],
            "scope": {"type": "string", "enum": ["group"]},
            "group": {"type": "string", "maxLength": 1024,
                      "description": "The group's key: its top party's normalised name."},
            "groupName": STRING,
            "value": {**NUMBER, "description": "The group's concurrent capacity (ops/s)."},
            "at": {**TIME, "description": "The instant of the group's peak."},
            "endedAt": {**TIME, "description": "The first checkpoint that found the group "
                        "below the tier again; a later rise is a new crossing."},
            "accelerators": {**COUNT, "description": "Accelerators the group held at `at`."},
            "tenantCount": COUNT,
            "members": {
                "type": "array",
                "maxItems": 1024,
                "description": "Every member tenant and its share at `at`.",
                "items": {
                    "type": "object",
                    "properties": {"tenant": {"type": "string", "maxLength": 253},
                                   "value": NUMBER, "accelerators": COUNT, "runCount": COUNT},
                },
            },
            "links": {
                "type": "array",
                "maxItems": 1024,
                "description": "Why the tenants are one group: each party that ties them, and "
                "how each tenant's KYC record names it.",
                "items": {
                    "type": "object",
                    "properties": {
                        "party": STRING,
                        "namedBy": {
                            "type": "array",
                            "maxItems": 1024,
                            "items": {
                                "type": "object",
                                "properties": {
                                    "tenant": {"type": "string", "maxLength": 253},
                                    "role": {"type": "string", "maxLength": 64},
                                },
                            },
                        },
                    },
                },
            },
        },
    }
    usage_jump = {
        "type": "object",
        "description": "A usage jump of the tenant, kept in the run that used the most that day.",
        "required": ["day"],
        "properties": {
            "day": {"type": "string", "maxLength": 10},
            "acceleratorSeconds": NUMBER,
            "baselineSecondsPerDay": NUMBER,
            "baselineDays": COUNT,
            "jumpFactor": NUMBER,
            "at": TIME,
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
            "tenantCrossings": {"type": "array", "maxItems": 64, "items": tenant_crossing},
            "groupCrossings": {"type": "array", "maxItems": 64, "items": group_crossing},
            "usageJumps": {"type": "array", "maxItems": 64, "items": usage_jump},
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



def compute_run_crd() -> Schema:
    return crd(
        kind="ComputeRun",
        plural="computeruns",
        scope="Namespaced",
        spec=compute_run_spec(),
        status=compute_run_status(),
        short_names=["crun"],
        description="One run's use of accelerators (compute accounting): accelerator-seconds "
        "per product, estimated operations (an upper bound at utilisation 1.0), thresholds "
        "crossed. Written only by the exportgate operator.",
        columns=[*compute_run_columns(), AGE],
    )
