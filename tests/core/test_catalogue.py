"""The accelerator catalogue: names as each source spells them, instance types, resolution.

The NVML captures in the shared fixtures were taken on real H100 and H200 machines; they are
read as files here (not retyped) so the test fails if the catalogue drifts from what real
drivers report.
"""

from __future__ import annotations

import csv
import json
import xml.etree.ElementTree as ET
from dataclasses import replace
from pathlib import Path

import pytest

from exportgate.core.catalogue import builtin_catalogue, normalise_name
from exportgate.core.types import Operator
from tests.core.builders import (
    GFD,
    GKE_ACCELERATOR,
    INSTANCE_TYPE,
    KARPENTER_CATEGORY,
    KARPENTER_FAMILY,
    KARPENTER_GPU_NAME,
    gpu,
    hint,
)

# Copies of the captures in the shared reference material, so a clean clone runs this test.
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "gpu-identity"
CAPTURES = {"h100": "nvidia-h100-sxm", "h200": "nvidia-h200-sxm"}


def _nvml_identities(machine: str) -> list[tuple[str, str]]:
    """(name, PCI id) as each capture format of one machine reports them."""
    found = []
    nvml = json.loads((FIXTURES / f"nvml-{machine}.json").read_text())
    found.append((nvml["name"], nvml["pci_device_id"]))
    with (FIXTURES / f"nvidia-smi-query-{machine}.csv").open() as handle:
        row = next(csv.DictReader(handle, skipinitialspace=True))
        found.append((row["name"], row["pci.device_id"]))
    gpu_node = ET.parse(FIXTURES / f"nvidia-smi-q-{machine}.xml").getroot().find("gpu")
    assert gpu_node is not None
    found.append(
        (gpu_node.findtext("product_name", ""), gpu_node.findtext("pci/pci_device_id", ""))
    )
    return found


@pytest.mark.parametrize(("machine", "product"), sorted(CAPTURES.items()))
def test_real_nvml_captures_resolve_to_the_right_product(machine: str, product: str) -> None:
    catalogue = builtin_catalogue()
    identities = _nvml_identities(machine)
    assert len(identities) == 3
    for name, pci_id in identities:
        assert name, machine
        assert catalogue.lookup("exportgate.dev/product", name) == frozenset({product}), name
        assert catalogue.lookup("exportgate.dev/product", pci_id) == frozenset({product}), pci_id
        # GPU Feature Discovery puts the same NVML name in a label with spaces as dashes.
        assert catalogue.lookup(GFD, name.replace(" ", "-")) == frozenset({product})


ALIASES = [
    # (label key, value as that source spells it, products)
    (GFD, "NVIDIA-H100-80GB-HBM3", {"nvidia-h100-sxm"}),
    (GFD, "NVIDIA-H100-PCIe", {"nvidia-h100-pcie"}),
    (GFD, "NVIDIA-H200", {"nvidia-h200-sxm"}),
    (GFD, "NVIDIA-H20", {"nvidia-h20"}),
    (GFD, "Tesla-T4", {"nvidia-t4"}),
    (GFD, "NVIDIA-A10G", {"nvidia-a10"}),
    (GFD, "NVIDIA-A100-SXM4-80GB", {"nvidia-a100"}),
    (GKE_ACCELERATOR, "nvidia-tesla-a100", {"nvidia-a100"}),
    (GKE_ACCELERATOR, "nvidia-h100-80gb", {"nvidia-h100-sxm"}),
    (GKE_ACCELERATOR, "nvidia-l4", {"nvidia-l4"}),
    (KARPENTER_GPU_NAME, "h100", {"nvidia-h100-sxm", "nvidia-h100-pcie"}),
    (KARPENTER_GPU_NAME, "a100", {"nvidia-a100"}),
    ("amd.com/gpu.product-name", "AMD Instinct MI250X", {"amd-mi250x"}),
    ("exportgate.dev/product", "nvidia-h20", {"nvidia-h20"}),
]


