"""Manifest extraction: any Kubernetes object -> the `Workload` it represents.

``extract_workload(obj)`` finds the accelerators (`AcceleratorRequest` with `ProductHint`s) and
models (`ModelRequest`) an object would use, using adapters that are *data*
(``exportgate/data/adapters/*.yaml``, plus a platform's own files; see docs/policies.md). Pure
Python: no Kubernetes, gRPC or HTTP imports, so the CLI, the webhook and the operator share it.
"""

from exportgate.core.extract.adapters import Adapter
from exportgate.core.extract.dra import PRODUCT_HINT_KEY
from exportgate.core.extract.loader import AdapterSet, load_adapter_file, parse_adapter_text
from exportgate.core.extract.registry import AdapterRegistry, extract_workload
from exportgate.core.extract.schema import ADAPTER_SET_SCHEMA, HINT_MEANINGS
from exportgate.core.tenancy import TENANT_LABEL

NODEPOOL_RESOURCE = "nodepool"
"""`AcceleratorRequest.resource` of node pools and machine templates that may provision
accelerators; their hints say which (the catalogue decides whether any match is an accelerator)."""

__all__ = [
    "ADAPTER_SET_SCHEMA",
    "HINT_MEANINGS",
    "NODEPOOL_RESOURCE",
    "PRODUCT_HINT_KEY",
    "TENANT_LABEL",
    "Adapter",
    "AdapterRegistry",
    "AdapterSet",
    "extract_workload",
    "load_adapter_file",
    "parse_adapter_text",
]
