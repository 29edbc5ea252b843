"""AdmissionReview `admission.k8s.io/v1`: the wire format, checked coming in, built going out.

`parse_review` turns a request body into a typed `AdmissionRequest` or raises `MalformedReview`
with a reason naming the field, which the server returns as a 400. Nothing past this module
handles a shape it has not checked, so a malformed review can never fall through to an allow.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping, Sequence
from typing import Any, Literal, NotRequired, TypedDict, cast

import orjson

from exportgate.core.documents import nesting_problem, tree_problem
from exportgate.core.extract.paths import describe_type
from exportgate.core.limits import MAX_DEPTH

API_VERSION = "admission.k8s.io/v1"
KIND = "AdmissionReview"

Operation = Literal["CREATE", "UPDATE", "DELETE", "CONNECT"]
OPERATIONS: frozenset[str] = frozenset(("CREATE", "UPDATE", "DELETE", "CONNECT"))


class MalformedReview(ValueError):
    """A request body that is not a usable AdmissionReview v1. `reason` is safe to return."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


class GroupVersionKind(TypedDict):
    group: str
    version: str
    kind: str


class GroupVersionResource(TypedDict):
    group: str
    version: str
    resource: str


class UserInfo(TypedDict):
    username: str
    uid: NotRequired[str]
    groups: NotRequired[list[str]]
    extra: NotRequired[dict[str, list[str]]]


class AdmissionRequest(TypedDict):
    uid: str
    kind: GroupVersionKind
    resource: GroupVersionResource
    operation: Operation
    userInfo: UserInfo
    subResource: NotRequired[str]
    name: NotRequired[str]
    namespace: NotRequired[str]
    object: NotRequired[dict[str, Any] | None]
    oldObject: NotRequired[dict[str, Any] | None]
    dryRun: NotRequired[bool]
    options: NotRequired[dict[str, Any] | None]


class Status(TypedDict):
    """The subset of metav1.Status the API server shows to the client."""

    code: int
    reason: str
    message: str


class AdmissionResponse(TypedDict):
    uid: str
    allowed: bool
    status: NotRequired[Status]
    patch: NotRequired[str]
    patchType: NotRequired[Literal["JSONPatch"]]
    auditAnnotations: NotRequired[dict[str, str]]
    warnings: NotRequired[list[str]]


class AdmissionReviewResponse(TypedDict):
    apiVersion: str
    kind: str
    response: AdmissionResponse


# --- parsing ---------------------------------------------------------------------------------


def _string(value: object, where: str, *, required: bool = True) -> str:
    if value is None and not required:
        return ""
    if not isinstance(value, str):
        raise MalformedReview(f"{where} must be a string, got {describe_type(value)}")
    return value


def _mapping(value: object, where: str) -> Mapping[str, Any]:
    if type(value) is dict:  # what JSON parses to; the ABC check costs several times more
        return value
    if not isinstance(value, Mapping):
        raise MalformedReview(f"{where} must be an object, got {describe_type(value)}")
    return value


def _optional_object(value: object, where: str) -> dict[str, Any] | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise MalformedReview(f"{where} must be an object or null, got {describe_type(value)}")
    return value


