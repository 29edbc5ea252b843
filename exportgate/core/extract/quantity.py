"""Kubernetes resource quantities -> whole device counts.

Extended resources such as ``nvidia.com/gpu`` are counted in whole devices, and the API server
rejects fractional values for them. Manifests still spell the number in many ways: ``1``,
``"1"``, ``"2000m"``, ``"1e0"``; this module reads all of them the way the API server does
(``k8s.io/apimachinery/pkg/api/resource``) and insists on a non-negative whole number.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

from exportgate.core.errors import InputError
from exportgate.core.extract.paths import describe_type

_QUANTITY_RE = re.compile(r"([+-]?(?:\d+\.?\d*|\.\d+))([a-zA-Z]{0,2}|[eE][+-]?\d+)\Z")
_SUFFIXES = {
    "": Decimal(1),
    "n": Decimal("1e-9"),
    "u": Decimal("1e-6"),
    "m": Decimal("1e-3"),
    "k": Decimal("1e3"),
    "M": Decimal("1e6"),
    "G": Decimal("1e9"),
    "T": Decimal("1e12"),
    "P": Decimal("1e15"),
    "E": Decimal("1e18"),
    "Ki": Decimal(2**10),
    "Mi": Decimal(2**20),
    "Gi": Decimal(2**30),
    "Ti": Decimal(2**40),
    "Pi": Decimal(2**50),
    "Ei": Decimal(2**60),
}
# Far above any real device count; stops "1e999999999" from turning into a huge integer.
_MAX_COUNT = 10**9


def is_quantity(value: object) -> bool:
    """True for what could be a resource amount: a number (not a bool) or a quantity string
    (``"1"``, ``"500m"``, ``"2Gi"``)."""
    if isinstance(value, bool):
        return False
    if isinstance(value, int | float):
        return True
    return isinstance(value, str) and _QUANTITY_RE.match(value.strip()) is not None


def parse_count(value: object, field: str) -> int:
    """`value` as a whole, non-negative device count, or InputError naming `field`."""
    if isinstance(value, bool):
        raise _bad(value, field)
    if isinstance(value, int):
        number = Decimal(value)
    elif isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise _bad(value, field)
        number = Decimal(repr(value))
    elif isinstance(value, str):
        number = _parse_text(value.strip(), field)
    else:
        raise _bad(value, field)
    if number < 0:
        raise InputError(
            f"a device count cannot be negative ({value!r})",
            field=field,
            hint="request a whole number of devices, e.g. 1",
        )
    if number > _MAX_COUNT:
        raise InputError(
            f"device count {value!r} is implausibly large",
            field=field,
            hint="request a whole number of devices, e.g. 8",
        )
    if number != number.to_integral_value():
        raise InputError(
            f"accelerators are counted in whole devices, not {value!r}",
            field=field,
            hint="the API server rejects fractions of extended resources; use 1, 2, ...",
        )
    return int(number)


def _parse_text(text: str, field: str) -> Decimal:
    match = _QUANTITY_RE.match(text)
    if match is None:
        raise _bad(text, field)
    digits, suffix = match.groups()
    try:
        if suffix[:1] in ("e", "E"):
            exponent = int(suffix[1:])
            if abs(exponent) > 30:
                raise InputError(
                    f"device count {text!r} is out of range",
                    field=field,
                    hint="request a whole number of devices, e.g. 1",
                )
            return Decimal(digits).scaleb(exponent)
        scale = _SUFFIXES.get(suffix)
        if scale is None:
            raise _bad(text, field)
        return Decimal(digits) * scale
    except InvalidOperation:
        raise _bad(text, field) from None


def _bad(value: object, field: str) -> InputError:
    shown = repr(value) if isinstance(value, str) else describe_type(value)
    return InputError(
        f"{shown} is not a device count",
        field=field,
        hint='write a whole number such as 1 or "1"',
    )
