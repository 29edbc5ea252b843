"""Just enough CEL to learn which product a DRA device selector pins.

Dynamic Resource Allocation selects devices with CEL expressions over the attributes each driver
publishes, for example::

    device.attributes["gpu.nvidia.com"].productName == "NVIDIA H100 80GB HBM3"
    device.attributes['gpu.nvidia.com'].productName in ["NVIDIA H100 80GB HBM3", "NVIDIA H200"]
    device.attributes["gpu.nvidia.com"].productName != "NVIDIA H20" && device.capacity[...] > ...

`product_constraint` parses an expression into a small syntax tree and works out, soundly, what
it implies about the product name: ``In`` a set, ``NotIn`` a set, or nothing known. A ``NotIn``
alone pins nothing (it also selects every device whose name the catalogue lacks); it only
removes names from an ``In`` in the same request (`conjunction`). Anything this
module does not understand (``startsWith``, ``matches``, ternaries, arithmetic) implies nothing,
so the request is treated as unpinned: "could be any product" is the safe reading. The parser
never raises for odd input; the API server has already type-checked real selectors.
"""

from __future__ import annotations

from dataclasses import dataclass

from exportgate.core.extract.cel_syntax import MAX_DEPTH as _MAX_DEPTH
from exportgate.core.extract.cel_syntax import MAX_LENGTH as _MAX_LENGTH
from exportgate.core.extract.cel_syntax import (
    Binary,
    Ident,
    Index,
    ListLit,
    Lit,
    Member,
    Node,
    Parser,
    Unary,
    Unsupported,
    tokenize,
)
from exportgate.core.types import Operator

# The attribute every accelerator DRA driver we know publishes the marketing name under.
PRODUCT_ATTRIBUTES = frozenset({"productName"})


@dataclass(frozen=True, slots=True)
class ProductConstraint:
    """What an expression implies about the product name: In `values` or NotIn `values`.

    `exact` is True when the expression is *equivalent* to the constraint, not merely narrower
    (``name == "X"`` is exact; ``name == "X" && memory > 40`` only implies ``In {X}``). Only an
    exact constraint may be negated: ``!(name == "X" && memory > 40)`` does not exclude X.
    """

    operator: Operator
    values: frozenset[str]
    exact: bool = True

    def sorted_values(self) -> tuple[str, ...]:
        return tuple(sorted(self.values))


def product_constraint(expression: str) -> ProductConstraint | None:
    """The product constraint `expression` implies, or None when it implies none we can use."""
    if len(expression) > _MAX_LENGTH:
        return None
    try:
        tree = Parser(tokenize(expression)).parse()
    except Unsupported:
        return None
    return _constraint(tree, 0)


def string_literals(expression: str) -> set[str]:
    """Every string literal in `expression` (to spot driver names such as gpu.nvidia.com)."""
    if len(expression) > _MAX_LENGTH:
        return set()
    try:
        return {token.value for token in tokenize(expression) if token.kind == "string"}
    except Unsupported:
        return set()


def _is_product_name(node: Node) -> bool:
    """``device.attributes["<domain>"].productName`` (or the ``["productName"]`` spelling)."""
    if isinstance(node, Member):
        target, name = node.target, node.name
    elif isinstance(node, Index) and isinstance(node.key, Lit) and isinstance(node.key.value, str):
        target, name = node.target, node.key.value
    else:
        return False
    if name not in PRODUCT_ATTRIBUTES:
        return False
    return (
        isinstance(target, Index)
        and isinstance(target.key, Lit)
        and isinstance(target.key.value, str)
        and isinstance(target.target, Member)
        and target.target.name == "attributes"
        and isinstance(target.target.target, Ident)
        and target.target.target.name == "device"
    )


def _string_set(node: Node) -> frozenset[str] | None:
    if isinstance(node, Lit) and isinstance(node.value, str):
        return frozenset({node.value})
    return None


def _constraint(node: Node, depth: int) -> ProductConstraint | None:
    if depth > _MAX_DEPTH:
        return None
    if isinstance(node, Binary):
        if node.op in ("==", "!="):
            return _comparison(node)
        if node.op == "in" and _is_product_name(node.left) and isinstance(node.right, ListLit):
            names = [_string_set(item) for item in node.right.items]
            if any(name is None for name in names):
                return None
            return ProductConstraint(Operator.IN, frozenset().union(*(n for n in names if n)))
        if node.op == "&&":
            return conjunction(
                _constraint(node.left, depth + 1), _constraint(node.right, depth + 1)
            )
        if node.op == "||":
            return _either(_constraint(node.left, depth + 1), _constraint(node.right, depth + 1))
        return None
    if isinstance(node, Unary) and node.op == "!":
        inner = _constraint(node.operand, depth + 1)
        if inner is None or not inner.exact:
            return None
        flipped = Operator.NOT_IN if inner.operator is Operator.IN else Operator.IN
        return ProductConstraint(flipped, inner.values)
    return None


def _comparison(node: Binary) -> ProductConstraint | None:
    if _is_product_name(node.left):
        names = _string_set(node.right)
    elif _is_product_name(node.right):
        names = _string_set(node.left)
    else:
        return None
    if names is None:
        return None
    return ProductConstraint(Operator.IN if node.op == "==" else Operator.NOT_IN, names)


def conjunction(
    left: ProductConstraint | None, right: ProductConstraint | None
) -> ProductConstraint | None:
    """AND only narrows: an unknown side leaves the other side's constraint standing."""
    if left is None or right is None:
        known = left or right
        return None if known is None else ProductConstraint(known.operator, known.values, False)
    exact = left.exact and right.exact
    if left.operator is Operator.IN and right.operator is Operator.IN:
        return ProductConstraint(Operator.IN, left.values & right.values, exact)
    if left.operator is Operator.IN:
        return ProductConstraint(Operator.IN, left.values - right.values, exact)
    if right.operator is Operator.IN:
        return ProductConstraint(Operator.IN, right.values - left.values, exact)
    return ProductConstraint(Operator.NOT_IN, left.values | right.values, exact)


def _either(
    left: ProductConstraint | None, right: ProductConstraint | None
) -> ProductConstraint | None:
    """OR widens: if either side is unknown, the whole expression pins nothing."""
    if left is None or right is None:
        return None
    exact = left.exact and right.exact
    if left.operator is Operator.IN and right.operator is Operator.IN:
        return ProductConstraint(Operator.IN, left.values | right.values, exact)
    if left.operator is Operator.NOT_IN and right.operator is Operator.NOT_IN:
        return ProductConstraint(Operator.NOT_IN, left.values & right.values, exact)
    included, excluded = (left, right) if left.operator is Operator.IN else (right, left)
    return ProductConstraint(Operator.NOT_IN, excluded.values - included.values, exact)