def _string_list(value: object, where: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise MalformedReview(f"{where} must be a list of strings, got {describe_type(value)}")
    for index, item in enumerate(value):
        if not isinstance(item, str):
            raise MalformedReview(f"{where}[{index}] must be a string, got {describe_type(item)}")
    return value


def _user_info(value: object) -> UserInfo:
    raw = _mapping(value, "request.userInfo")
    info: UserInfo = {"username": _string(raw.get("username"), "request.userInfo.username")}
    if "uid" in raw and raw["uid"] is not None:
        info["uid"] = _string(raw["uid"], "request.userInfo.uid")
    info["groups"] = _string_list(raw.get("groups"), "request.userInfo.groups")
    return info


def _gvk(value: object) -> GroupVersionKind:
    raw = _mapping(value, "request.kind")
    kind = _string(raw.get("kind"), "request.kind.kind")
    if not kind:
        raise MalformedReview("request.kind.kind must not be empty")
    return {
        "group": _string(raw.get("group"), "request.kind.group", required=False),
        "version": _string(raw.get("version"), "request.kind.version"),
        "kind": kind,
    }


def _gvr(value: object) -> GroupVersionResource:
    raw = _mapping(value, "request.resource")
    return {
        "group": _string(raw.get("group"), "request.resource.group", required=False),
        "version": _string(raw.get("version"), "request.resource.version"),
        "resource": _string(raw.get("resource"), "request.resource.resource"),
    }


def _decode(body: bytes) -> tuple[Any, str | None]:
    """The JSON document in `body`, and why it cannot be handled (or None). orjson on the hot
    path; what it refuses (integers beyond 64 bits, NaN, UTF-16 bodies, nesting past its limit,
    lone surrogates) is parsed again by the stdlib, so exactly the bodies the stdlib accepts are
    accepted, and its error message is the one reported."""
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError:
        document = json.loads(body)
        return document, tree_problem(document)
    # orjson refuses lone surrogates, so only the nesting can be wrong; and a body with at most
    # MAX_DEPTH opening brackets (inside strings or not) cannot nest deeper than that.
    if body.count(b"{") + body.count(b"[") <= MAX_DEPTH:
        return document, None
    return document, nesting_problem(document)


def parse_review(body: bytes) -> AdmissionRequest:
    """The request inside an AdmissionReview v1 body, with every field the webhook reads checked."""
    try:
        document, problem = _decode(body)
    except (UnicodeDecodeError, ValueError) as exc:
        raise MalformedReview(f"body is not valid JSON: {exc}") from None
    except RecursionError:
        raise MalformedReview(
            f"body refused: nested more than {MAX_DEPTH} levels deep (cap MAX_DEPTH)"
        ) from None
    if problem is not None:
        raise MalformedReview(f"body refused: {problem}")
    review = _mapping(document, "body")
    api_version = review.get("apiVersion")
    if api_version != API_VERSION:
        raise MalformedReview(
            f"apiVersion must be {API_VERSION!r}, got {api_version!r} "
            "(set admissionReviewVersions: [v1] in the webhook configuration)"
        )
    if review.get("kind") != KIND:
        raise MalformedReview(f"kind must be {KIND!r}, got {review.get('kind')!r}")
    if "request" not in review or review["request"] is None:
        raise MalformedReview("request is missing")
    raw = _mapping(review["request"], "request")
    uid = raw.get("uid")
    if not isinstance(uid, str) or not uid:
        raise MalformedReview("request.uid is missing or empty (the response must echo it)")
    operation = raw.get("operation")
    # isinstance first: a list or object here is unhashable and would raise TypeError (a 500).
    if not isinstance(operation, str) or operation not in OPERATIONS:
        raise MalformedReview(
            f"request.operation must be one of CREATE, UPDATE, DELETE, CONNECT, got {operation!r}"
        )
    request: AdmissionRequest = {
        "uid": uid,
        "kind": _gvk(raw.get("kind")),
        "resource": _gvr(raw.get("resource")),
        "operation": cast(Operation, operation),
        "userInfo": _user_info(raw.get("userInfo")),
    }
    for key in ("subResource", "name", "namespace"):
        if raw.get(key) is not None:
            request[key] = _string(raw[key], f"request.{key}")
    for key in ("object", "oldObject", "options"):
        if key in raw:
            request[key] = _optional_object(raw[key], f"request.{key}")  # type: ignore[literal-required]
    if "dryRun" in raw and raw["dryRun"] is not None:
        if not isinstance(raw["dryRun"], bool):
            raise MalformedReview(
                f"request.dryRun must be a boolean, got {describe_type(raw['dryRun'])}"
            )
        request["dryRun"] = raw["dryRun"]
    if operation in ("CREATE", "UPDATE") and request.get("object") is None:
        raise MalformedReview(f"request.object is missing for a {operation}")
    if operation == "UPDATE" and request.get("oldObject") is None:
        raise MalformedReview("request.oldObject is missing for an UPDATE")
    return request


# --- building responses ----------------------------------------------------------------------


def allowed(
    uid: str,
    *,
    warnings: Sequence[str] = (),
    audit: Mapping[str, str] | None = None,
    patch: Sequence[Mapping[str, Any]] | None = None,
) -> AdmissionResponse:
    response: AdmissionResponse = {"uid": uid, "allowed": True}
    if warnings:
        response["warnings"] = list(warnings)
    if audit:
        response["auditAnnotations"] = dict(audit)
    if patch:
        response["patchType"] = "JSONPatch"
        response["patch"] = base64.b64encode(_encode(list(patch))).decode()
    return response


def denied(
    uid: str,
    message: str,
    *,
    code: int = 403,
    reason: str = "Forbidden",
    audit: Mapping[str, str] | None = None,
) -> AdmissionResponse:
    response: AdmissionResponse = {
        "uid": uid,
        "allowed": False,
        "status": {"code": code, "reason": reason, "message": message},
    }
    if audit:
        response["auditAnnotations"] = dict(audit)
    return response


def encode(response: AdmissionResponse) -> bytes:
    review: AdmissionReviewResponse = {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "response": response,
    }
    return _encode(review)


def _encode(document: object) -> bytes:
    """Compact JSON. orjson on the hot path; the stdlib for what it refuses (a lone surrogate
    from a name the stdlib decoder let through), so every answer can be sent."""
    try:
        return orjson.dumps(document)
    except orjson.JSONEncodeError:
        return json.dumps(document, separators=(",", ":")).encode()
