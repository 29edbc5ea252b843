"""exportgate's own CRDs: Tenant, ExportPolicy, ModelEndpoint (spec schemas from the core)."""

from __future__ import annotations

from crd_common import (
    AGE,
    COUNTRY,
    EFFECTIVE_STATES,
    Schema,
    bound_arrays,
    condition_column,
    conditions_schema,
    crd,
)
from crd_strict import strict_enums

from exportgate.core.data import load_data
from exportgate.core.types import JurisdictionRole

# --- Tenant -------------------------------------------------------------------------------


def tenant_spec() -> Schema:
    spec = strict_enums(bound_arrays(load_data("schemas/tenant-spec.yaml"), 256))
    # A date-time string is a CEL timestamp, so the two instants compare directly.
    spec["properties"]["verification"]["x-kubernetes-validations"] = [
        {
            "rule": "!has(self.verifiedAt) || !has(self.expiresAt) "
            "|| self.expiresAt > self.verifiedAt",
            "message": "verification.expiresAt must be later than verification.verifiedAt",
            "fieldPath": ".expiresAt",
        },
    ]
    licence = spec["properties"]["licenses"]["items"]
    licence["x-kubernetes-validations"] = [
        {
            "rule": "!has(self.issuedAt) || !has(self.expiresAt) || self.expiresAt > self.issuedAt",
            "message": "a licence's expiresAt must be later than its issuedAt",
        }
    ]
    # Shares are direct or indirect percentages of one company: together at most 100.
    spec["properties"]["ownership"]["x-kubernetes-validations"] = [
        {
            "rule": "!has(self.owners) || self.owners.map(o, o.share).sum() <= 100.0",
            "message": "the owners' shares add up to more than 100%",
            "fieldPath": ".owners",
        }
    ]
    spec["properties"]["licenses"]["x-kubernetes-list-type"] = "map"
    spec["properties"]["licenses"]["x-kubernetes-list-map-keys"] = ["id"]
    return spec


def tenant_status() -> Schema:
    return {
        "type": "object",
        "description": "Written by the exportgate operator; never by users.",
        "properties": {
            "observedGeneration": {"type": "integer", "format": "int64"},
            "verification": {
                "type": "string",
                "enum": EFFECTIVE_STATES,
                "description": "Verification in force now (the spec state with expiry applied).",
            },
            "verificationExpiresAt": {"type": "string", "format": "date-time"},
            "nextTransitionAt": {
                "type": "string",
                "format": "date-time",
                "description": "When the effective verification changes next (expiry or "
                "start of validity); the operator re-evaluates the tenant then.",
            },
            "jurisdictions": {
                "type": "array",
                "maxItems": 512,
                "description": "Every country the tenant answers to, and why (HK counts as CN).",
                "items": {
                    "type": "object",
                    "required": ["country", "role"],
                    "properties": {
                        "country": COUNTRY,
                        "role": {
                            "type": "string",
                            # Every role the core may name (one list: its enum).
                            "enum": [role.value for role in JurisdictionRole],
                        },
                        "via": {"type": "string", "maxLength": 1024},
                        "declaredAs": COUNTRY,
                        "groups": {
                            "type": "array",
                            "maxItems": 64,
                            "items": {"type": "string", "maxLength": 128},
                        },
                    },
                },
            },
            "countryGroups": {
                "type": "array",
                "maxItems": 64,
                "description": "Country groups any jurisdiction falls in (e.g. D:5, E:1).",
                "items": {"type": "string", "maxLength": 128},
            },
            "access": {
                "type": "array",
                "maxItems": 32,
                "description": "What the tenant may use: each accelerator export class and "
                "the decision a workload asking for it would get now.",
                "items": {
                    "type": "object",
                    "required": ["classification", "allowed", "action"],
                    "properties": {
                        "classification": {"type": "string", "maxLength": 64},
                        "allowed": {"type": "boolean"},
                        "action": {"type": "string", "enum": ["allow", "dryrun", "warn", "deny"]},
                        "rule": {"type": "string", "maxLength": 256},
                        "citation": {"type": "string", "maxLength": 1024},
                        "deniedProducts": {
                            "type": "array",
                            "maxItems": 32,
                            "description": "Products of an otherwise allowed class that are "
                            "denied (product-specific rules).",
                            "items": {"type": "string", "maxLength": 128},
                        },
                    },
                },
            },
            "policyVersion": {"type": "string", "maxLength": 64},
            "workloads": {
                "type": "object",
                "description": "Outcome of the latest re-audit of this tenant's workloads.",
                "properties": {
                    "auditedAt": {"type": "string", "format": "date-time"},
                    "audited": {"type": "integer"},
                    "violations": {"type": "integer"},
                },
            },
            "conditions": conditions_schema(),
        },
    }


def tenant_crd() -> Schema:
    return crd(
        kind="Tenant",
        plural="tenants",
        scope="Cluster",
        spec=tenant_spec(),
        status=tenant_status(),
        short_names=["egtenant"],
        description="A tenant company as the provider's KYC review established it. Only the "
        "provider's KYC identities write spec; the exportgate operator writes status.",
        columns=[
            {"name": "Legal Name", "type": "string", "jsonPath": ".spec.legalName"},
            {"name": "HQ", "type": "string", "jsonPath": ".spec.headquarters"},
            {"name": "Verification", "type": "string", "jsonPath": ".status.verification"},
            # A string, not a date: kubectl renders future dates as "<invalid>".
            {"name": "Expires", "type": "string", "jsonPath": ".spec.verification.expiresAt"},
            condition_column("Ready", "Ready"),
            {
                "name": "Groups",
                "type": "string",
                "jsonPath": ".status.countryGroups",
                "priority": 1,
            },
            AGE,
        ],
    )


