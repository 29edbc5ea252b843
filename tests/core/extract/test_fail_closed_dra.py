"""Fail closed on the unknown, class 4 of issue 10: DRA claims through any DeviceClass and claim
templates (pods, templates, NIMServices) are judged by what they can allocate.
"""

from __future__ import annotations

from typing import Any

import pytest

from exportgate.core.extract.dra_refs import DraObjects
from exportgate.core.types import Action
from tests.core.extract.fail_closed import (
    ENGINE,
    claim_of,
    claim_template,
    container,
    decide,
    device_class,
    pod_of,
)

# --- class 4: DRA through any DeviceClass and claim templates -------------------------------

PLATFORM_CLASSES = [
    ("driver-equals", device_class("big-gpus", 'device.driver == "gpu.nvidia.com"')),
    (
        "driver-attribute",
        device_class("big-gpus", 'device.attributes["gpu.nvidia.com"].type == "gpu"'),
    ),
    ("amd-driver", device_class("big-gpus", "device.driver == 'gpu.amd.com'")),
    ("selects-every-device", device_class("big-gpus")),
    ("suspect-driver", device_class("big-gpus", 'device.driver == "tpu.google.com"')),
    # Drivers exportgate has no data on but whose names look like accelerators.
    ("other-vendor-gpu-driver", device_class("big-gpus", 'device.driver == "gpu.deckhouse.io"')),
    ("npu-driver", device_class("big-gpus", 'device.driver == "npu.example.com"')),
]


@pytest.mark.parametrize(
    "device_class", [c[1] for c in PLATFORM_CLASSES], ids=[c[0] for c in PLATFORM_CLASSES]
)
def test_claims_through_platform_device_classes_are_accelerators(
    device_class: dict[str, Any],
) -> None:
    dra = DraObjects.from_objects([device_class])
    workload, action = decide(claim_of("big-gpus"), dra)
    assert workload.accelerators and action is Action.DENY


def test_a_class_naming_only_other_drivers_is_not_an_accelerator() -> None:
    dra = DraObjects.from_objects([device_class("nics", 'device.driver == "dra.net"')])
    workload, action = decide(claim_of("nics"), dra)
    assert workload.accelerators == () and action is Action.ALLOW


def test_an_unreadable_class_is_an_unknown_accelerator() -> None:
    workload, action = decide(claim_of("big-gpus"))
    assert [a.resource for a in workload.accelerators] == ["DeviceClass big-gpus"]
    assert action is Action.DENY


def test_a_class_product_selector_pins_what_it_allocates() -> None:
    dra = DraObjects.from_objects(
        [device_class("t4s", 'device.attributes["gpu.nvidia.com"].productName == "Tesla T4"')]
    )
    workload, action = decide(claim_of("t4s"), dra)
    assert ENGINE.catalogue.resolve(workload.accelerators[0]).candidates == ("nvidia-t4",)
    assert action is Action.ALLOW


POD_CLAIMS = [
    ("template", {"name": "gpu", "resourceClaimTemplateName": "gpu-template"}),
    ("claim", {"name": "gpu", "resourceClaimName": "shared-gpu"}),
    ("v1alpha-source", {"name": "gpu", "source": {"resourceClaimTemplateName": "gpu-template"}}),
]


@pytest.mark.parametrize("entry", [c[1] for c in POD_CLAIMS], ids=[c[0] for c in POD_CLAIMS])
def test_pods_naming_unreadable_claims_reach_unknown_accelerators(entry: dict[str, Any]) -> None:
    pod = pod_of([container(resources={"claims": [{"name": "gpu"}]})], resourceClaims=[entry])
    workload, action = decide(pod)
    assert len(workload.accelerators) == 1 and action is Action.DENY


def test_pods_and_templates_are_judged_by_the_claim_template_they_name() -> None:
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "d", "namespace": "team"},
        "spec": {
            "template": {
                "spec": {
                    "containers": [container(resources={"claims": [{"name": "gpu"}]})],
                    "resourceClaims": [
                        {"name": "gpu", "resourceClaimTemplateName": "gpu-template"}
                    ],
                }
            }
        },
    }
    dra = DraObjects.from_objects([claim_template("gpu-template", "gpu.nvidia.com")])
    workload, action = decide(deployment, dra)
    assert [a.resource for a in workload.accelerators] == ["gpu.nvidia.com"]
    assert action is Action.DENY
    nic = DraObjects.from_objects(
        [claim_template("gpu-template", "nics"), device_class("nics", 'device.driver == "dra.net"')]
    )
    workload, action = decide(deployment, nic)
    assert workload.accelerators == () and action is Action.ALLOW


def test_a_template_in_another_namespace_does_not_count() -> None:
    pod = pod_of([container()], resourceClaims=[{"name": "g", "resourceClaimTemplateName": "t"}])
    dra = DraObjects.from_objects(
        [
            claim_template("t", "nics", namespace="elsewhere"),
            device_class("nics", 'device.driver == "dra.net"'),
        ]
    )
    workload, _ = decide(pod, dra)
    assert [a.resource for a in workload.accelerators] == ["ResourceClaimTemplate t"]


def _nimservice(dra_resource: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "apps.nvidia.com/v1alpha1",
        "kind": "NIMService",
        "metadata": {"name": "llm", "namespace": "team"},
        "spec": {
            "image": {"repository": "nvcr.io/nim/meta/llama-3.1-8b-instruct", "tag": "1.3"},
            "draResources": [dra_resource],
        },
    }


NIM_DRA = [
    ("unreadable-template", {"resourceClaimTemplateName": "gpu-template"}, None, 1),
    ("unreadable-claim", {"resourceClaimName": "shared-gpu"}, None, 1),
    ("template-through-gpu-class", {"resourceClaimTemplateName": "gpu-template"},
     [claim_template("gpu-template", "gpu.nvidia.com")], 1),
    ("template-through-nic-class", {"resourceClaimTemplateName": "gpu-template"},
     [claim_template("gpu-template", "nics"),
      device_class("nics", 'device.driver == "dra.net"')], 0),
    ("inline-claim-spec", {"claimCreationSpec": {"devices": [
        {"name": "gpu", "deviceClassName": "gpu.nvidia.com", "count": 2}]}}, None, 1),
    ("inline-without-class", {"claimCreationSpec": {"devices": [
        {"name": "gpu", "driverName": "gpu.nvidia.com"}]}}, None, 1),
]  # fmt: skip


@pytest.mark.parametrize(
    ("entry", "objects", "requests"),
    [c[1:] for c in NIM_DRA],
    ids=[c[0] for c in NIM_DRA],
)
def test_nimservices_are_judged_by_their_dra_resources(
    entry: dict[str, Any], objects: list[dict[str, Any]] | None, requests: int
) -> None:
    dra = DraObjects.from_objects(objects) if objects else None
    workload, _ = decide(_nimservice(entry), dra)
    assert len(workload.accelerators) == requests
