"""Fail closed on the unknown, class 7 of issue 10: no over-blocking. Pins to GPUs outside the
controlled classes (by node label, instance type, affinity or a KServe annotation) are admitted
for a restricted tenant, every uncontrolled NVIDIA product the catalogue lists included.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from exportgate.core.types import Action
from tests.core.extract.fail_closed import (
    ENGINE,
    ENGINE_RULES,
    GPU,
    T4_GFD,
    container,
    decide,
    pod_of,
    required,
)

# --- class 7: over-blocking ----------------------------------------------------------------

SMALL_PINS = [
    (
        "gfd-t4",
        pod_of(
            [container(resources={"limits": GPU})], nodeSelector={"nvidia.com/gpu.product": T4_GFD}
        ),
    ),
    (
        "gke-t4",
        pod_of(
            [container(resources={"limits": GPU})],
            nodeSelector={"cloud.google.com/gke-accelerator": "nvidia-tesla-t4"},
        ),
    ),
    (
        "instance-type-g4dn",
        pod_of(
            [container(resources={"limits": GPU})],
            nodeSelector={"node.kubernetes.io/instance-type": "g4dn.xlarge"},
        ),
    ),
    (
        "affinity-in-t4",
        pod_of(
            [container(resources={"limits": GPU})],
            affinity=required(
                {"key": "nvidia.com/gpu.product", "operator": "In", "values": [T4_GFD]}
            ),
        ),
    ),
    (
        "kserve-annotation-t4",
        {
            "apiVersion": "serving.kserve.io/v1beta1",
            "kind": "InferenceService",
            "metadata": {
                "name": "s",
                "namespace": "t",
                "annotations": {"serving.kserve.io/gke-accelerator": "nvidia-tesla-t4"},
            },
            "spec": {
                "predictor": {
                    "model": {"modelFormat": {"name": "sklearn"}, "resources": {"limits": GPU}}
                }
            },
        },
    ),
]


@pytest.mark.parametrize("obj", [c[1] for c in SMALL_PINS], ids=[c[0] for c in SMALL_PINS])
def test_pins_to_uncontrolled_gpus_are_admitted_for_a_restricted_tenant(
    obj: dict[str, Any],
) -> None:
    _, action = decide(copy.deepcopy(obj))
    assert action is Action.ALLOW


def _uncontrolled_pins() -> list[tuple[str, str]]:
    """Every NVIDIA product classified outside 3A090 that no pack names by id."""
    from exportgate.core.catalogue import builtin_catalogue

    catalogue = builtin_catalogue()
    named = {
        product
        for rule in ENGINE_RULES
        for product in ((rule.get("match") or {}).get("accelerators") or {}).get("products", ())
    }
    pins = []
    for product in sorted(catalogue.products.values(), key=lambda p: p.id):
        gfd = product.exact_aliases.get("gfd", ())
        if (
            product.vendor == "nvidia"
            and gfd
            and product.eccn.startswith("outside")
            and product.id not in named
        ):
            pins.append((product.id, gfd[0]))
    return pins


@pytest.mark.parametrize(("product", "label"), _uncontrolled_pins())
def test_every_uncontrolled_gpu_pinned_by_its_gfd_label_is_admitted(
    product: str, label: str
) -> None:
    """Old parts (K80, P4, P100, V100 ... as the catalogue lists them) are not over-blocked."""
    pod = pod_of(
        [container(resources={"limits": GPU})], nodeSelector={"nvidia.com/gpu.product": label}
    )
    workload, action = decide(pod)
    assert ENGINE.catalogue.resolve(workload.accelerators[0]).candidates == (product,)
    assert action is Action.ALLOW
