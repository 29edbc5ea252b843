"""DRA device requests: device classes, counts, alternatives and CEL product selectors."""

from __future__ import annotations

from typing import Any

import pytest

from exportgate.core.catalogue import builtin_catalogue
from exportgate.core.errors import InputError
from exportgate.core.extract import extract_workload
from exportgate.core.types import Operator

PRODUCT = 'device.attributes["gpu.nvidia.com"].productName'


def _claim(request: dict[str, Any], version: str = "v1") -> dict[str, Any]:
    return {
        "apiVersion": f"resource.k8s.io/{version}",
        "kind": "ResourceClaim",
        "metadata": {"name": "r", "namespace": "t"},
        "spec": {"devices": {"requests": [{"name": "gpu", **request}]}},
    }


def _selector(expression: str) -> list[dict[str, Any]]:
    return [{"cel": {"expression": expression}}]


REQUESTS = [
    # (case, request, version, (resource, count, operator, values) per accelerator request)
    ("exact-count", {"exactly": {"deviceClassName": "gpu.nvidia.com", "count": 4}}, "v1",
     [("gpu.nvidia.com", 4, None, ())]),
    ("all-counts-as-one", {"exactly": {"deviceClassName": "gpu.nvidia.com",
                                       "allocationMode": "All"}}, "v1",
     [("gpu.nvidia.com", 1, None, ())]),
    ("v1beta1-shape", {"deviceClassName": "gpu.nvidia.com", "count": 2}, "v1beta1",
     [("gpu.nvidia.com", 2, None, ())]),
    ("mig", {"exactly": {"deviceClassName": "mig.nvidia.com", "count": 3}}, "v1",
     [("mig.nvidia.com", 3, None, ())]),
    ("product-equals", {"exactly": {"deviceClassName": "gpu.nvidia.com",
                                    "selectors": _selector(f'{PRODUCT} == "NVIDIA H200"')}}, "v1",
     [("gpu.nvidia.com", 1, Operator.IN, ("NVIDIA H200",))]),
    ("product-not-equals", {"exactly": {"deviceClassName": "gpu.nvidia.com",
                                        "selectors": _selector(f'{PRODUCT} != "NVIDIA H200"')}},
     "v1", [("gpu.nvidia.com", 1, Operator.NOT_IN, ("NVIDIA H200",))]),
    ("cluster-class-selecting-the-driver",
     {"exactly": {"deviceClassName": "h100-class",
                  "selectors": _selector(f'{PRODUCT} == "NVIDIA H100 80GB HBM3"')}}, "v1",
     [("h100-class", 1, Operator.IN, ("NVIDIA H100 80GB HBM3",))]),
    ("first-available",
     {"firstAvailable": [
         {"name": "big", "deviceClassName": "gpu.nvidia.com",
          "selectors": _selector(f'{PRODUCT} in ["NVIDIA H200", "NVIDIA H100 80GB HBM3"]')},
         {"name": "small", "deviceClassName": "gpu.nvidia.com", "count": 2}]}, "v1",
     [("gpu.nvidia.com", 1, Operator.IN, ("NVIDIA H100 80GB HBM3", "NVIDIA H200")),
      ("gpu.nvidia.com", 2, None, ())]),
    # A class exportgate cannot read is an unknown accelerator (DeviceClass lookups: test_dra_refs).
    ("unreadable-class", {"exactly": {"deviceClassName": "rdma.example.com"}}, "v1",
     [("DeviceClass rdma.example.com", 1, None, ())]),
]


@pytest.mark.parametrize(
    ("request_", "version", "expected"),
    [r[1:] for r in REQUESTS],
    ids=[r[0] for r in REQUESTS],
)
def test_device_requests(
    request_: dict[str, Any],
    version: str,
    expected: list[tuple[str, int, Operator | None, tuple[str, ...]]],
) -> None:
    workload = extract_workload(_claim(request_, version))
    found = []
    for accelerator in workload.accelerators:
        hint = accelerator.hints[0] if accelerator.hints else None
        found.append(
            (
                accelerator.resource,
                accelerator.count,
                hint.operator if hint else None,
                tuple(sorted(hint.values)) if hint else (),
            )
        )
    assert found == expected


def test_cel_product_names_are_the_nvml_names_the_catalogue_knows() -> None:
    workload = extract_workload(
        _claim({"exactly": {"deviceClassName": "gpu.nvidia.com",
                            "selectors": _selector(f'{PRODUCT} == "NVIDIA H100 80GB HBM3"')}})
    )
    resolved = builtin_catalogue().resolve(workload.accelerators[0])
    assert resolved.candidates == ("nvidia-h100-sxm",)
    assert resolved.pinned


def test_an_unreadable_selector_does_not_narrow() -> None:
    """A CEL expression that cannot be read offline leaves the request unpinned (conservative)."""
    workload = extract_workload(
        _claim({"exactly": {"deviceClassName": "gpu.nvidia.com",
                            "selectors": _selector(f'{PRODUCT}.startsWith("NVIDIA H1")')}})
    )
    assert workload.accelerators[0].hints == ()


def test_bad_allocation_mode_names_the_field() -> None:
    with pytest.raises(InputError) as caught:
        extract_workload(
            _claim({"exactly": {"deviceClassName": "gpu.nvidia.com", "allocationMode": "Some"}})
        )
    assert caught.value.field == "spec.devices.requests[0].exactly.allocationMode"
