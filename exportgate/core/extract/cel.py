"""Just enough CEL to learn which product a DRA device selector pins.

Dynamic Resource Allocation selects devices with CEL expressions over the attributes each driver
publishes, for example::

    device.attributes["gpu.nvidia.com"].productName == "NVIDIA H100 80GB HBM3"
    device.attributes['gpu.nvidia.com'].productName in ["NVIDIA H100 80GB HBM3", "NVIDIA H200"]
    device.attributes["gpu.nvidia.com"].productName != "NVIDIA H20" && device.capacity[...] > ...

`product_constraint` parses an expression into a small syntax tree and works out, soundly, what
it implies about the product name: ``In`` a set, ``NotIn`` a set, or nothing known. Anything this
module does not understand (``startsWith``, ``matches``, ternaries, arithmetic) implies nothing,
so the request is treated as unpinned: "could be any product" is the safe reading. The parser
never raises for odd input; the API server has already type-checked real selectors.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Union

from exportgate.core.types import Operator

# The attribute every accelerator DRA driver we know publishes the marketing name under.
PRODUCT_ATTRIBUTES = frozenset({"productName"})

_MAX_LENGTH = 10_000  # the API server caps selector expressions at 10 KiB
_MAX_DEPTH = 64  # nesting deeper than this is not a hand-written selector

_TOKEN_RE = re.compile(
    r"""
    (?P<space>\s+)
  | (?P<string>[rR]?(?:\"\"\"[\s\S]*?\"\"\"|'''[\s\S]*?'''|"(?:\\.|[^"\\\n])*"|'(?:\\.|[^'\\\n])*'))
  | (?P<number>\d+(?:\.\d+)?(?:[eE][+-]?\d+)?[uU]?|0[xX][0-9a-fA-F]+[uU]?)
  | (?P<ident>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<op>==|!=|<=|>=|&&|\|\||[<>!()\[\]{},.?:+\-*/%])
    """,
    re.VERBOSE,
)
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", '"': '"', "'": "'", "`": "`"}


class _Unsupported(Exception):
    """The expression uses syntax outside the subset; it then pins nothing."""


@dataclass(frozen=True, slots=True)
class Token:
    kind: str  # "string", "number", "ident", "op", "end"
    text: str
    value: str = ""  # decoded string literal


@dataclass(frozen=True, slots=True)
class Lit:
    value: object


@dataclass(frozen=True, slots=True)
class Ident:
    name: str


@dataclass(frozen=True, slots=True)
class Member:
    target: Node
    name: str


@dataclass(frozen=True, slots=True)
class Index:
    target: Node
    key: Node


@dataclass(frozen=True, slots=True)
class Call:
    target: Node | None
    name: str
    args: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class ListLit:
    items: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Unary:
    op: str
    operand: Node


@dataclass(frozen=True, slots=True)
class Binary:
    op: str
    left: Node
    right: Node


@dataclass(frozen=True, slots=True)
class Opaque:
    """A construct that is parsed but means nothing here (maps, ternaries)."""


Node = Union[Lit, Ident, Member, Index, Call, ListLit, Unary, Binary, Opaque]  # noqa: UP007


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
        tree = _Parser(tokenize(expression)).parse()
    except _Unsupported:
        return None
    return _constraint(tree, 0)


def string_literals(expression: str) -> set[str]:
    """Every string literal in `expression` (to spot driver names such as gpu.nvidia.com)."""
    if len(expression) > _MAX_LENGTH:
        return set()
    try:
        return {token.value for token in tokenize(expression) if token.kind == "string"}
    except _Unsupported:
        return set()


def tokenize(text: str) -> list[Token]:
    tokens = []
    position = 0
    while position < len(text):
        match = _TOKEN_RE.match(text, position)
        if match is None:
            raise _Unsupported(f"unexpected character {text[position]!r}")
        position = match.end()
        kind = match.lastgroup or ""
        if kind == "space":
            continue
        token_text = match.group()
        if kind == "string":
            tokens.append(Token("string", token_text, _decode(token_text)))
        else:
            tokens.append(Token(kind, token_text))
    tokens.append(Token("end", ""))
    return tokens


def _decode(literal: str) -> str:
    raw = literal[0] in "rR"
    body = literal[1:] if raw else literal
    quote = 3 if body[:3] in ('"""', "'''") else 1
    inner = body[quote:-quote]
    if raw:
        return inner
    out = []
    index = 0
    while index < len(inner):
        char = inner[index]
        if char == "\\" and index + 1 < len(inner):
            escaped = inner[index + 1]
            if escaped not in _ESCAPES:
                raise _Unsupported("escape sequence outside the supported subset")
            out.append(_ESCAPES[escaped])
            index += 2
        else:
            out.append(char)
            index += 1
    return "".join(out)


class _Parser:
    """Recursive descent over CEL's precedence levels, with a depth limit."""

    def __init__(self, tokens: list[Token]) -> None:
        self.tokens = tokens
        self.position = 0
        self.depth = 0

    def parse(self) -> Node:
        node = self._conditional()
        if self._peek().kind != "end":
            raise _Unsupported("trailing input")
        return node

    def _peek(self) -> Token:
        return self.tokens[self.position]

    def _take(self) -> Token:
        token = self.tokens[self.position]
        if token.kind != "end":
            self.position += 1
        return token

    def _accept(self, text: str) -> bool:
        token = self._peek()
        if token.kind in ("op", "ident") and token.text == text:
            self.position += 1
            return True
        return False

    def _expect(self, text: str) -> None:
        if not self._accept(text):
            raise _Unsupported(f"expected {text!r}")

    def _enter(self) -> None:
        self.depth += 1
        if self.depth > _MAX_DEPTH:
            raise _Unsupported("too deeply nested")

    def _conditional(self) -> Node:
        self._enter()
        node = self._or()
        if self._accept("?"):
            self._conditional()
            self._expect(":")
            self._conditional()
            node = Opaque()
        self.depth -= 1
        return node

    def _or(self) -> Node:
        node = self._and()
        while self._accept("||"):
            node = Binary("||", node, self._and())
        return node

    def _and(self) -> Node:
        node = self._relation()
        while self._accept("&&"):
            node = Binary("&&", node, self._relation())
        return node

    def _relation(self) -> Node:
        node = self._additive()
        while True:
            token = self._peek()
            if token.text in ("==", "!=", "<", "<=", ">", ">=", "in") and token.kind in (
                "op",
                "ident",
            ):
                self._take()
                node = Binary(token.text, node, self._additive())
            else:
                return node

    def _additive(self) -> Node:
        node = self._multiplicative()
        while self._peek().kind == "op" and self._peek().text in ("+", "-"):
            op = self._take().text
            node = Binary(op, node, self._multiplicative())
        return node

    def _multiplicative(self) -> Node:
        node = self._unary()
        while self._peek().kind == "op" and self._peek().text in ("*", "/", "%"):
            op = self._take().text
            node = Binary(op, node, self._unary())
        return node

    def _unary(self) -> Node:
        self._enter()
        if self._accept("!"):
            node: Node = Unary("!", self._unary())
        elif self._accept("-"):
            node = Unary("-", self._unary())
        else:
            node = self._member()
        self.depth -= 1
        return node

    def _member(self) -> Node:
        node = self._primary()
        while True:
            if self._accept("."):
                name = self._take()
                if name.kind != "ident":
                    raise _Unsupported("expected a field name after '.'")
                if self._accept("("):
                    node = Call(node, name.text, self._arguments(")"))
                else:
                    node = Member(node, name.text)
            elif self._accept("["):
                key = self._conditional()
                self._expect("]")
                node = Index(node, key)
            else:
                return node

    def _primary(self) -> Node:
        token = self._take()
        if token.kind == "string":
            return Lit(token.value)
        if token.kind == "number":
            return Lit(token.text)
        if token.kind == "ident":
            if token.text in ("true", "false"):
                return Lit(token.text == "true")
            if token.text == "null":
                return Lit(None)
            if self._accept("("):
                return Call(None, token.text, self._arguments(")"))
            return Ident(token.text)
        if token.kind == "op" and token.text == "(":
            node = self._conditional()
            self._expect(")")
            return node
        if token.kind == "op" and token.text == "[":
            return ListLit(self._arguments("]"))
        if token.kind == "op" and token.text == "{":
            self._map_entries()
            return Opaque()
        raise _Unsupported(f"unexpected {token.text!r}")

    def _arguments(self, closer: str) -> tuple[Node, ...]:
        items: list[Node] = []
        if self._accept(closer):
            return ()
        while True:
            items.append(self._conditional())
            if self._accept(closer):
                return tuple(items)
            self._expect(",")
            if self._accept(closer):  # CEL allows a trailing comma
                return tuple(items)

    def _map_entries(self) -> None:
        if self._accept("}"):
            return
        while True:
            self._conditional()
            self._expect(":")
            self._conditional()
            if self._accept("}"):
                return
            self._expect(",")
            if self._accept("}"):
                return


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
