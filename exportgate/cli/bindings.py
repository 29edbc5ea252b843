"""Namespace -> tenant bindings from a platform file, for ``exportgate check --bindings``.

In the cluster only the platform binds a namespace to a tenant (the webhook refuses anyone else
changing the ``exportgate.dev/tenant`` label). A tenant's bundle checked in CI could otherwise
carry its own Namespace documents and bind its namespaces to whatever tenant suits it. With
``--bindings FILE`` the bindings come from the platform's file alone, and a Namespace document in
the bundle that binds differently is refused (exit 2), so a bundle cannot rebind itself.

The file holds either Namespace objects (``kubectl get namespaces -o yaml`` output, a List or
separate documents; the tenant label is read), or one mapping of namespace name -> tenant name.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from exportgate.core.documents import flatten_lists, read_documents
from exportgate.core.errors import InputError
from exportgate.core.tenancy import TENANT_LABEL, tenant_label


def is_namespace(obj: Mapping[str, Any]) -> bool:
    return obj.get("kind") == "Namespace" and obj.get("apiVersion") == "v1"


def namespace_name(obj: Mapping[str, Any]) -> str:
    metadata = obj.get("metadata")
    name = metadata.get("name") if isinstance(metadata, Mapping) else None
    return str(name) if name else ""


def load_bindings(path: str) -> dict[str, str]:
    """namespace -> tenant from the platform's file; InputError names the file and line."""
    bindings: dict[str, str] = {}
    documents = read_documents(path)
    for document, obj, base in flatten_lists(documents):
        if not isinstance(obj, Mapping):
            raise document.error(base, "not a mapping", hint=_HINT)
        if "kind" in obj:
            if not is_namespace(obj):
                raise document.error(
                    base, f"a {obj.get('kind')} is not a namespace binding", hint=_HINT
                )
            name = namespace_name(obj)
            if not name:
                raise document.error(base, "a Namespace without metadata.name", hint=_HINT)
            tenant = tenant_label(obj)
            if tenant:
                bindings[name] = tenant
            continue
        for name, tenant in obj.items():
            if not isinstance(name, str) or not isinstance(tenant, str) or not tenant:
                raise document.error(
                    (*base, str(name)),
                    "a binding maps a namespace name to a tenant name (two strings)",
                    hint=_HINT,
                )
            bindings[name] = tenant
    return bindings


def refuse_rebinding(obj: Mapping[str, Any], bindings: Mapping[str, str], where: str) -> None:
    """InputError when a bundle's Namespace binds otherwise than the platform's file."""
    name = namespace_name(obj)
    declared = tenant_label(obj)
    bound = bindings.get(name)
    if declared != bound:
        raise InputError(
            f"Namespace {name!r} in the inputs binds tenant {declared!r} but the platform's "
            f"bindings say {bound!r}: a bundle cannot rebind its namespaces",
            source=where,
            hint=f"remove the Namespace or its {TENANT_LABEL} label from the bundle; "
            "only the platform team changes bindings",
        )


_HINT = (
    "--bindings takes Namespace objects (kubectl get namespaces -o yaml) "
    "or a mapping of namespace name to tenant name"
)
