"""DRA device requests (``ResourceClaim``, ``ResourceClaimTemplate``) -> accelerator requests.

One device request in ``spec.devices.requests[]`` names a device class, how many devices, and
CEL selectors that narrow which devices qualify. The API spells it two ways:

* ``resource.k8s.io/v1`` and ``v1beta2``: ``{name, exactly: {deviceClassName, count, selectors,
  allocationMode}}`` or ``{name, firstAvailable: [subrequest, ...]}``;
* ``resource.k8s.io/v1beta1``: ``{name, deviceClassName, count, selectors, allocationMode}`` or
  ``{name, firstAvailable: [...]}``.

``firstAvailable`` lists alternatives ("the first of these that can be satisfied"), so each
subrequest becomes its own `AcceleratorRequest`, and the engine keeps the most restrictive.

A request is judged by what it can allocate through its DeviceClass:

* a class the vocabulary lists (``gpu.nvidia.com``, ``mig.nvidia.com``, ``gpu.amd.com`` ...), or
  a request whose selectors mention such a driver, is an accelerator request of that class;
* any other class is read from the DeviceClass object (`DraObjects`): when its selectors
  mention an accelerator driver the request is one for that driver (with the class's product
  constraints added); when they name only drivers that do not look like accelerators, it is
  not an accelerator request; a class that selects every device, or one naming a suspect
  driver, is an unknown accelerator;
* a class that cannot be read is an unknown accelerator (resource ``DeviceClass <name>``).

A selector that pins ``productName`` becomes an ``exportgate.dev/product`` hint; all selectors
of a request (and of its class) must hold, so their constraints are combined with AND.
``allocationMode: All`` asks for every matching device on a node, a number unknown offline: it
is counted as 1.

Pods (and pod templates) name claims and claim templates in ``spec.resourceClaims``; `pod_claims`
reads the named objects and judges the pod by their requests. A name that cannot be read is an
unknown accelerator (resource ``ResourceClaimTemplate <name>``).
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
from exportgate.core.extract.dra_refs import (
    CLAIM,
    CLAIM_TEMPLATE,
    DEVICE_CLASS,
    NO_DRA_OBJECTS,
    DraObjects,
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
CLAIM_LISTS = ("resourceClaims", "draResources")
"""Where a pod spec (or a NIMService spec) names its claims: Pods' resourceClaims, NIM's
draResources (resourceClaimName | resourceClaimTemplateName | claimCreationSpec)."""
_ALLOCATION_MODES = ("ExactCount", "All")


def device_request(
    request: object, field: str, vocabulary: Vocabulary, dra: DraObjects = NO_DRA_OBJECTS
) -> list[AcceleratorRequest]:
    """The accelerator requests one entry of ``spec.devices.requests`` makes."""
    mapping = expect_mapping(request, field)
    found: list[AcceleratorRequest] = []
    exactly = mapping.get("exactly")
    if exactly is not None:
        found.extend(_subrequest(exactly, join_key(field, "exactly"), vocabulary, dra))
    alternatives = mapping.get("firstAvailable")
    if alternatives is not None:
        alternatives_field = join_key(field, "firstAvailable")
        for index, alternative in enumerate(expect_list(alternatives, alternatives_field)):
            found.extend(
                _subrequest(alternative, join_index(alternatives_field, index), vocabulary, dra)
            )
    if exactly is None and alternatives is None and mapping.get("deviceClassName") is not None:
        found.extend(_subrequest(mapping, field, vocabulary, dra))  # the v1beta1 spelling
    return found


def claim_spec_requests(
    spec: object, field: str, vocabulary: Vocabulary, dra: DraObjects
) -> list[AcceleratorRequest]:
    """The accelerator requests of a ResourceClaimSpec (``{devices: {requests: [...]}}``)."""
    if spec is None:
        return []
    devices = expect_mapping(spec, field).get("devices")
    if devices is None:
        return []
    devices_field = join_key(field, "devices")
    requests = expect_mapping(devices, devices_field).get("requests")
    if requests is None:
        return []
    requests_field = join_key(devices_field, "requests")
    found: list[AcceleratorRequest] = []
    for index, request in enumerate(expect_list(requests, requests_field)):
        found.extend(device_request(request, join_index(requests_field, index), vocabulary, dra))
    return found


def pod_claims(
    pod: Mapping[str, Any],
    field: str,
    namespace: str | None,
    vocabulary: Vocabulary,
    dra: DraObjects,
) -> list[AcceleratorRequest]:
    """The requests of the claims and claim templates a pod spec names in ``resourceClaims``."""
    found: list[AcceleratorRequest] = []
    for key in CLAIM_LISTS:
        entries = pod.get(key)
        if entries is not None:
            entries_field = join_key(field, key)
            for index, entry in enumerate(expect_list(entries, entries_field)):
                where = join_index(entries_field, index)
                found.extend(_pod_claim(entry, where, namespace, vocabulary, dra))
    return found


def _pod_claim(
    entry: object, where: str, namespace: str | None, vocabulary: Vocabulary, dra: DraObjects
) -> list[AcceleratorRequest]:
    """One entry of resourceClaims / draResources: the requests of what it names."""
    found: list[AcceleratorRequest] = []
    reference = expect_mapping(entry, where)
    source = reference.get("source")  # the v1alpha spelling nests the names under source
    if isinstance(source, Mapping):
        reference = {**reference, **source}
    claim_name = reference.get("resourceClaimName")
    template_name = reference.get("resourceClaimTemplateName")
    if isinstance(claim_name, str) and claim_name:
        claim = dra.claim(namespace, claim_name)
        if claim is None:
            found.append(AcceleratorRequest(f"{CLAIM} {claim_name}", 1, (), where))
        else:
            found.extend(_read(claim.get("spec"), where, vocabulary, dra))
    elif isinstance(template_name, str) and template_name:
        template = dra.claim_template(namespace, template_name)
        if template is None:
            found.append(AcceleratorRequest(f"{CLAIM_TEMPLATE} {template_name}", 1, (), where))
        else:
            spec = template.get("spec")
            inner = spec.get("spec") if isinstance(spec, Mapping) else None
            found.extend(_read(inner, where, vocabulary, dra))
    else:
        found.extend(_inline_claim(reference, where, vocabulary, dra))
    return found


def _inline_claim(
    reference: Mapping[str, Any], where: str, vocabulary: Vocabulary, dra: DraObjects
) -> list[AcceleratorRequest]:
    """A claim spelled inline (NIM's claimCreationSpec / claimSpec): each device entry naming a
    DeviceClass is read like a request; anything else it asks for is an unknown accelerator."""
    found: list[AcceleratorRequest] = []
    for key in ("claimCreationSpec", "claimSpec"):
        spec = reference.get(key)
        if spec is None:
            continue
        devices = spec.get("devices") if isinstance(spec, Mapping) else None
        if isinstance(devices, Mapping):  # a ResourceClaimSpec
            found.extend(_read(spec, where, vocabulary, dra))
            continue
        for device in devices if isinstance(devices, list) else [None]:
            if isinstance(device, Mapping) and isinstance(device.get("deviceClassName"), str):
                found.extend(
                    AcceleratorRequest(r.resource, r.count, r.hints, where)
                    for r in _subrequest(device, where, vocabulary, dra)
                )
            else:
                found.append(AcceleratorRequest(f"{CLAIM} (inline)", 1, (), where))
    return found


def _read(
    spec: object, where: str, vocabulary: Vocabulary, dra: DraObjects
) -> list[AcceleratorRequest]:
    """A referenced object's requests, located at the pod's reference (the object is elsewhere)."""
    try:
        requests = claim_spec_requests(spec, "spec", vocabulary, dra)
    except InputError:
        return [AcceleratorRequest("unreadable DRA claim", 1, (), where)]
    return [AcceleratorRequest(r.resource, r.count, r.hints, where) for r in requests]


def _class_reach(
    device_class: str, vocabulary: Vocabulary, dra: DraObjects
) -> tuple[str | None, list[str]]:
    """(the resource a class allocates, or None for no accelerator; the class's own selectors)."""
    classes = vocabulary.dra_device_classes
    if device_class in classes:
        return device_class, []
    known = dra.device_classes.get(device_class)
    if known is None:
        return f"{DEVICE_CLASS} {device_class}", []  # cannot be read: unknown accelerator
    spec = known.get("spec")
    selectors = spec.get("selectors") if isinstance(spec, Mapping) else None
    try:
        expressions = [e for _, e in _expressions(selectors, "spec.selectors")]
    except InputError:
        return f"{DEVICE_CLASS} {device_class}", []
    mentioned: set[str] = set()
    for expression in expressions:
        mentioned |= string_literals(expression)
    drivers = sorted(mentioned & classes)
    if drivers:
        return drivers[0], expressions
    if not expressions or any(vocabulary.accelerator_resource(m) for m in mentioned):
        return f"{DEVICE_CLASS} {device_class}", expressions  # any device, or a suspect one
    return None, expressions  # names only drivers that are not accelerators


def _subrequest(
    value: object, field: str, vocabulary: Vocabulary, dra: DraObjects
) -> Iterable[AcceleratorRequest]:
    request = expect_mapping(value, field)
    device_class = expect_string(request.get("deviceClassName"), join_key(field, "deviceClassName"))
    expressions = [
        e for _, e in _expressions(request.get("selectors"), join_key(field, "selectors"))
    ]
    mentioned: set[str] = set()
    for expression in expressions:
        mentioned |= string_literals(expression)
    resource, class_expressions = _class_reach(device_class, vocabulary, dra)
    drivers = sorted(mentioned & vocabulary.dra_device_classes)
    if drivers and (resource is None or resource.startswith(DEVICE_CLASS + " ")):
        resource = device_class  # the request itself selects an accelerator driver's devices
    if resource is None:
        return
    count = _count(request, field)
    if count == 0:
        return
    hint = _product_hint([*class_expressions, *expressions])
    yield AcceleratorRequest(resource, count, (hint,) if hint else (), field)


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
