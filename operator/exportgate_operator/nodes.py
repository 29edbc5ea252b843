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

    An instance type the catalogue cannot identify (another provider's or an on-prem name such
    as ``dgx.h100``) may carry no accelerator or any. Left unlabelled, such a node would match
    every ``accelerator-class NotIn [<controlled classes>]`` affinity meant to keep restricted
    tenants off controlled nodes; so it gets the indeterminate class (controlled in every
    default pack), with the unknown product, and the catalogue reads a pod pinned to that class
    as "could be anything". A pod pinned to an uncontrolled class (``outside-3A090``) never
    lands there. Only a node with no hint at all, or with instance types the catalogue knows
    to carry none (``m5.large``), is left unlabelled.
    """
    unknown = False  # an accelerator name we cannot identify
    unidentified = False  # an instance type we cannot identify: no accelerator, or any
    for key in SOURCE_LABELS:
        value = labels.get(key)
        if not value:
            continue
        products = catalogue.lookup(key, value)
        if products is None:
            if key in INSTANCE_TYPE_LABELS:
                unidentified = True
            else:
                unknown = True
            continue
        if not products:
            continue
        classes = catalogue.classifications(sorted(products))
        return classes[0], sorted(products)[0] if len(products) == 1 else "ambiguous"
    if unknown:
        return catalogue.unknown_classification, catalogue.unknown_id
    if unidentified:
        return catalogue.indeterminate_classification, catalogue.unknown_id
    return None


def label_patch(labels: Mapping[str, str], catalogue: Catalogue) -> dict[str, str | None] | None:
    """The metadata.labels merge patch that makes the node's labels right, or None if they are."""
    found = accelerator_class(labels, catalogue)
    wanted: dict[str, str | None] = (
        {CLASS_LABEL: found[0], PRODUCT_LABEL: found[1]}
        if found
        else {CLASS_LABEL: None, PRODUCT_LABEL: None}
    )
    patch = {key: value for key, value in wanted.items() if labels.get(key) != value}
    return patch or None
