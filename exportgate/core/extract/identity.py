"""Who an object is: apiVersion, kind, name, namespace, labels and the tenant label."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from exportgate.core.errors import InputError
from exportgate.core.extract.paths import expect_mapping, expect_string, join_key
from exportgate.core.tenancy import TENANT_LABEL
from exportgate.core.types import ObjectRef

UNNAMED = "<unnamed>"


@dataclass(frozen=True, slots=True)
class Identity:
    ref: ObjectRef
    group: str
    version: str
    labels: dict[str, str]
    tenant_label: str | None


def identify(obj: object) -> tuple[Mapping[str, Any], Identity]:
    """The object as a mapping, and its identity; InputError when either is malformed."""
    root = expect_mapping(obj, "")
    api_version = _required_string(root, "apiVersion", "for example apps/v1 or v1")
    kind = _required_string(root, "kind", "for example Deployment")
    group, version = split_api_version(api_version)
    metadata = root.get("metadata")
    meta: Mapping[str, Any] = {} if metadata is None else expect_mapping(metadata, "metadata")
    name = _optional_string(meta, "name")
    if not name:
        generate_name = _optional_string(meta, "generateName")
        name = f"{generate_name}*" if generate_name else UNNAMED
    namespace = _optional_string(meta, "namespace") or None
    labels = _labels(meta.get("labels"))
    ref = ObjectRef(api_version, kind, name, namespace)
    return root, Identity(ref, group, version, labels, labels.get(TENANT_LABEL) or None)


def split_api_version(api_version: str) -> tuple[str, str]:
    """``apps/v1`` -> (``apps``, ``v1``); ``v1`` -> (``""``, ``v1``), the core group."""
    group, slash, version = api_version.rpartition("/")
    if not version or "/" in group or (slash and not group):
        raise InputError(
            f"malformed apiVersion {api_version!r}",
            field="apiVersion",
            hint="write group/version (apps/v1) or just the version for the core group (v1)",
        )
    return group, version


def _required_string(root: Mapping[str, Any], key: str, example: str) -> str:
    value = root.get(key)
    if value is None or value == "":
        raise InputError(
            f"{key} is missing",
            field=key,
            hint=f"every Kubernetes object names its {key}, {example}",
        )
    return expect_string(value, key).strip()


# Every object passes through here: field paths are spelled out only for an error.


def _optional_string(meta: Mapping[str, Any], key: str) -> str:
    value = meta.get(key)
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return expect_string(value, join_key("metadata", key))  # raises


def _labels(value: object) -> dict[str, str]:
    if value is None:
        return {}
    labels = {}
    for key, label in expect_mapping(value, "metadata.labels").items():
        if not (isinstance(key, str) and isinstance(label, str)):
            where = join_key("metadata.labels", str(key))
            expect_string(key, where)
            expect_string(label, where)
        labels[key] = label
    return labels
