"""The accelerator catalogue: products, the names sources give them, and cloud instance types.

`resolve` turns an `AcceleratorRequest` (a resource plus node-label clues) into the set of
products it could land on. Unknown clues widen the set rather than narrow it: a request whose
product cannot be determined is decided as the most restricted product it could be.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from exportgate.core.classification import (
    Classification,
    Performance,
    Specs,
    classify,
    restrictiveness,
)
from exportgate.core.clouds import parse_cloud
from exportgate.core.data import load_data
from exportgate.core.decision import ResolvedAccelerator
from exportgate.core.ignored_selectors import ignored_selector_note
from exportgate.core.limits import MAX_HINT_VALUE_CHARS
from exportgate.core.operator_names import operator_defined_note
from exportgate.core.types import AcceleratorRequest, Operator, ProductHint

# Which node labels carry which kind of clue.
GFD_PRODUCT_KEY = "nvidia.com/gpu.product"
PRODUCT_NAME_KEYS = frozenset(
    {
        GFD_PRODUCT_KEY,
        "cloud.google.com/gke-accelerator",
        "cloud.google.com/gke-tpu-accelerator",
        "karpenter.k8s.aws/instance-gpu-name",
        "amd.com/gpu.product-name",
        "exportgate.dev/product",
        "exportgate.dev/accelerator-product",  # written on nodes by the exportgate operator
    }
)
INSTANCE_TYPE_KEYS = frozenset(
    {
        "node.kubernetes.io/instance-type",
        "beta.kubernetes.io/instance-type",
        "nvidia.com/gpu.machine",
    }
)
FAMILY_KEYS = frozenset({"karpenter.k8s.aws/instance-family"})
CATEGORY_KEYS = frozenset({"karpenter.k8s.aws/instance-category"})
MANUFACTURER_KEYS = frozenset(
    {
        "karpenter.k8s.aws/instance-gpu-manufacturer",
        "kubernetes.azure.com/accelerator",
    }
)
ARCHITECTURE_KEYS = frozenset({"nvidia.com/gpu.family"})
CLASS_KEYS = frozenset({"exportgate.dev/accelerator-class"})
PCI_DEVICE_KEY = "exportgate.dev/pci-device"
"""The device a virtual machine is given (hint meaning ``pci-device``), as adapters read it from
a VM's device fields (CAPV ``pciDevices``): a PCI ``vendor:device`` id, each part decimal
(``4318:7864``, as vSphere's API writes them) or hexadecimal with ``0x`` (``0x10de:0x1eb8``), or
an NVIDIA vGPU type as the hypervisor names it (``grid_t4-1q``, ``nvidia_l40s-48q``). See
`Catalogue._by_pci_device`."""
PCI_DEVICE_KEYS = frozenset({PCI_DEVICE_KEY})
KNOWN_KEYS = (
    PRODUCT_NAME_KEYS
    | INSTANCE_TYPE_KEYS
    | FAMILY_KEYS
    | CATEGORY_KEYS
    | MANUFACTURER_KEYS
    | ARCHITECTURE_KEYS
    | CLASS_KEYS
    | PCI_DEVICE_KEYS
)
# Clues that say the accelerator sits in a whole system (server / instance): 4A090 applies.
PROVISIONED_BY_KEY = "exportgate.dev/provisioned-by"
"""Pseudo-key of a hint naming a feature that provisions nodes on demand for workloads this
exportgate does not see (GKE Autopilot, AKS node auto-provisioning, EKS Auto Mode): an adapter's
``provisions``. It narrows nothing; it says why the pool's hardware cannot be known."""
SYSTEM_KEYS = INSTANCE_TYPE_KEYS | FAMILY_KEYS | CATEGORY_KEYS

_NON_ALNUM = re.compile(r"[^a-z0-9]+")
# Suffixes GPU Feature Discovery adds to a product value on shared and MIG-partitioned GPUs.
_GFD_SHARED = "-SHARED"
_GFD_MIG = re.compile(r"-MIG-[0-9][0-9a-z.+]*$")
UNIDENTIFIED_NOTE = (
    "the node label value {label} is not one exportgate can identify, so it could be any "
    "accelerator; pin a known product, or ask your platform team to add the value"
)
UNIDENTIFIED_DEVICE_NOTE = (
    "the VM device{where} is {value}, not a PCI vendor:device id or NVIDIA vGPU type "
    "exportgate can identify, so it could be any accelerator; ask your platform team to add its "
    "PCI device id or vGPU board to the accelerator catalogue"
)
PRODUCT_PSEUDO_KEY = "exportgate.dev/product"
"""The hint key of a product an adapter read from a name (a KubeAI profile's, a DRA
selector's productName), not from a node label."""
UNIDENTIFIED_PRODUCT_NOTE = (
    "the product {value!r} named{where} is not one exportgate can identify, so it could be any "
    "accelerator; name a known product, or ask your platform team to add the name"
)
PROVISIONED_NOTE = (
    "it turns on {feature}, which creates nodes, accelerators included, for whatever the "
    "workloads of the cluster it builds ask, and those workloads are not admitted by this "
    "exportgate, so the capacity could be any accelerator; turn it off and give the cluster "
    "node pools that name their instance types"
)
CONTRADICTION_NOTE = (
    "its placement constraints contradict each other, so exportgate cannot tell which nodes "
    "it means; remove the requirements that exclude each other"
)
_Clue = tuple[tuple[str, ...] | None, frozenset[str] | None, str]
"""What one label's constraints say (`Catalogue._clue`): the values a node's label may hold (None:
any, no In; empty: none), the products they name (None: a value is unknown) and that value."""

# NVML and nvidia-smi print a PCI id as device and vendor in one word: 0x233010DE.
_PCI_COMBINED = re.compile(r"(0x)?(?P<device>[0-9a-f]{4})(?P<vendor>[0-9a-f]{4})")
# One part of a `PCI_DEVICE_KEY` id: hexadecimal only with 0x, so that 1002 is never both AMD's
# vendor id (0x1002) and the decimal 1002; a PCI id has 16 bits (checked after parsing).
_PCI_ID_PART = r"0x[0-9a-f]{1,4}|[0-9]{1,5}"
_PCI_ID = re.compile(rf"(?P<vendor>{_PCI_ID_PART}):(?P<device>{_PCI_ID_PART})")
# An NVIDIA vGPU type as hypervisors name it: "grid_" or "nvidia_" and the type's name in lower
# case, <board>-[<MIG slices>-]<frame buffer GB><series>: grid_t4-1q, grid_a100-3-20c,
# nvidia_h100xm-80c (VMware ESXi; KubeVirt's mediated devices write "GRID T4-1Q"). The board
# names the physical GPU: PCIe and SXM boards, memory sizes differ by a suffix (a100, a100d,
# h100, h100xm), so a board names a product only where the catalogue lists it under that
# product's `vgpu` aliases (accelerators.yaml, which cites NVIDIA's vGPU type tables), never
# because it looks like another alias. vSphere's spelling: CAPV docs/gpu-vgpu.md (grid_t4-1a,
# grid_v100d-4c).
_VGPU_TYPE = re.compile(r"(?:grid|nvidia)[_ ](?P<board>[a-z0-9]+)-(?:[0-9]+-)?[0-9]+[a-z]+[0-9]*")
_VGPU_VENDOR = "nvidia"  # vGPU is NVIDIA's: a vGPU type names one of its boards


def normalise_name(value: str) -> str:
    """Lower-case; runs of non-alphanumerics become one dash.

    'NVIDIA H100 80GB HBM3' -> 'nvidia-h100-80gb-hbm3'.
    """
    return _NON_ALNUM.sub("-", value.lower()).strip("-")


@dataclass(frozen=True, slots=True)
class Product:
    id: str
    vendor: str
    name: str
    architecture: str
    specs: Specs
    mig_capable: bool
    citation: str
    aliases: tuple[str, ...]
    classification: Classification
    memory_bandwidth_gbs: float | None = None  # peak DRAM bandwidth, GB/s
    interconnect_gbs: float | None = None  # peak chip-to-chip bandwidth, GB/s
    bandwidth_citation: str = ""
    confidence: str = "H"  # H / M / L, as in the reference sheet
    exact_aliases: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    """Alias group (gfd, nvml, gke, karpenter, other, pciDeviceId, vgpu) -> spellings exactly
    as that source writes them. `vgpu` (NVIDIA vGPU boards) is in no other alias table: a board
    is read only from a VM's device, `Catalogue._by_pci_device`."""

    @property
    def eccn(self) -> str:
        return self.classification.eccn


class Catalogue:
    """Immutable after construction; safe to share between threads."""

    def __init__(self, accelerators: Mapping[str, Any], instances: Mapping[str, Any]) -> None:
        self.version = f"{accelerators['version']}+{instances['version']}"
        self.products: dict[str, Product] = {}
        self._aliases: dict[str, set[str]] = {}
        # Products by normalised architecture and by export class, built once: a lookup must
        # not walk every product (it runs for every value of every request's clues).
        architectures: dict[str, set[str]] = {}
        eccns: dict[str, set[str]] = {}
        for entry in accelerators["products"]:
            product = _product(entry)
            self.products[product.id] = product
            for alias in (product.id, *product.aliases):
                self._aliases.setdefault(normalise_name(alias), set()).add(product.id)
            if product.architecture:  # "" (none given) must not match a value of "-"
                architectures.setdefault(product.architecture, set()).add(product.id)
            eccns.setdefault(product.eccn, set()).add(product.id)
        self._architectures = {k: frozenset(v) for k, v in architectures.items()}
        self._eccns = {k: frozenset(v) for k, v in eccns.items()}
        self._vendor_resources = {
            vendor: tuple(spec.get("resources", ()))
            for vendor, spec in accelerators["vendors"].items()
        }
        # PCI ids: a device id is unique only within its vendor, so products are found by both.
        self._pci_vendors = {
            int(str(spec["pciVendorId"]), 16): vendor
            for vendor, spec in accelerators["vendors"].items()
            if spec.get("pciVendorId")
        }
        pci_devices: dict[tuple[str, int], set[str]] = {}
        for product in self.products.values():
            for device in product.exact_aliases["pciDeviceId"]:
                pci_devices.setdefault((product.vendor, int(device, 16)), set()).add(product.id)
        self._pci_devices = {k: frozenset(v) for k, v in pci_devices.items()}
        # vGPU boards: NVIDIA's (vGPU is its technology), each read only from its own table.
        vgpu_boards: dict[str, set[str]] = {}
        for product in self.products.values():
            if product.vendor != _VGPU_VENDOR:
                continue
            for board in product.exact_aliases["vgpu"]:
                vgpu_boards.setdefault(normalise_name(board), set()).add(product.id)
        self._vgpu_boards = {k: frozenset(v) for k, v in vgpu_boards.items()}
        self._manufacturers: dict[str, str] = {}
        for vendor, spec in accelerators["vendors"].items():
            for name in (vendor, *spec.get("manufacturer", ())):
                self._manufacturers[normalise_name(name)] = vendor
        unknown = accelerators["unknownProduct"]
        self.unknown_id = str(unknown["id"])
        self.unknown_classification = str(unknown["assumeClassification"])
        # The class the operator also writes on nodes whose accelerator hint it cannot identify
        # (an unknown instance type): on a node label it means "could be anything".
        self.indeterminate_classification = str(load_data("classification.yaml")["indeterminate"])
        self.clouds = {name: parse_cloud(spec) for name, spec in instances["clouds"].items()}

    # --- lookups -------------------------------------------------------------------------

    def by_vendor(self, vendor: str) -> frozenset[str]:
        return frozenset(p.id for p in self.products.values() if p.vendor == vendor)

    def all_products(self) -> frozenset[str]:
        return frozenset(self.products)

    def base_for_resource(self, resource: str) -> frozenset[str]:
        """Products a resource name can stand for before any clue narrows it."""
        if resource == "nodepool":
            # A pool may provision families the table does not list yet: unknown is possible.
            return self.all_products() | {self.unknown_id}
        if resource.startswith("nvidia.com/mig-") or resource == "mig.nvidia.com":
            return frozenset(p.id for p in self.products.values() if p.mig_capable)
        for vendor, patterns in self._vendor_resources.items():
            if any(fnmatch.fnmatchcase(resource, pattern) for pattern in patterns):
                products = self.by_vendor(vendor)
                return products or frozenset({self.unknown_id})
        return self.all_products() | {self.unknown_id}

    def lookup(self, key: str, value: str) -> frozenset[str] | None:
        """Products a label value names; empty when it names no accelerator; None if unknown.

        A value longer than any node label or DRA attribute can hold (`MAX_HINT_VALUE_CHARS`)
        names no node: it is unknown without being normalised or matched."""
        if len(value) > MAX_HINT_VALUE_CHARS:
            return None
        if key in PRODUCT_NAME_KEYS:
            found = self._by_alias(value)
            if found is None and key == GFD_PRODUCT_KEY:
                found = self._by_gfd_variant(value)
            return found
        if key in INSTANCE_TYPE_KEYS:
            found = self._by_instance_type(value)
            return found if found is not None else self._by_alias(value)
        if key in FAMILY_KEYS:
            return self._by_family(value)
        if key in CATEGORY_KEYS:
            return self._by_category(value)
        if key in MANUFACTURER_KEYS:
            vendor = self._manufacturers.get(normalise_name(value))
            if vendor is None:
                return self._by_alias(value)
            return self.by_vendor(vendor) or frozenset({self.unknown_id})
        if key in ARCHITECTURE_KEYS:
            return self._architectures.get(normalise_name(value))
        if key in CLASS_KEYS:
            if value == self.indeterminate_classification:
                # Nodes carrying it include those the operator could not identify at all
                # (operator/exportgate_operator/nodes.py), so it names no set of products.
                return None
            return self._eccns.get(value, frozenset())
        if key in PCI_DEVICE_KEYS:
            return self._by_pci_device(value)
        return None

    def instance_type(self, name: str) -> tuple[str, int] | None:
        for cloud in self.clouds.values():
            if name in cloud.types:
                return cloud.types[name]
        return None

    def _by_alias(self, value: str) -> frozenset[str] | None:
        key = normalise_name(value)
        found = self._aliases.get(key)
        if found is None and key.startswith("nvidia-"):
            found = self._aliases.get(key.removeprefix("nvidia-"))
        if found is None:
            # NVML and nvidia-smi report the PCI id as device and vendor in one word
            # ("0x233010DE"); the catalogue lists the device part ("0x2330") of its vendor.
            combined = _PCI_COMBINED.fullmatch(key)
            if combined:
                return self._by_pci_id(
                    int(combined.group("vendor"), 16), int(combined.group("device"), 16)
                )
        return frozenset(found) if found else None

    def _by_pci_device(self, value: str) -> frozenset[str] | None:
        """What a `PCI_DEVICE_KEY` value names: the products with that PCI vendor and device id,
        or the product that lists the board of that NVIDIA vGPU type (aliases ``vgpu``); None
        otherwise.

        Never "no accelerator": a device passed through to a VM is device access whatever it
        is, and the catalogue holds no list of devices that are not accelerators. A vendor
        without catalogued accelerators proves nothing either: NVIDIA's BlueField DPUs carry
        Mellanox's vendor id 0x15b3, like its NICs. The value is within
        `MAX_HINT_VALUE_CHARS` (`lookup`), so the patterns below run on a short string."""
        text = value.strip().lower()
        pci = _PCI_ID.fullmatch(text)
        if pci:
            return self._by_pci_id(_pci_part(pci.group("vendor")), _pci_part(pci.group("device")))
        vgpu = _VGPU_TYPE.fullmatch(text)
        if vgpu:
            # The board table only: no other alias, prefix or PCI fallback of _by_alias.
            return self._vgpu_boards.get(normalise_name(vgpu.group("board")))
        return None

    def _by_pci_id(self, vendor_id: int, device_id: int) -> frozenset[str] | None:
        """Products with PCI vendor `vendor_id` and device `device_id`; None when the vendor
        is none of the catalogue's or the device none of its products."""
        vendor = self._pci_vendors.get(vendor_id)
        if vendor is None:
            return None
        return self._pci_devices.get((vendor, device_id))

    def _by_instance_type(self, value: str) -> frozenset[str] | None:
        for cloud in self.clouds.values():
            if value in cloud.types:
                return frozenset({cloud.types[value][0]})
        for cloud in self.clouds.values():
            match = cloud.pattern.match(value)
            if not match:
                continue
            family = match.group("family")
            if family in cloud.families:
                return frozenset({cloud.families[family]})
            if cloud.accelerator_family_prefix is not None:
                # Azure: N-series sizes carry GPUs, but a size missing from the table is unknown.
                if family.upper().startswith(cloud.accelerator_family_prefix):
                    return None
                return frozenset()
            if cloud.plain_family_pattern and cloud.plain_family_pattern.match(family):
                return frozenset()  # a family the cloud documents as carrying no accelerator
        # Unknown, even when the name has a cloud's shape: other providers' and on-prem nodes'
        # instance-type labels (dgx.h100, h100-node, h100-80gb-sxm-ib.8x) look the same, and
        # reading one as "no accelerator" would let an In list hide it behind a T4 value.
        return None

    def _by_family(self, value: str) -> frozenset[str] | None:
        for cloud in self.clouds.values():
            if value in cloud.families:
                return frozenset({cloud.families[value]})
        for cloud in self.clouds.values():
            if cloud.accelerator_family_pattern and cloud.accelerator_family_pattern.match(value):
                return None  # named like an accelerator family, but not in the table
        # Karpenter families are AWS families; a well-formed one we do not list has no GPU.
        return frozenset() if re.fullmatch(r"[a-z][a-z0-9-]*", value) else None

    def _by_category(self, value: str) -> frozenset[str] | None:
        for cloud in self.clouds.values():
            if value in cloud.categories:
                # A category also holds families the table does not list yet (g5g, p6e-gb200).
                return cloud.categories[value] | {self.unknown_id}
            if value in cloud.accelerator_categories:
                return frozenset({self.unknown_id})  # an accelerator category we hold no data on
        for cloud in self.clouds.values():
            if value in cloud.plain_categories:
                return frozenset()  # a category of families without accelerators
        return None  # not a category we know ("P"): it could hold anything

    def _by_gfd_variant(self, value: str) -> frozenset[str] | None:
        """A GPU Feature Discovery product value with a sharing suffix, as its base product.

        GFD appends ``-SHARED`` on time-sliced or MPS-shared nodes and ``-MIG-<profile>`` under
        the single MIG strategy (``Tesla-T4-SHARED``, ``NVIDIA-A100-SXM4-40GB-MIG-1g.5gb``). The
        rest must be a product's exact GFD spelling; anything looser stays unknown.
        """
        base = value.removesuffix(_GFD_SHARED)
        base = _GFD_MIG.sub("", base)
        if base == value:
            return None
        found = frozenset(p.id for p in self.products.values() if base in p.exact_aliases["gfd"])
        return found or None

    # --- resolution ----------------------------------------------------------------------

    def resolve_all(self, requests: Iterable[AcceleratorRequest]) -> list[ResolvedAccelerator]:
        """`resolve` for each of one workload's requests, reading each label's values once.

        The requests of one workload share their placements (every resource of a pod meets
        the same node selectors), so without the memo each clue was looked up again for every
        request: one evaluation reads each label's constraints once."""
        memo: dict[tuple[ProductHint, ...], _Clue] = {}
        return [self.resolve(request, memo) for request in requests]

    def resolve(
        self, request: AcceleratorRequest, memo: dict[tuple[ProductHint, ...], _Clue] | None = None
    ) -> ResolvedAccelerator:
        """The products `request` could land on. `memo` (from `resolve_all`) keeps what each
        label's values name across the requests of one evaluation."""
        memo = {} if memo is None else memo
        base = self.base_for_resource(request.resource)
        candidates = set(base)
        narrowed = False
        names_no_accelerator = False  # a clue names only nodes without accelerators
        contradiction = False  # the constraints on one label exclude each other
        unidentified = ""  # why: the first value of an In that the catalogue cannot identify
        for key, hints in _by_key(request.hints):
            if key not in KNOWN_KEYS:
                continue
            clue = memo.get(hints)
            if clue is None:
                clue = memo[hints] = self._clue(key, hints)
            values, allowed, unknown = clue
            if values is None:
                continue  # no In: nodes without the label, or with values we do not hold, remain
            if not values:
                contradiction = True
                candidates.clear()
                continue
            if allowed is None:
                unidentified = unidentified or _unidentified_note(key, unknown, request.source)
                continue
            names_no_accelerator = names_no_accelerator or not allowed
            candidates &= allowed
            narrowed = True
        note = ""
        if not candidates and not names_no_accelerator:
            # Every clue names accelerator nodes, but no node satisfies them all (or one label
            # must hold values that exclude each other). That is a contradiction, or data that
            # disagrees with the cluster, never proof of no accelerator: decide it as unpinned.
            contradiction = True
        if contradiction:
            candidates, narrowed, note = set(base), False, CONTRADICTION_NOTE
        elif not candidates and request.resource != "nodepool":
            # The workload asks for an accelerator resource, so it will use one; clues that
            # rule out every accelerator (an instance type of a CPU family) are wrong, not proof
            # of no accelerator. Decide it as unpinned rather than letting it pass unguarded.
            candidates = set(base)
            narrowed = False
        pinned = narrowed and self.unknown_id not in candidates
        feature = _provisioned_by(request.hints)
        if feature and not pinned and not note:
            note = PROVISIONED_NOTE.format(feature=feature)  # why nothing could pin it
        if not pinned and not note:
            # A flavor or VM class of this cloud's operator: only the platform can name it.
            note = operator_defined_note(request.hints, request.source)
        if not pinned and not note:
            # Node selectors left out because the pod may be built without them: say which.
            note = ignored_selector_note(request.hints)
        if unidentified and candidates and not pinned and not note:
            note = unidentified  # why it is left unpinned
        ordered = tuple(sorted(candidates))
        system = request.resource == "nodepool" or any(h.key in SYSTEM_KEYS for h in request.hints)
        return ResolvedAccelerator(
            resource=request.resource,
            count=request.count,
            candidates=ordered,
            pinned=pinned,
            classifications=self.classifications(ordered, system=system),
            source=request.source,
            note=note,
        )

    def _clue(self, key: str, hints: tuple[ProductHint, ...]) -> _Clue:
        """What the constraints `hints` on label `key` say: (`required_values`, and unless
        that is None or empty, `_values_set` of them)."""
        values = required_values(hints)
        if not values:
            return values, None, ""
        return (values, *self._values_set(key, values))

    def _values_set(self, key: str, values: Iterable[str]) -> tuple[frozenset[str] | None, str]:
        """(products on nodes whose label `key` holds one of `values`, ""), or (None, the first
        value the catalogue cannot identify)."""
        found: set[str] = set()
        for value in values:
            named = self.lookup(key, value)
            if named is None:
                return None, value  # an unknown value could be anything: no narrowing
            found |= named
        return frozenset(found), ""

    def classifications(self, products: Iterable[str], *, system: bool = False) -> tuple[str, ...]:
        """Distinct export classes of `products` (4A090 too for systems), most restrictive first."""
        found: list[str] = []
        for product_id in products:
            for eccn in self.eccns(product_id, system=system):
                if eccn not in found:
                    found.append(eccn)
        return tuple(sorted(found, key=restrictiveness))

    def eccns(self, product_id: str, *, system: bool = False) -> tuple[str, ...]:
        if product_id == self.unknown_id:
            eccn = self.unknown_classification
            system_eccn = load_data("classification.yaml")["systems"].get(eccn)
        else:
            product = self.products[product_id]
            eccn = product.eccn
            system_eccn = product.classification.system_eccn
        if system and system_eccn:
            return (eccn, system_eccn)
        return (eccn,)

    def display_name(self, product_id: str) -> str:
        if product_id == self.unknown_id:
            return "an unidentified accelerator"
        return self.products[product_id].name

    def pin_label(self, product_id: str) -> str | None:
        """A GPU Feature Discovery label value that pins this product, for remedies."""
        product = self.products.get(product_id)
        if product is None:
            return None
        return product.aliases[0] if product.aliases else None


def _pci_part(text: str) -> int:
    """One part of a `_PCI_ID` match as a number: hexadecimal with 0x, decimal without. A
    decimal past 16 bits (``99999``) becomes -1, which no vendor or device has."""
    number = int(text, 16) if text.startswith("0x") else int(text)
    return number if number <= 0xFFFF else -1


def _unidentified_note(key: str, value: str, source: str) -> str:
    """Why a request is unpinned when the value `value` of hint `key` names nothing known."""
    if key in PCI_DEVICE_KEYS:  # not a node label: a device an adapter read from a VM's spec
        where = f" at {source}" if source else ""
        return UNIDENTIFIED_DEVICE_NOTE.format(where=where, value=_shown(value))
    if key == PRODUCT_PSEUDO_KEY:  # not a node label: a product an adapter read from a name
        where = f" at {source}" if source else ""
        return UNIDENTIFIED_PRODUCT_NOTE.format(where=where, value=_shown(value))
    return UNIDENTIFIED_NOTE.format(label=f"{key}={_shown(value)}")


def _provisioned_by(hints: Iterable[ProductHint]) -> str:
    """The feature a `PROVISIONED_BY_KEY` hint names, or ""."""
    for hint in hints:
        if hint.key == PROVISIONED_BY_KEY and hint.values:
            return _shown(hint.values[0])
    return ""


def _shown(value: str) -> str:
    """A label value as a message shows it: one past `MAX_HINT_VALUE_CHARS` is not echoed."""
    if len(value) <= MAX_HINT_VALUE_CHARS:
        return value
    return f"{value[:MAX_HINT_VALUE_CHARS]}... ({len(value)} characters, longer than a label value)"


def _by_key(hints: Iterable[ProductHint]) -> list[tuple[str, tuple[ProductHint, ...]]]:
    grouped: dict[str, list[ProductHint]] = {}
    for hint in hints:
        grouped.setdefault(hint.key, []).append(hint)
    return [(key, tuple(group)) for key, group in grouped.items()]


def required_values(hints: Iterable[ProductHint]) -> tuple[str, ...] | None:
    """The values label `key` may hold on a node satisfying every one of `hints` (all on one key).

    Kubernetes matches label values as exact strings, so this is set algebra on values: ``In``
    lists intersect, ``NotIn`` values are removed from them, ``DoesNotExist`` beside an ``In``
    leaves nothing. None when no ``In`` names the values: ``NotIn`` alone also matches every
    node without the label and every value the catalogue does not hold, so it pins nothing.
    An empty tuple: no node satisfies them all.
    """
    required: set[str] | None = None
    excluded: set[str] = set()
    absent = False
    for hint in hints:
        if hint.operator is Operator.IN:
            named = set(hint.values)
            required = named if required is None else required & named
        elif hint.operator is Operator.NOT_IN:
            excluded |= set(hint.values)
        elif hint.operator is Operator.DOES_NOT_EXIST:
            absent = True
    if required is None:
        return None
    if absent:
        return ()
    return tuple(sorted(required - excluded))


def _product(entry: Mapping[str, Any]) -> Product:
    die = entry.get("dieArea") or {}
    specs = Specs(
        performance=tuple(
            Performance(str(p["precision"]), int(p["bits"]), float(p["tops"]))
            for p in entry["performance"]
        ),
        die_area_mm2=float(die["mm2"]) if die.get("mm2") else None,
        die_area_estimated=bool(die.get("estimated", False)),
        datacenter=bool(entry.get("datacenter", False)),
        unpublished=str(entry["unpublished"]) if entry.get("unpublished") else None,
    )
    aliases: list[str] = []
    exact: dict[str, tuple[str, ...]] = {}
    # In this order: the first alias is the label `Catalogue.pin_label` suggests, so PCI ids,
    # which no node label holds, come last.
    for source in ("gfd", "nvml", "gke", "karpenter", "other", "pciDeviceId"):
        spellings = tuple(str(a) for a in (entry.get("aliases") or {}).get(source, ()))
        aliases.extend(spellings)
        exact[source] = spellings
    # vGPU boards are no label values (board h200 is the H200 NVL, label H200 the SXM part).
    exact["vgpu"] = tuple(str(a) for a in (entry.get("aliases") or {}).get("vgpu", ()))
    return Product(
        id=str(entry["id"]),
        vendor=str(entry["vendor"]),
        name=str(entry["name"]),
        architecture=normalise_name(str(entry.get("architecture", ""))),
        specs=specs,
        mig_capable=bool(entry.get("migCapable", False)),
        citation=str(entry.get("citation", "")),
        aliases=tuple(aliases),
        classification=classify(specs),
        memory_bandwidth_gbs=_figure(entry.get("memoryBandwidthGBs")),
        interconnect_gbs=_figure(entry.get("interconnectGBs")),
        bandwidth_citation=str(entry.get("bandwidthCitation", "")),
        confidence=str(entry.get("confidence", "H")),
        exact_aliases=exact,
    )


def _figure(value: Any) -> float | None:
    return None if value is None else float(value)


@cache
def builtin_catalogue() -> Catalogue:
    return Catalogue(load_data("accelerators.yaml"), load_data("instance-types.yaml"))