@pytest.mark.parametrize(("key", "value", "products"), ALIASES, ids=[a[1] for a in ALIASES])
def test_aliases_as_each_source_spells_them(key: str, value: str, products: set[str]) -> None:
    assert builtin_catalogue().lookup(key, value) == frozenset(products)


PCI_DEVICE = "exportgate.dev/pci-device"

PCI_DEVICES = [
    # (value as an adapter reads a VM's device, products; None: exportgate cannot identify it)
    ("4318:7864", {"nvidia-t4"}),  # CAPV docs/gpu-pci.md: 0x10de:0x1eb8 in decimal
    ("0x10de:0x1eb8", {"nvidia-t4"}),
    ("0x10DE:0x1EB8", {"nvidia-t4"}),
    ("4318:9008", {"nvidia-h100-sxm"}),  # 0x2330
    ("4318:8373", {"nvidia-a100"}),  # 0x20b5, the A100 80GB PCIe
    ("4318:1234", None),  # an NVIDIA device id the catalogue does not list
    ("4098:7864", None),  # AMD's vendor id (0x1002) with the T4's device id: not a T4
    ("5555:4119", None),  # 0x15b3:0x1017, a Mellanox ConnectX-5: a device, not proof of none
    ("1002:7864", None),  # decimal 1002 is 0x3ea, not AMD's 0x1002
    ("10de:1eb8", None),  # hexadecimal needs 0x: bare digits are decimal, so this is no id
    ("99999:7864", None),  # past 16 bits
    ("4318:", None),  # CAPV's webhook wants both ids; a part left out names nothing
    (":7864", None),
    # AMD Instinct, vendor 0x1002 = 4098 (PCI ID Repository, accelerators.yaml)
    ("4098:29857", {"amd-mi300x"}),  # 0x74a1, "Instinct MI300X"
    ("0x1002:0x74b5", {"amd-mi300x"}),  # the MI300X's SR-IOV virtual function
    ("0x1002:0x74a5", {"amd-mi300x"}),  # MI325X, catalogued with the MI300X
    ("4098:29704", {"amd-mi250x"}),  # 0x7408, "Instinct MI250X"
    ("0x1002:0x74a2", {"amd-mi308x"}),
    ("0x1002:0x75a0", {"amd-mi350x"}),
    ("0x1002:0x75a3", {"amd-mi355x"}),
    ("4098:29708", None),  # 0x740c, "Instinct MI250X/MI250": either, and no MI250 entry
    ("4098:29711", None),  # 0x740f, the MI210: not in the catalogue
    ("4098:29856", None),  # 0x74a0, the MI300A: not in the catalogue
    ("4098:29865", None),  # 0x74a9, "MI300X HF": figures not published apart
    ("4098:1234", None),  # an AMD device id the catalogue does not list
    ("4318:29857", None),  # the MI300X's device id under NVIDIA's vendor id
    # NVIDIA vGPU types by board (NVIDIA's vGPU type tables, accelerators.yaml `vgpu`)
    ("grid_t4-1a", {"nvidia-t4"}),  # CAPV docs/gpu-vgpu.md
    ("grid_t4-16q", {"nvidia-t4"}),
    ("GRID T4-1Q", {"nvidia-t4"}),  # KubeVirt's mediated device name
    ("grid_v100d-4c", {"nvidia-v100"}),  # CAPV docs/gpu-vgpu.md: V100 PCIe 32GB
    ("grid_v100dx-32q", {"nvidia-v100"}),  # V100 SXM2 32GB
    ("nvidia_h100xm-80c", {"nvidia-h100-sxm"}),  # H100 SXM5 80GB
    ("nvidia_h100xm-7-80c", {"nvidia-h100-sxm"}),  # its MIG-backed type
    ("nvidia_h100-80c", {"nvidia-h100-pcie"}),  # board H100 is the PCIe 80GB
    ("nvidia_h100l-94c", {"nvidia-h100-nvl"}),
    ("nvidia_h200x-141c", {"nvidia-h200-sxm"}),
    ("nvidia_h200-141c", {"nvidia-h200-nvl"}),  # board H200 is the NVL, not the SXM part
    ("nvidia_h800xm-80c", {"nvidia-h800"}),
    ("nvidia_h800-80c", {"nvidia-h800-pcie"}),
    ("nvidia_h20-96c", {"nvidia-h20"}),
    ("grid_a100-3-20c", {"nvidia-a100"}),  # MIG-backed: <board>-<slices>-<GB><series>
    ("grid_a100d-80c", {"nvidia-a100"}),
    ("grid_a100dx-1-10cme", {"nvidia-a100"}),
    ("grid_a100x-40c", {"nvidia-a100"}),
    ("grid_a800dx-80c", {"nvidia-a800"}),
    ("nvidia_l40s-48q", {"nvidia-l40s"}),
    ("nvidia_l4-24q", {"nvidia-l4"}),
    ("grid_p100c-12q", {"nvidia-p100"}),
    ("nvidia_h100xl-94c", None),  # H100 SXM5 94GB: another part than the catalogued SXM
    ("nvidia_h100xs-64c", None),  # H100 SXM5 64GB
    ("nvidia_h20x-141c", None),  # H20 141GB: another part than the catalogued 96GB H20
    ("nvidia_h800l-94c", None),  # H800 NVL: not in the catalogue
    ("grid_a40-48q", None),  # A40: not in the catalogue
    ("nvidia_l20-48c", None),
    ("nvidia_b200x-180c", None),  # a board nobody has listed
    ("grid_tesla-t4-1q", None),  # not a vGPU type's shape
    ("t4-1q", None),  # no hypervisor prefix
    ("grid_mi300x-192c", None),  # vGPU types are NVIDIA's: an AMD alias is no board
    ("nvidia_233010de-80c", None),  # board table only: no PCI or "nvidia-" fallbacks
    ("grid_a10g-24q", None),  # another alias (Karpenter's a10g) is no board: only the table
    ("t4", None),
]


