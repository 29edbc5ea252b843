"""KServe's Managed DRA annotations -> the DRA device request the controller makes of them.

An ``LLMInferenceService`` carrying ``serving.kserve.io/exp-dra-device-class`` asks KServe's
controller to create a ResourceClaimTemplate ``<name>-managed-dra`` with one device request
and to add a claim on it (``managed-device``) to every workload pod template of the service:
``spec.template``, ``spec.worker``, ``spec.prefill.template`` and ``spec.prefill.worker``, as
merged with the LLMInferenceServiceConfigs it names, so also when the service writes no pod
template itself. The four annotations are the whole request:

* ``exp-dra-device-class`` (required: the key's presence turns the feature on) ->
  ``exactly.deviceClassName`` (trimmed);
* ``exp-dra-device-count`` (default 1, a whole number >= 1) -> ``exactly.count``;
* ``exp-dra-cel-selector`` -> ``exactly.selectors[].cel.expression``, one per non-empty line;
* ``exp-dra-container-name`` -> which container references the claim; the claim is the pod's
  whichever container uses it, so it does not change what is allocated and is not read.

The webhook sees the LLMInferenceService before the template exists, so these annotations are
the only evidence at that point: the request is read here exactly as a ResourceClaimTemplate's
would be (`dra.device_request`: a listed class is that class, another class is read from its
DeviceClass or is unknown, a selector pinning ``productName`` narrows, any other selector does
not). The template and the pods are checked again at their own admission.

KServe's own admission refuses a malformed value (an empty class, a count that is no whole
number >= 1); so does this parser, naming the annotation, since the controller would make no
request exportgate could read.

Sources: kserve pkg/controller/v1alpha2/llmisvc/managed_dra.go (expectedManagedDRATemplate,
buildDeviceRequests, injectManagedDRAIntoConfig), pkg/validation/managed_dra.go
(ManagedDRADeviceCount, ManagedDRACelSelectors, ValidateManagedDRAAnnotations),
pkg/constants/constants.go and docs/samples/llmisvc/managed-dra/README.md:
https://github.com/kserve/kserve/tree/master/docs/samples/llmisvc/managed-dra
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from exportgate.core.errors import InputError
from exportgate.core.extract.dra import device_request
from exportgate.core.extract.dra_refs import DraObjects
from exportgate.core.extract.paths import expect_mapping, expect_string, join_key
from exportgate.core.extract.vocabulary import Vocabulary
from exportgate.core.types import AcceleratorRequest

DEVICE_CLASS_KEY = "serving.kserve.io/exp-dra-device-class"
DEVICE_COUNT_KEY = "serving.kserve.io/exp-dra-device-count"
CEL_SELECTOR_KEY = "serving.kserve.io/exp-dra-cel-selector"


def kserve_managed_dra(
    value: object, field: str, vocabulary: Vocabulary, dra: DraObjects
) -> list[AcceleratorRequest]:
    """The `ACCELERATOR_PARSERS` entry ``kserve-managed-dra``: the device request an
    LLMInferenceService's ``metadata.annotations`` (`value`, at `field`) make (see module doc)."""
    if value is None:
        return []
    annotations = expect_mapping(value, field)
    if DEVICE_CLASS_KEY not in annotations:
        return []  # the feature is off; KServe refuses the other keys without it
    class_field = join_key(field, DEVICE_CLASS_KEY)
    device_class = expect_string(annotations[DEVICE_CLASS_KEY], class_field).strip()
    if not device_class:
        raise InputError(
            "the Managed DRA device class is empty",
            field=class_field,
            hint="name the DeviceClass (e.g. gpu.nvidia.com), or remove the annotation",
        )
    request: dict[str, Any] = {
        "name": "device",
        "exactly": {
            "deviceClassName": device_class,
            "count": _count(annotations, field),
            "selectors": [
                {"cel": {"expression": expression}} for expression in _selectors(annotations, field)
            ],
        },
    }
    # Errors name the annotation, not the template field the controller would write.
    return [
        AcceleratorRequest(found.resource, found.count, found.hints, class_field)
        for found in device_request(request, class_field, vocabulary, dra)
    ]


def _count(annotations: Mapping[str, Any], field: str) -> int:
    """``exp-dra-device-count``: 1 when absent or blank, else a whole number >= 1 (Atoi)."""
    count_field = join_key(field, DEVICE_COUNT_KEY)
    raw = annotations.get(DEVICE_COUNT_KEY)
    if raw is None:
        return 1
    text = expect_string(raw, count_field).strip()
    if not text:
        return 1
    sign = text[:1] if text[:1] in "+-" else ""
    digits = text[len(sign) :]
    # Nine digits bound int() (Python refuses integer text past 4300 digits); the DRA reader
    # then refuses a count past its own plausible maximum, naming the annotation.
    valid = digits.isascii() and digits.isdigit() and len(digits) <= 9 and sign != "-"
    if not valid or int(digits) < 1:
        raise InputError(
            f"the Managed DRA device count {raw!r} is not a device count (a whole number >= 1)",
            field=count_field,
            hint='write the number of devices each pod gets, e.g. "2"',
        )
    return int(digits)


def _selectors(annotations: Mapping[str, Any], field: str) -> list[str]:
    """``exp-dra-cel-selector``: one CEL expression per non-empty line, trimmed."""
    raw = annotations.get(CEL_SELECTOR_KEY)
    if raw is None:
        return []
    text = expect_string(raw, join_key(field, CEL_SELECTOR_KEY))
    return [line.strip() for line in text.split("\n") if line.strip()]
