"""SCIM filter and PATCH path grammar (RFC 7644 §3.4.2.2, §3.5.2), parsed to a small AST.

Pure: no Django, no database. ``queries`` turns the AST into Django Q objects
and ``patch`` evaluates it on plain dicts.

This is a small recursive-descent parser rather than scim2-filter-parser,
which the project also ships: measured against that package's 0.7.0 lexer,
``id eq 12`` fails (numbers are one digit), ``displayName eq "a \\"b\\""`` fails
(no escapes in strings), ``nullable eq "x"`` fails (keywords match inside names),
``active eq TRUE`` fails (literals are case-sensitive) and
``members[value eq "1"].display`` fails, the last being a PATCH path every
client sends. Its AST also encodes value paths in a way only its SQL transpiler
reads. The grammar is small enough that owning it costs less than working
around those gaps.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

COMPARE_OPS = frozenset({"eq", "ne", "co", "sw", "ew", "gt", "ge", "lt", "le"})
MAX_FILTER_LENGTH = 4096
MAX_DEPTH = 50


class FilterSyntaxError(ValueError):
    """The text does not follow the grammar; the message says where and why."""


@dataclass(frozen=True)
class AttrPath:
    """``[urn:]attr[.sub]``; ``uri`` is the schema URN prefix if one was written."""

    attr: str
    sub: str | None = None
    uri: str | None = None

    def __str__(self) -> str:
        return f"{self.attr}.{self.sub}" if self.sub else self.attr


@dataclass(frozen=True)
class Compare:
    """``path op value``; for ``pr`` the value is None and unused."""

    path: AttrPath
    op: str
    value: Any = None


@dataclass(frozen=True)
class And:
    left: Node
    right: Node


@dataclass(frozen=True)
class Or:
    left: Node
    right: Node


@dataclass(frozen=True)
class Not:
    expr: Node


@dataclass(frozen=True)
class ValuePath:
    """``attr[filter]``: ``filter``'s paths are relative to the elements of ``attr``."""

    path: AttrPath
    filter: Node


Node = Compare | And | Or | Not | ValuePath


@dataclass(frozen=True)
class PatchPath:
    """A PATCH target: ``attr``, ``attr.sub``, ``attr[filter]`` or ``attr[filter].sub``."""

    attr: str
    sub: str | None = None
    filter: Node | None = None
    uri: str | None = None


