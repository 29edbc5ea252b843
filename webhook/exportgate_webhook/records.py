"""Tenant and ExportPolicy writes are checked with the parser the sidecar and operator use.

The API server checks a Tenant against the CRD's OpenAPI schema, which cannot say everything the
parser says (that a licence's country list holds assigned ISO codes only, that a policy's rules
compile). A record that passes the schema but not the parser would be stored and then refused by
every reader: the tenant unusable until someone notices. Refusing the write instead tells the
platform engineer at once, naming the field and the fix, and keeps unreadable records out of etcd.

Updates that leave everything but metadata and status alone are not re-checked: a stored record
that predates a stricter parser must still be able to lose its finalizers or be relabelled.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from exportgate.core.errors import InputError
from exportgate.core.policy import parse_policy_document
from exportgate.core.tenancy import API_GROUP as EXPORTGATE_GROUP
from exportgate.core.tenants import parse_tenant
from exportgate_webhook.review import AdmissionRequest

_PARSERS: Mapping[str, Callable[[Mapping[str, Any], str], object]] = {
    "Tenant": parse_tenant,
    "ExportPolicy": parse_policy_document,
}


def _content(obj: Mapping[str, Any] | None) -> dict[str, Any]:
    return {k: v for k, v in (obj or {}).items() if k not in ("metadata", "status")}


def record_refusal(request: AdmissionRequest) -> str | None:
    """Why this Tenant/ExportPolicy write must be refused (the parser's words), or None."""
    kind = request["kind"]
    parse = _PARSERS.get(kind["kind"]) if kind["group"] == EXPORTGATE_GROUP else None
    operation = request["operation"]
    if parse is None or operation not in ("CREATE", "UPDATE") or request.get("subResource"):
        return None
    obj = request.get("object") or {}
    if operation == "UPDATE" and _content(obj) == _content(request.get("oldObject")):
        return None
    name = request.get("name", "") or "<unnamed>"
    try:
        parse(obj, f"{kind['kind']}/{name}")
    except InputError as exc:
        return (
            f"{kind['kind']} {name!r} cannot be read by exportgate: {exc.describe()}. Fix that "
            "field and apply again (exportgate refuses records it cannot read, so that every "
            "replica and the operator keep deciding from the same stored objects)."
        )
    return None
