"""Node selectors, node affinity and Karpenter-style requirements -> product hints.

Kubernetes decides where a pod may run with three things this module reads:

* ``nodeSelector``: a map of label -> value; every entry must hold (AND).
* ``affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms``:
  a list of terms that are ORed; inside a term the ``matchExpressions`` are ANDed; an ``In``
  expression's values are ORed. Preferred (soft) affinity never constrains placement, so it is
  ignored.
* node-pool requirements (Karpenter ``NodePool``): one list of ``{key, operator, values}``, ANDed.

Only labels that say something about the accelerator product (`HintKeys`) become hints; a zone or
an architecture label is not a product hint and is dropped here.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from exportgate.core.errors import InputError
from exportgate.core.extract.paths import (
    expect_list,
    expect_mapping,
    expect_string,
    join_index,
    join_key,
)
from exportgate.core.types import Operator, ProductHint

_OPERATORS = {op.value: op for op in Operator}
_VALUELESS = (Operator.EXISTS, Operator.DOES_NOT_EXIST)
_SINGLE_VALUE = (Operator.GT, Operator.LT)
_REQUIRED_AFFINITY = "requiredDuringSchedulingIgnoredDuringExecution"


@dataclass(frozen=True, slots=True)
class HintKeys:
    """The node-label keys that carry product information, with what each one means.

    `meanings` maps a key (``nvidia.com/gpu.product``) to its meaning (``product``); the
    catalogue uses the same vocabulary to resolve a hint into products.
    """

    meanings: Mapping[str, str]
    suspect: tuple[str, ...] = ()
    """Globs of keys that look like accelerator information but are not understood: kept as
    hints (the catalogue narrows nothing with them) so that a node pool requiring one is an
    accelerator pool of unknown product rather than no accelerator pool at all."""
    suspect_re: re.Pattern[str] | None = None  # `suspect`, compiled (vocabulary.compile_globs)

    def __contains__(self, key: object) -> bool:
        return key in self.meanings or (
            isinstance(key, str)
            and self.suspect_re is not None
            and bool(self.suspect_re.match(key))
        )


def label_map(selector: object, field: str) -> dict[str, str]:
    """A ``nodeSelector``-shaped map, validated: string keys and string values."""
    if selector is None:
        return {}
    labels = {}
    for key, value in expect_mapping(selector, field).items():
        if not (isinstance(key, str) and isinstance(value, str)):  # name the field for errors
            where = join_key(field, str(key))
            expect_string(key, where)
            expect_string(value, where)
        labels[key] = value
    return labels


def hints_from_labels(labels: Mapping[str, str], keys: HintKeys) -> tuple[ProductHint, ...]:
    """Each relevant label becomes ``key In (value)``; the rest are not product hints."""
    return tuple(
        ProductHint(key, Operator.IN, (labels[key],)) for key in sorted(labels) if key in keys
    )


def hints_from_node_selector(
    selector: object, field: str, keys: HintKeys
) -> tuple[ProductHint, ...]:
    """Hints from a ``nodeSelector`` map: each relevant label becomes ``key In (value)``."""
    return hints_from_labels(label_map(selector, field), keys)


def hints_from_requirements(
    requirements: object, field: str, keys: HintKeys
) -> tuple[ProductHint, ...]:
    """Hints from a list of ``{key, operator, values}`` requirements (ANDed)."""
    if requirements is None:
        return ()
    hints = []
    for index, requirement in enumerate(expect_list(requirements, field)):
        hint = _requirement(requirement, join_index(field, index), keys)
        if hint is not None:
            hints.append(hint)
    return tuple(hints)


def required_affinity_terms(
    affinity: object, field: str, keys: HintKeys
) -> list[tuple[ProductHint, ...]]:
    """The hints of each required node-affinity term, in order (the terms are ORed).

    An empty list means the affinity does not constrain placement at all. A term that names no
    product label contributes an empty tuple: the pod may land anywhere through that term. A
    term with no expressions and no fields (``{}``) matches no node, so it is left out; if every
    term is empty the pod can land nowhere, and the empty list (anywhere) is the safe reading.
    """
    if affinity is None:
        return []
    node_affinity_field = join_key(field, "nodeAffinity")
    node_affinity = expect_mapping(affinity, field).get("nodeAffinity")
    if node_affinity is None:
        return []
    required_field = join_key(node_affinity_field, _REQUIRED_AFFINITY)
    required = expect_mapping(node_affinity, node_affinity_field).get(_REQUIRED_AFFINITY)
    if required is None:
        return []
    terms_field = join_key(required_field, "nodeSelectorTerms")
    terms = expect_mapping(required, required_field).get("nodeSelectorTerms")
    if terms is None:
        return []
    result = []
    for index, term in enumerate(expect_list(terms, terms_field)):
        term_field = join_index(terms_field, index)
        expressions_field = join_key(term_field, "matchExpressions")
        mapping = expect_mapping(term, term_field)
        expressions = mapping.get("matchExpressions")
        hints = hints_from_requirements(expressions, expressions_field, keys)
        if not expressions and not mapping.get("matchFields"):
            continue  # an empty term selects no node (Kubernetes nodeSelectorTerms semantics)
        result.append(hints)
    return result


def _requirement(requirement: object, field: str, keys: HintKeys) -> ProductHint | None:
    mapping = expect_mapping(requirement, field)
    key = expect_string(mapping.get("key"), join_key(field, "key"))
    operator = _operator(mapping.get("operator"), join_key(field, "operator"))
    values = _values(mapping.get("values"), join_key(field, "values"), operator)
    if key not in keys:
        return None
    return ProductHint(key, operator, values)


def _operator(value: object, field: str) -> Operator:
    name = expect_string(value, field)
    operator = _OPERATORS.get(name)
    if operator is None:
        raise InputError(
            f"unknown operator {name!r}",
            field=field,
            hint="use one of " + ", ".join(_OPERATORS),
        )
    return operator


def _values(value: object, field: str, operator: Operator) -> tuple[str, ...]:
    items: Sequence[Any] = () if value is None else expect_list(value, field)
    values = tuple(expect_string(item, join_index(field, i)) for i, item in enumerate(items))
    if operator in _VALUELESS and values:
        raise InputError(
            f"operator {operator.value} takes no values",
            field=field,
            hint="remove the values or use In/NotIn",
        )
    if operator in (Operator.IN, Operator.NOT_IN) and not values:
        raise InputError(
            f"operator {operator.value} needs at least one value",
            field=field,
            hint="list the label values, or use Exists/DoesNotExist",
        )
    if operator in _SINGLE_VALUE and len(values) != 1:
        raise InputError(
            f"operator {operator.value} needs exactly one integer value",
            field=field,
            hint='write the number as a quoted string, e.g. values: ["0"]',
        )
    return values