_TOKEN = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<string>"(?:[^"\\]|\\.)*")
  | (?P<number>-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?(?![\w:]))
  | (?P<punct>[()\[\]])
  | (?P<subattr>\.[A-Za-z$][\w$-]*)
  | (?P<word>[A-Za-z$][\w$:.-]*)
    """,
    re.VERBOSE,
)


@dataclass(frozen=True)
class Token:
    kind: str
    text: str
    pos: int


def tokenize(text: str) -> list[Token]:
    tokens: list[Token] = []
    pos = 0
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None:
            raise FilterSyntaxError(f"Unexpected character {text[pos]!r} at position {pos + 1}.")
        kind = match.lastgroup or ""
        if kind != "ws":
            tokens.append(Token(kind, match.group(), pos))
        pos = match.end()
    return tokens


def _split_path(text: str) -> AttrPath:
    """``urn:...:User:name.givenName`` → AttrPath(name, givenName, urn:...:User)."""
    uri = None
    if ":" in text:
        uri, _, text = text.rpartition(":")
        if not text:
            raise FilterSyntaxError(f"Attribute name missing after {uri!r}.")
    attr, _, sub = text.partition(".")
    if not attr or "." in sub or (text.endswith(".")):
        raise FilterSyntaxError(f"{text!r} is not an attribute path (attr or attr.subAttr).")
    return AttrPath(attr, sub or None, uri)


class _Parser:
    def __init__(self, text: str) -> None:
        if len(text) > MAX_FILTER_LENGTH:
            raise FilterSyntaxError(
                f"The expression is longer than {MAX_FILTER_LENGTH} characters."
            )
        self.tokens = tokenize(text)
        self.index = 0
        self.depth = 0

    def peek(self) -> Token | None:
        return self.tokens[self.index] if self.index < len(self.tokens) else None

    def peek_word(self) -> str | None:
        token = self.peek()
        return token.text.lower() if token is not None and token.kind == "word" else None

    def take(self) -> Token:
        token = self.peek()
        if token is None:
            raise FilterSyntaxError("The expression ends too early.")
        self.index += 1
        return token

    def expect(self, text: str) -> None:
        token = self.peek()
        if token is None or token.text != text:
            found = f"{token.text!r} at position {token.pos + 1}" if token else "the end"
            raise FilterSyntaxError(f"Expected {text!r} but found {found}.")
        self.index += 1

    def done(self) -> None:
        token = self.peek()
        if token is not None:
            raise FilterSyntaxError(
                f"Unexpected {token.text!r} at position {token.pos + 1}; "
                "join expressions with 'and' or 'or'."
            )

    # filter := and_expr ("or" and_expr)*
    def filter(self, *, nested: bool = False) -> Node:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise FilterSyntaxError(f"The expression nests deeper than {MAX_DEPTH} levels.")
        node = self.and_expr(nested)
        while self.peek_word() == "or":
            self.take()
            node = Or(node, self.and_expr(nested))
        self.depth -= 1
        return node

    # and_expr := unary ("and" unary)*
    def and_expr(self, nested: bool) -> Node:
        node = self.unary(nested)
        while self.peek_word() == "and":
            self.take()
            node = And(node, self.unary(nested))
        return node

    # unary := "not" "(" filter ")" | "(" filter ")" | attrExp | valuePath
    def unary(self, nested: bool) -> Node:
        token = self.peek()
        if token is None:
            raise FilterSyntaxError("The expression ends too early: expected an attribute.")
        if token.kind == "word" and token.text.lower() == "not":
            after = self.tokens[self.index + 1] if self.index + 1 < len(self.tokens) else None
            if after is not None and after.text == "(":
                self.take()
                self.expect("(")
                node = self.filter(nested=nested)
                self.expect(")")
                return Not(node)
        if token.text == "(":
            self.take()
            node = self.filter(nested=nested)
            self.expect(")")
            return node
        path = self.attr_path()
        following = self.peek()
        if following is not None and following.text == "[":
            if nested:
                raise FilterSyntaxError(
                    f"A value filter cannot contain another one (at position {following.pos + 1})."
                )
            if path.sub:
                raise FilterSyntaxError(f"Write {path.attr}[...] before .{path.sub}.")
            self.take()
            inner = self.filter(nested=True)
            self.expect("]")
            after = self.peek()
            if after is not None and after.kind == "subattr":
                # emails[type eq "work"].value eq "x": not in RFC 7644's grammar, but
                # what Entra ID sends to match on an address; the same as
                # emails[type eq "work" and value eq "x"].
                self.take()
                inner = And(inner, self.attr_exp(_split_path(after.text[1:])))
            return ValuePath(path, inner)
        return self.attr_exp(path)

    def attr_path(self) -> AttrPath:
        token = self.take()
        if token.kind != "word":
            raise FilterSyntaxError(
                f"Expected an attribute name at position {token.pos + 1}, found {token.text!r}."
            )
        return _split_path(token.text)

    def attr_exp(self, path: AttrPath) -> Compare:
        token = self.peek()
        if token is None:
            raise FilterSyntaxError(f"An operator must follow {str(path)!r} (eq, co, pr, ...).")
        op = token.text.lower()
        if token.kind != "word" or (op not in COMPARE_OPS and op != "pr"):
            raise FilterSyntaxError(
                f"The operator {token.text!r} is not supported; use eq, ne, co, sw, ew, "
                "gt, ge, lt, le or pr."
            )
        self.take()
        if op == "pr":
            return Compare(path, "pr")
        return Compare(path, op, self.comp_value())

    def comp_value(self) -> Any:
        token = self.peek()
        if token is None:
            raise FilterSyntaxError("A value must follow the operator.")
        self.take()
        if token.kind == "string":
            return json.loads(token.text)
        if token.kind == "number":
            return json.loads(token.text)
        literal = token.text.lower()
        if token.kind == "word" and literal in ("true", "false", "null"):
            return {"true": True, "false": False, "null": None}[literal]
        raise FilterSyntaxError(
            f"Expected a value (a \"string\", a number, true, false or null) at position "
            f"{token.pos + 1}, found {token.text!r}."
        )


def parse_filter(text: str) -> Node:
    """Parse a ``filter`` query parameter; raises FilterSyntaxError with a readable message."""
    if not text.strip():
        raise FilterSyntaxError("The filter is empty.")
    if "\x00" in text:
        raise FilterSyntaxError("The filter contains a NUL character (U+0000); remove it.")
    parser = _Parser(text)
    node = parser.filter()
    parser.done()
    return node


def parse_path(text: str) -> PatchPath:
    """Parse a PATCH ``path`` (RFC 7644 §3.5.2: attrPath / valuePath [subAttr])."""
    if not text.strip():
        raise FilterSyntaxError("The path is empty.")
    if "\x00" in text:
        raise FilterSyntaxError("The path contains a NUL character (U+0000); remove it.")
    parser = _Parser(text)
    path = parser.attr_path()
    token = parser.peek()
    if token is None:
        return PatchPath(path.attr, path.sub, None, path.uri)
    if path.sub or token.text != "[":
        raise FilterSyntaxError(f"Unexpected {token.text!r} at position {token.pos + 1}.")
    parser.take()
    inner = parser.filter(nested=True)
    parser.expect("]")
    sub = None
    token = parser.peek()
    if token is not None and token.kind == "subattr":
        sub = parser.take().text[1:]
    parser.done()
    return PatchPath(path.attr, sub, inner, path.uri)
