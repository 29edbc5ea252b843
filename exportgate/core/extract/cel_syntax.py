"""CEL syntax for DRA selectors: a tokenizer and a recursive-descent parser into a small tree.

Only the subset hand-written device selectors use; anything else raises `Unsupported`, which
`exportgate.core.extract.cel` reads as "pins nothing". The parser never raises for odd input
otherwise, and it is bounded (`MAX_LENGTH`, `MAX_DEPTH`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Union

MAX_LENGTH = 10_000  # the API server caps selector expressions at 10 KiB
MAX_DEPTH = 64  # nesting deeper than this is not a hand-written selector

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


class Unsupported(Exception):
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


def tokenize(text: str) -> list[Token]:
    tokens = []
    position = 0
    while position < len(text):
        match = _TOKEN_RE.match(text, position)
        if match is None:
            raise Unsupported(f"unexpected character {text[position]!r}")
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
                raise Unsupported("escape sequence outside the supported subset")
            out.append(_ESCAPES[escaped])
            index += 2
        else:
            out.append(char)
            index += 1
    return "".join(out)


class Parser:
    """Recursive descent over CEL's precedence levels, with a depth limit."""

    def __init__(self, tokens: list[Token]) -> None:
        self.tokens = tokens
        self.position = 0
        self.depth = 0

    def parse(self) -> Node:
        node = self._conditional()
        if self._peek().kind != "end":
            raise Unsupported("trailing input")
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
            raise Unsupported(f"expected {text!r}")

    def _enter(self) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise Unsupported("too deeply nested")

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
                    raise Unsupported("expected a field name after '.'")
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
        raise Unsupported(f"unexpected {token.text!r}")

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