@pytest.mark.parametrize(("value", "products"), PCI_DEVICES, ids=[p[0] for p in PCI_DEVICES])
def test_a_vm_device_is_read_by_pci_id_or_vgpu_board(value: str, products: set[str] | None) -> None:
    found = builtin_catalogue().lookup(PCI_DEVICE, value)
    assert found == (frozenset(products) if products is not None else None)


def test_vgpu_boards_are_nvidia_boards_of_one_product_each() -> None:
    # A board names one physical GPU: listed twice, it would name two products; listed under
    # another vendor's product, it would never be read (vGPU is NVIDIA's).
    owners: dict[str, list[str]] = {}
    for product in builtin_catalogue().products.values():
        for board in product.exact_aliases["vgpu"]:
            assert product.vendor == "nvidia", (product.id, board)
            assert board == board.lower() and "-" not in board, board  # as in a type's name
            owners.setdefault(board, []).append(product.id)
    assert {board: ids for board, ids in owners.items() if len(ids) > 1} == {}
    assert owners["v100d"] == ["nvidia-v100"] and owners["h100xm"] == ["nvidia-h100-sxm"]


def test_vgpu_boards_and_pci_ids_are_no_label_values() -> None:
    catalogue = builtin_catalogue()
    # A board is read only from a VM's device: as a label value it names nothing...
    assert catalogue.lookup(GFD, "h100xm") is None
    # ...and the board H200 (the NVL) does not widen the label H200 (the SXM part).
    assert catalogue.lookup(KARPENTER_GPU_NAME, "h200") == frozenset({"nvidia-h200-sxm"})
    # A remedy names a label, not a PCI id, for a product that lists PCI ids only after it.
    assert catalogue.pin_label("amd-mi300x") == "MI300X"


def test_a_vm_device_value_longer_than_a_label_is_not_parsed() -> None:
    assert builtin_catalogue().lookup(PCI_DEVICE, "4318:" + "0" * 60 + "7864") is None


def test_combined_nvml_pci_ids_are_read_with_their_vendor() -> None:
    catalogue = builtin_catalogue()
    assert catalogue.lookup("exportgate.dev/product", "0x233010DE") == {"nvidia-h100-sxm"}
    # The H100's device id under AMD's vendor id is no H100 (nor anything the catalogue lists).
    assert catalogue.lookup("exportgate.dev/product", "0x23301002") is None


