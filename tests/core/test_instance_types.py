"""instance-types.yaml: the OCI shapes, the A4X Max series (red-team findings F3 and F9) and
the Azure ND GB200 v6 size (fact audit of 2026-12-01).

OCI GPU shapes resolve to their product and count; a BM.GPU / VM.GPU shape the table does not
list is an unknown accelerator, never "none"; CPU shapes carry none. GCP's a4x-maxgpu machine
types are GB300, not the GB200 of the a4x series they share a prefix with.
"""

from __future__ import annotations

import pytest

from exportgate.core.catalogue import builtin_catalogue

INSTANCE_TYPE = "node.kubernetes.io/instance-type"

OCI_SHAPES = [
    # (shape, product, count): Oracle's Compute Shapes page, GPU shapes
    ("BM.GPU.H100.8", "nvidia-h100-sxm", 8),
    ("BM.GPU.H200.8", "nvidia-h200-sxm", 8),
    ("BM.GPU.A100-v2.8", "nvidia-a100", 8),
    ("BM.GPU4.8", "nvidia-a100", 8),
    ("BM.GPU.A10.4", "nvidia-a10", 4),
    ("VM.GPU.A10.1", "nvidia-a10", 1),
    ("VM.GPU.A10.2", "nvidia-a10", 2),
    ("BM.GPU.L40S.4", "nvidia-l40s", 4),
    ("BM.GPU.MI300X.8", "amd-mi300x", 8),
    ("BM.GPU.B200.8", "nvidia-b200", 8),
    ("BM.GPU.GB200.4", "nvidia-gb200", 4),
    ("BM.GPU.GB300.4", "nvidia-gb300", 4),
    ("BM.GPU3.8", "nvidia-v100", 8),
    ("VM.GPU3.1", "nvidia-v100", 1),
    ("BM.GPU2.2", "nvidia-p100", 2),
]


@pytest.mark.parametrize(("shape", "product", "count"), OCI_SHAPES, ids=[s[0] for s in OCI_SHAPES])
def test_oci_gpu_shapes_map_to_product_and_count(shape: str, product: str, count: int) -> None:
    catalogue = builtin_catalogue()
    assert catalogue.instance_type(shape) == (product, count)
    assert catalogue.lookup(INSTANCE_TYPE, shape) == frozenset({product})


@pytest.mark.parametrize(
    "shape",
    # A GPU generation the table does not list yet, a variant of a listed one, a new VM GPU
    # shape, and a shape spelt in lower case (OCI writes shapes as in the table).
    ["BM.GPU.B300.8", "BM.GPU.L40S-NC.4", "BM.GPU.MI355X.8", "VM.GPU.A100.1", "bm.gpu.h100.8"],
)
def test_oci_gpu_shapes_the_table_does_not_list_are_unknown(shape: str) -> None:
    assert builtin_catalogue().lookup(INSTANCE_TYPE, shape) is None


@pytest.mark.parametrize(
    "shape",
    [
        "VM.Standard.E4.Flex",
        "VM.Standard.E5.Flex",
        "VM.Standard.A1.Flex",
        "VM.Standard3.Flex",
        "VM.Standard2.1",
        "BM.Standard.E5.192",
        "BM.DenseIO.E4.128",
        "VM.Optimized3.Flex",
        "VM.Standard.E2.1.Micro",
    ],
)
def test_oci_cpu_shapes_carry_no_accelerator(shape: str) -> None:
    assert builtin_catalogue().lookup(INSTANCE_TYPE, shape) == frozenset()


@pytest.mark.parametrize(
    ("name", "product"),
    [
        ("a4x-maxgpu-4g-metal", "nvidia-gb300"),
        ("a4x-maxgpu-4g-metal-nolssd", "nvidia-gb300"),  # a variant still reads as A4X Max
        ("a4x-highgpu-4g", "nvidia-gb200"),
        ("a4x-highgpu-4g-nolssd", "nvidia-gb200"),
        ("a3-highgpu-8g", "nvidia-h100-sxm"),
    ],
)
def test_a4x_max_is_gb300_and_a4x_is_gb200(name: str, product: str) -> None:
    assert builtin_catalogue().lookup(INSTANCE_TYPE, name) == frozenset({product})


def test_a4x_max_machine_type_has_four_gpus() -> None:
    assert builtin_catalogue().instance_type("a4x-maxgpu-4g-metal") == ("nvidia-gb300", 4)


@pytest.mark.parametrize("name", ["a3highgpu-8g", "a4xmaxgpu-4g"])
def test_gcp_pattern_still_refuses_malformed_names(name: str) -> None:
    """The A4X Max reading adds no way for a malformed name to read as "no accelerator"."""
    assert builtin_catalogue().lookup(INSTANCE_TYPE, name) is None


def test_azure_nd_gb200_v6_is_four_gb200() -> None:
    """regulation-2026.md s4 names the Azure Blackwell family Standard_ND*_GB200_v6; its one
    size (ND GB200 v6 series page: four Blackwell GPUs per VM) was unknown to the table."""
    catalogue = builtin_catalogue()
    assert catalogue.instance_type("Standard_ND128isr_NDR_GB200_v6") == ("nvidia-gb200", 4)
    assert catalogue.lookup(INSTANCE_TYPE, "Standard_ND128isr_NDR_GB200_v6") == frozenset(
        {"nvidia-gb200"}
    )
