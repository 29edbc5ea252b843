"""Schema validation of user documents, with errors that point at the file, line and field."""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from functools import cache
from typing import Any

import jsonschema

from exportgate.core.data import load_data
from exportgate.core.documents import LocatedDocument, PathKey


def strict(schema: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of an OpenAPI schema that forbids unknown fields wherever properties are listed.

    CRD schemas cannot say `additionalProperties: false` (the API server prunes instead), but a
    file a person wrote deserves to hear about a misspelt field rather than have it ignored.
    """
    result = copy.deepcopy(dict(schema))

    def walk(node: dict[str, Any]) -> None:
        if "properties" in node and "additionalProperties" not in node:
            node["additionalProperties"] = False
        for child in node.get("properties", {}).values():
            walk(child)
        if isinstance(node.get("items"), dict):
            walk(node["items"])

    walk(result)
    return result


@cache
def spec_validator(schema_file: str) -> jsonschema.Draft202012Validator:
    schema = strict(load_data(schema_file))
    return jsonschema.Draft202012Validator(
        schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    )


def validate_spec(
    document: LocatedDocument, spec: Any, base: PathKey, schema_file: str, what: str
) -> None:
    """Raise InputError for the first schema violation of `spec` (found at `base`)."""
    validator = spec_validator(schema_file)
    # Shallowest first; at one place, an unknown field before a missing one, because a
    # misspelling causes both and the misspelt field is the one to point at.
    errors = sorted(
        validator.iter_errors(spec),
        key=lambda e: (
            len(e.absolute_path),
            list(map(str, e.absolute_path)),
            e.validator != "additionalProperties",
        ),
    )
    if not errors:
        return
    error = errors[0]
    path: PathKey = (*base, *error.absolute_path)
    unknown = _unknown_fields(error)
    if unknown:
        # Point at the misspelt field itself (its own line), not at the mapping holding it.
        path = (*path, unknown[0])
    raise document.error(path, f"{what}: {_explain(error)}", hint=_hint(error))


def _unknown_fields(error: jsonschema.ValidationError) -> list[str]:
    if error.validator != "additionalProperties" or not isinstance(error.instance, dict):
        return []
    known = error.schema.get("properties", {}) if isinstance(error.schema, dict) else {}
    return sorted(str(key) for key in error.instance if key not in known)


def _explain(error: jsonschema.ValidationError) -> str:
    if error.validator == "additionalProperties":
        return error.message.replace("Additional properties are not allowed", "unknown field")
    if error.validator == "required":
        return error.message.replace("is a required property", "is required")
    if error.validator == "pattern" and "A-Z]{2}" in str(error.validator_value):
        return f"{error.instance!r} is not an ISO 3166-1 alpha-2 country code"
    return error.message


def _hint(error: jsonschema.ValidationError) -> str | None:
    if error.validator == "enum":
        return "allowed: " + ", ".join(str(v) for v in error.validator_value)  # type: ignore[union-attr]
    if error.validator == "format" and error.validator_value == "date-time":
        return 'use RFC 3339, e.g. "2027-03-01T00:00:00Z"'
    if error.validator == "pattern" and "A-Z]{2}" in str(error.validator_value):
        return "use two upper-case letters, e.g. SG"
    return None


# RFC 3339 section 5.6 date-time (with "T"), the format Kubernetes writes. Python's fromisoformat
# alone also takes ISO 8601 forms that no other reader of these records would (20270301T000000Z,
# week dates, fractional hours), so the shape is checked first.
_RFC3339 = re.compile(
    r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})", re.ASCII
)


def parse_time(value: str, document: LocatedDocument, path: PathKey) -> datetime:
    """RFC 3339 timestamp -> aware UTC datetime, or an InputError naming the field."""
    if not _RFC3339.fullmatch(value):
        hint = 'write it as RFC 3339, e.g. "2027-03-01T00:00:00Z"'
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}([Tt]\d{2}:\d{2}:\d{2}(\.\d+)?)?", value):
            zone = 'end it with "Z" for UTC'
            raise document.error(path, f"{value!r} has no time zone", hint=zone)
        raise document.error(path, f"{value!r} is not an RFC 3339 timestamp", hint=hint)
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except (ValueError, AttributeError) as exc:
        raise document.error(
            path, f"{value!r} is not an RFC 3339 timestamp", hint='e.g. "2027-03-01T00:00:00Z"'
        ) from exc
    if parsed.tzinfo is None:
        raise document.error(path, f"{value!r} has no time zone", hint='end it with "Z" for UTC')
    return parsed.astimezone(UTC)