def test_an_unidentified_vm_device_is_unpinned_and_says_so() -> None:
    catalogue = builtin_catalogue()
    request = gpu(hint(PCI_DEVICE, "4318:1234"), resource="nodepool")
    resolved = catalogue.resolve(replace(request, source="spec.pciDevices[0]"))
    assert not resolved.pinned and catalogue.unknown_id in resolved.candidates
    assert "the VM device at spec.pciDevices[0] is 4318:1234, not a PCI" in resolved.note
    pinned = catalogue.resolve(gpu(hint(PCI_DEVICE, "4318:7864"), resource="nodepool"))
    assert pinned.pinned and pinned.candidates == ("nvidia-t4",)


INSTANCE_TYPES = [
    # (instance type, product, count): AWS, GCP, Azure
    ("p5.48xlarge", "nvidia-h100-sxm", 8),
    ("p4d.24xlarge", "nvidia-a100", 8),
    ("g4dn.xlarge", "nvidia-t4", 1),
    ("a3-highgpu-8g", "nvidia-h100-sxm", 8),
    ("g2-standard-4", "nvidia-l4", 1),
    ("Standard_ND96isr_H100_v5", "nvidia-h100-sxm", 8),
    ("Standard_NC4as_T4_v3", "nvidia-t4", 1),
]


@pytest.mark.parametrize(
    ("name", "product", "count"), INSTANCE_TYPES, ids=[i[0] for i in INSTANCE_TYPES]
)
def test_cloud_instance_types_map_to_product_and_count(name: str, product: str, count: int) -> None:
    catalogue = builtin_catalogue()
    assert catalogue.instance_type(name) == (product, count)
    assert catalogue.lookup(INSTANCE_TYPE, name) == frozenset({product})


@pytest.mark.parametrize("name", ["m5.large", "n2-standard-8", "Standard_D4s_v5"])
def test_instance_types_of_a_known_cloud_without_accelerators_name_none(name: str) -> None:
    assert builtin_catalogue().lookup(INSTANCE_TYPE, name) == frozenset()


@pytest.mark.parametrize("name", ["Standard_NC999_v9", "dgx-h100"])
def test_unknown_instance_types_are_unknown_not_empty(name: str) -> None:
    """An N-series size we do not list, or a name no cloud uses, could carry anything."""
    assert builtin_catalogue().lookup(INSTANCE_TYPE, name) is None


@pytest.mark.parametrize("name", ["m5.large", "on-prem-gpu-node"])
def test_gpu_request_whose_clues_rule_out_every_accelerator_is_unpinned(name: str) -> None:
    """A pod asking for nvidia.com/gpu uses a GPU whatever its node labels claim.

    "on-prem-gpu-node" follows the GCP naming pattern of a family without accelerators; taking
    that at its word would let a GPU request through unguarded.
    """
    catalogue = builtin_catalogue()
    resolved = catalogue.resolve(gpu(hint(INSTANCE_TYPE, name)))
    assert set(resolved.candidates) == catalogue.by_vendor("nvidia")
    assert resolved.pinned is False


def test_node_pool_of_instance_types_without_accelerators_has_no_candidates() -> None:
    request = gpu(hint(INSTANCE_TYPE, "m5.large"), resource="nodepool")
    resolved = builtin_catalogue().resolve(request)
    assert resolved.candidates == ()


def test_normalise_name_folds_case_and_punctuation() -> None:
    assert normalise_name("NVIDIA H100 80GB HBM3") == "nvidia-h100-80gb-hbm3"
    assert normalise_name("  Tesla_T4 ") == "tesla-t4"


