"""The export class of a node's accelerator, from the labels GPU Feature Discovery and the
clouds put on nodes, so schedulers and policies can keep restricted tenants off those nodes."""

from __future__ import annotations

from collections.abc import Mapping

from exportgate.core.catalogue import Catalogue

CLASS_LABEL = "exportgate.dev/accelerator-class"
PRODUCT_LABEL = "exportgate.dev/accelerator-product"

INSTANCE_TYPE_LABELS = (
    "node.kubernetes.io/instance-type",  # every cloud
    "beta.kubernetes.io/instance-type",
)
# Most specific first: a label naming the product beats an instance type that implies it.
SOURCE_LABELS = (
    "nvidia.com/gpu.product",  # GPU Feature Discovery
    "amd.com/gpu.product-name",  # AMD node labeller
    "cloud.google.com/gke-accelerator",  # GKE
    "karpenter.k8s.aws/instance-gpu-name",  # Karpenter on AWS
    *INSTANCE_TYPE_LABELS,
)


def accelerator_class(labels: Mapping[str, str], catalogue: Catalogue) -> tuple[str, str] | None:
    """(classification, product id) for a node, or None when it carries no accelerator.

    A label that names an accelerator the catalogue does not know gives the catalogue's
    assumed class for unknown products: an unidentified GPU is not waved through.
    """
    unknown = False
    for key in SOURCE_LABELS:
        value = labels.get(key)
        if not value:
            continue
        products = catalogue.lookup(key, value)
        if products is None:
            # An instance type we hold no data on may well have no accelerator at all; only
            # an unknown *accelerator* name is an unknown accelerator.
            unknown = unknown or key not in INSTANCE_TYPE_LABELS
            continue
        if not products:
            continue
        classes = catalogue.classifications(sorted(products))
        return classes[0], sorted(products)[0] if len(products) == 1 else "ambiguous"
    if unknown:
        return catalogue.unknown_classification, catalogue.unknown_id
    return None


def label_patch(
    labels: Mapping[str, str], catalogue: Catalogue
) -> dict[str, str | None] | None:
    """The metadata.labels merge patch that makes the node's labels right, or None if they are."""
    found = accelerator_class(labels, catalogue)
    wanted: dict[str, str | None] = (
        {CLASS_LABEL: found[0], PRODUCT_LABEL: found[1]}
        if found
        else {CLASS_LABEL: None, PRODUCT_LABEL: None}
    )
    patch = {key: value for key, value in wanted.items() if labels.get(key) != value}
    return patch or None
