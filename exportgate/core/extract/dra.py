"""DRA device requests (``ResourceClaim``, ``ResourceClaimTemplate``) -> accelerator requests.

One device request in ``spec.devices.requests[]`` names a device class, how many devices, and
CEL selectors that narrow which devices qualify. The API spells it two ways:

* ``resource.k8s.io/v1`` and ``v1beta2``: ``{name, exactly: {deviceClassName, count, selectors,
  allocationMode}}`` or ``{name, firstAvailable: [subrequest, ...]}``;
* ``resource.k8s.io/v1beta1``: ``{name, deviceClassName, count, selectors, allocationMode}`` or
  ``{name, firstAvailable: [...]}``.

``firstAvailable`` lists alternatives ("the first of these that can be satisfied"), so each
subrequest becomes its own `AcceleratorRequest`, and the engine keeps the most restrictive.

A request is an accelerator request when its device class is one the vocabulary lists
(``gpu.nvidia.com``, ``mig.nvidia.com``, ``gpu.amd.com``, ``neuron.aws.com`` ...) or when a
selector mentions one of those driver names (a cluster-specific class such as ``h100-class``
that selects ``device.attributes["gpu.nvidia.com"]``). The resource is the device class name.
A selector that pins ``productName`` becomes an ``exportgate.dev/product`` hint; all selectors
of a request must hold, so their constraints are combined with AND. ``allocationMode: All``
asks for every matching device on a node, a number unknown offline: it is counted as 1.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from exportgate.core.errors import InputError
from exportgate.core.extract.cel import (
    ProductConstraint,
    conjunction,
    product_constraint,
    string_literals,
)
from exportgate.core.extract.paths import (
    expect_list,
    expect_mapping,
    expect_string,
    join_index,
    join_key,
)
from exportgate.core.extract.quantity import parse_count
from exportgate.core.extract.vocabulary import Vocabulary
from exportgate.core.types import AcceleratorRequest, ProductHint

PRODUCT_HINT_KEY = "exportgate.dev/product"
_ALLOCATION_MODES = ("ExactCount", "All")


def device_request(request: object, field: str, vocabulary: Vocabulary) -> list[AcceleratorRequest]:
    """The accelerator requests one entry of ``spec.devices.requests`` makes."""
    mapping = expect_mapping(request, field)
    found: list[AcceleratorRequest] = []
    exactly = mapping.get("exactly")
    if exactly is not None:
        found.extend(_subrequest(exactly, join_key(field, "exactly"), vocabulary))
    alternatives = mapping.get("firstAvailable")
    if alternatives is not None:
        alternatives_field = join_key(field, "firstAvailable")
        for index, alternative in enumerate(expect_list(alternatives, alternatives_field)):
            found.extend(
                _subrequest(alternative, join_index(alternatives_field, index), vocabulary)
            )
    if exactly is None and alternatives is None and mapping.get("deviceClassName") is not None:
        found.extend(_subrequest(mapping, field, vocabulary))  # the v1beta1 spelling
    return found


def _subrequest(value: object, field: str, vocabulary: Vocabulary) -> Iterable[AcceleratorRequest]:
    request = expect_mapping(value, field)
    device_class = expect_string(request.get("deviceClassName"), join_key(field, "deviceClassName"))
    expressions = list(_expressions(request.get("selectors"), join_key(field, "selectors")))
    mentioned: set[str] = set()
    for _, expression in expressions:
        mentioned |= string_literals(expression)
    classes = vocabulary.dra_device_classes
    if device_class not in classes and not (mentioned & classes):
        return
    count = _count(request, field)
    if count == 0:
        return
    hint = _product_hint(expression for _, expression in expressions)
    yield AcceleratorRequest(device_class, count, (hint,) if hint else (), field)


def _expressions(selectors: object, field: str) -> Iterable[tuple[str, str]]:
    if selectors is None:
        return
    for index, selector in enumerate(expect_list(selectors, field)):
        where = join_index(field, index)
        cel = expect_mapping(selector, where).get("cel")
        if cel is None:
            continue  # a selector kind this version does not know; it can only narrow
        cel_field = join_key(where, "cel")
        expression_field = join_key(cel_field, "expression")
        yield (
            expression_field,
            expect_string(expect_mapping(cel, cel_field).get("expression"), expression_field),
        )


def _count(request: Mapping[str, Any], field: str) -> int:
    mode_field = join_key(field, "allocationMode")
    mode = request.get("allocationMode")
    if mode is not None and expect_string(mode, mode_field) not in _ALLOCATION_MODES:
        raise InputError(
            f"unknown allocationMode {mode!r}",
            field=mode_field,
            hint="use ExactCount (with count) or All",
        )
    if mode == "All":
        return 1
    count = request.get("count")
    return 1 if count is None else parse_count(count, join_key(field, "count"))


def _product_hint(expressions: Iterable[str]) -> ProductHint | None:
    combined: ProductConstraint | None = None
    for expression in expressions:
        constraint = product_constraint(expression)
        if constraint is None:
            continue
        # Every selector must match, so the constraints of one request combine with AND.
        combined = conjunction(combined, constraint)
    if combined is None:
        return None
    return ProductHint(PRODUCT_HINT_KEY, combined.operator, combined.sorted_values())