RESOLUTION = [
    # (description, request, candidates, pinned)
    ("pinned by GFD", gpu(hint(GFD, "NVIDIA-H100-80GB-HBM3")), {"nvidia-h100-sxm"}, True),
    (
        "In list means any of",
        gpu(hint(GFD, "Tesla-T4", "NVIDIA-H100-80GB-HBM3")),
        {"nvidia-t4", "nvidia-h100-sxm"},
        True,
    ),
    (
        "hints combine with AND",
        gpu(hint(GFD, "Tesla-T4", "NVIDIA-H100-80GB-HBM3"), hint(INSTANCE_TYPE, "g4dn.xlarge")),
        {"nvidia-t4"},
        True,
    ),
    (
        "NotIn alone pins nothing",
        gpu(hint(GFD, "Tesla-T4", operator=Operator.NOT_IN), resource="amd.com/gpu"),
        # Every AMD product (MI308X, MI350X and MI355X were added from regulation-2026.md s4):
        # NotIn also matches nodes without the label, which could carry any of them.
        {"amd-mi250x", "amd-mi300x", "amd-mi308x", "amd-mi350x", "amd-mi355x"},
        False,
    ),
    (
        "NotIn removes values from an In on the same label",
        gpu(
            hint(GFD, "Tesla-T4", "NVIDIA-H100-80GB-HBM3"),
            hint(GFD, "NVIDIA-H100-80GB-HBM3", operator=Operator.NOT_IN),
        ),
        {"nvidia-t4"},
        True,
    ),
    ("unknown label value widens", gpu(hint(GFD, "NVIDIA-Future-X1")), None, False),
    ("unrelated label is ignored", gpu(hint("topology.kubernetes.io/zone", "a")), None, False),
    (
        "karpenter family",
        gpu(hint(KARPENTER_FAMILY, "g6e"), resource="nodepool"),
        {"nvidia-l40s"},
        True,
    ),
]


@pytest.mark.parametrize(
    ("request_", "candidates", "pinned"),
    [r[1:] for r in RESOLUTION],
    ids=[r[0] for r in RESOLUTION],
)
def test_resolution(request_: object, candidates: set[str] | None, pinned: bool) -> None:
    catalogue = builtin_catalogue()
    resolved = catalogue.resolve(request_)  # type: ignore[arg-type]
    if candidates is None:
        candidates = set(catalogue.by_vendor("nvidia"))
    assert set(resolved.candidates) == candidates
    assert resolved.pinned is pinned


def test_unpinned_request_for_an_unknown_vendor_is_the_unknown_product() -> None:
    catalogue = builtin_catalogue()
    resolved = catalogue.resolve(gpu(resource="example.com/npu"))
    assert catalogue.unknown_id in resolved.candidates
    assert resolved.pinned is False
    assert resolved.classifications[0] == "3A090.a"  # most restricted possible


def test_mig_resources_stand_for_mig_capable_products_only() -> None:
    resolved = builtin_catalogue().resolve(gpu(resource="nvidia.com/mig-1g.10gb"))
    assert "nvidia-a100" in resolved.candidates
    assert "nvidia-t4" not in resolved.candidates


def test_instance_type_hint_makes_it_a_system_4a090() -> None:
    resolved = builtin_catalogue().resolve(gpu(hint(INSTANCE_TYPE, "p5.48xlarge")))
    assert resolved.classifications == ("3A090.a", "4A090.a")


def test_accelerator_category_we_hold_no_data_on_is_unknown() -> None:
    catalogue = builtin_catalogue()
    resolved = catalogue.resolve(gpu(hint(KARPENTER_CATEGORY, "p"), resource="nodepool"))
    assert "nvidia-h100-sxm" in resolved.candidates
    # The category also holds families the table does not list yet (p6e-gb200): fail closed.
    assert catalogue.unknown_id in resolved.candidates


def test_most_restrictive_classification_first() -> None:
    catalogue = builtin_catalogue()
    assert catalogue.classifications(["nvidia-t4", "nvidia-a30", "nvidia-h100-sxm"]) == (
        "3A090.a",
        "3A090.b",
        "outside-3A090",
    )


def test_every_product_has_a_pin_label_and_a_unique_id() -> None:
    catalogue = builtin_catalogue()
    for product in catalogue.products.values():
        assert catalogue.pin_label(product.id), product.id