# --- ExportPolicy -------------------------------------------------------------------------


def policy_spec() -> Schema:
    spec = bound_arrays(load_data("schemas/exportpolicy-spec.yaml"), 512)
    rule = spec["properties"]["rules"]["items"]
    for day in ("effective", "until"):
        rule["properties"][day]["maxLength"] = 10  # YYYY-MM-DD; keeps the CEL cost tiny
    # ISO dates compare correctly as strings.
    rule["x-kubernetes-validations"] = [
        {
            # "always" (no start date) sorts after digits, so it is excluded explicitly.
            "rule": "!has(self.until) || self.effective == 'always' || self.until > self.effective",
            "message": "a rule's until must be later than its effective date",
        },
        {
            "rule": "has(self.match.accelerators) || has(self.match.models)",
            "message": "a rule must match accelerators or models",
        },
    ]
    spec["properties"]["rules"]["x-kubernetes-list-type"] = "map"
    spec["properties"]["rules"]["x-kubernetes-list-map-keys"] = ["id"]
    return spec


def policy_status() -> Schema:
    return {
        "type": "object",
        "description": "Written by the exportgate operator.",
        "properties": {
            "observedGeneration": {"type": "integer", "format": "int64"},
            "compiled": {"type": "boolean"},
            "rules": {"type": "integer", "description": "Rules compiled."},
            "digest": {"type": "string", "maxLength": 128},
            "error": {
                "type": "object",
                "description": "Why the policy does not compile (as the core reports it).",
                "properties": {
                    "message": {"type": "string", "maxLength": 4096},
                    "field": {"type": "string", "maxLength": 1024},
                    "source": {"type": "string", "maxLength": 1024},
                    "hint": {"type": "string", "maxLength": 4096},
                },
            },
            "servedVersion": {
                "type": "string",
                "maxLength": 256,
                "description": "The spec.version of this policy in the snapshot being served.",
            },
            "engineVersion": {
                "type": "string",
                "maxLength": 64,
                "description": "Digest of the whole policy snapshot, stamped on decisions.",
            },
            "conditions": conditions_schema(),
        },
    }


def policy_crd() -> Schema:
    return crd(
        kind="ExportPolicy",
        plural="exportpolicies",
        scope="Cluster",
        spec=policy_spec(),
        status=policy_status(),
        short_names=["expol"],
        description="A policy pack in exportgate's format; replaces a built-in pack of the "
        "same name.",
        columns=[
            {"name": "Version", "type": "string", "jsonPath": ".spec.version"},
            {"name": "Action", "type": "string", "jsonPath": ".spec.enforcementAction"},
            condition_column("Compiled", "Compiled"),
            {"name": "Served", "type": "string", "jsonPath": ".status.servedVersion"},
            {"name": "Rules", "type": "integer", "jsonPath": ".status.rules", "priority": 1},
            AGE,
        ],
    )


# --- ModelEndpoint ------------------------------------------------------------------------


def endpoint_spec() -> Schema:
    return {
        "type": "object",
        "required": ["provider", "model"],
        "properties": {
            "provider": {
                "type": "string",
                "minLength": 1,
                "maxLength": 63,
                "pattern": "^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$",
                "description": "The model provider (anthropic, openai, google, meta, ...).",
            },
            "model": {
                "type": "string",
                "minLength": 1,
                "maxLength": 253,
                "description": "The model, as the provider names it (claude-sonnet-4, gpt-4o).",
            },
            "region": {
                "type": "string",
                "maxLength": 63,
                "description": "Where the endpoint should be served, if it matters.",
            },
        },
        "x-kubernetes-validations": [
            {
                "rule": "self.provider == oldSelf.provider",
                "message": "spec.provider is immutable; create a new ModelEndpoint",
                "fieldPath": ".provider",
            }
        ],
    }


def endpoint_status() -> Schema:
    return {
        "type": "object",
        "description": "Written by the exportgate operator.",
        "properties": {
            "observedGeneration": {"type": "integer", "format": "int64"},
            "phase": {"type": "string", "enum": ["Admitted", "Blocked", "Pending"]},
            "decision": {"type": "string", "enum": ["allow", "dryrun", "warn", "deny"]},
            "rule": {"type": "string", "maxLength": 256},
            "citation": {"type": "string", "maxLength": 1024},
            "message": {"type": "string", "maxLength": 4096},
            "decisionId": {"type": "string", "maxLength": 64},
            "tenant": {"type": "string", "maxLength": 253},
            "decidedAt": {"type": "string", "format": "date-time"},
            "conditions": conditions_schema(),
        },
    }


def endpoint_crd() -> Schema:
    return crd(
        kind="ModelEndpoint",
        plural="modelendpoints",
        scope="Namespaced",
        spec=endpoint_spec(),
        status=endpoint_status(),
        short_names=["mep"],
        description="A tenant's request for a hosted model behind the platform's gateway.",
        columns=[
            {"name": "Provider", "type": "string", "jsonPath": ".spec.provider"},
            {"name": "Model", "type": "string", "jsonPath": ".spec.model"},
            {"name": "Region", "type": "string", "jsonPath": ".spec.region", "priority": 1},
            {"name": "Phase", "type": "string", "jsonPath": ".status.phase"},
            {"name": "Rule", "type": "string", "jsonPath": ".status.rule"},
            AGE,
        ],
    )


