"""Exact node-label values: what a negative constraint may exclude.

A negative constraint (``NotIn``, ``DoesNotExist``, a negated DRA selector) narrows what a
workload can reach only when it names exactly a value real nodes carry for that label: the GPU
Feature Discovery, GKE and Karpenter spellings listed per product in accelerators.yaml, an
instance type or family from instance-types.yaml, an exportgate product id. "NotIn [H100]" on
``nvidia.com/gpu.product`` excludes no node, since GFD writes ``NVIDIA-H100-80GB-HBM3``; and
``NotIn`` also matches nodes without the label. Anything not exact excludes nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from exportgate.core.catalogue import Catalogue

# The alias groups (accelerators.yaml) whose spellings are exactly what a label key's nodes carry.
# A negative constraint (NotIn) excludes only nodes it names exactly: "NotIn [H100]" on
# nvidia.com/gpu.product excludes no node (GFD writes NVIDIA-H100-80GB-HBM3) and so no product.
EXACT_ALIAS_SOURCES = {
    "nvidia.com/gpu.product": ("gfd",),
    "cloud.google.com/gke-accelerator": ("gke",),
    "cloud.google.com/gke-tpu-accelerator": ("gke",),
    "karpenter.k8s.aws/instance-gpu-name": ("karpenter",),
    "exportgate.dev/product": ("id", "nvml"),
    "exportgate.dev/accelerator-product": ("id",),
}


def exact_lookup(catalogue: Catalogue, key: str, value: str) -> frozenset[str]:
    """Products on nodes whose label `key` is exactly `value` (case and punctuation count).

    Used for negative constraints, which narrow only when they name what nodes carry.
    """
    # The key sets are the catalogue's (imported here: the catalogue imports this module).
    from exportgate.core.catalogue import (
        ARCHITECTURE_KEYS,
        CLASS_KEYS,
        FAMILY_KEYS,
        INSTANCE_TYPE_KEYS,
    )

    sources = EXACT_ALIAS_SOURCES.get(key)
    if sources is not None:
        return frozenset(
            p.id
            for p in catalogue.products.values()
            if ("id" in sources and p.id == value)
            or any(value in p.exact_aliases.get(source, ()) for source in sources)
        )
    if key in INSTANCE_TYPE_KEYS:
        found = catalogue.instance_type(value)
        return frozenset({found[0]}) if found else frozenset()
    if key in FAMILY_KEYS:
        return frozenset(
            product
            for cloud in catalogue.clouds.values()
            for family, product in cloud.families.items()
            if family == value
        )
    if key in ARCHITECTURE_KEYS:
        return frozenset(p.id for p in catalogue.products.values() if p.architecture == value)
    if key in CLASS_KEYS:
        return frozenset(p.id for p in catalogue.products.values() if p.eccn == value)
    return frozenset()
