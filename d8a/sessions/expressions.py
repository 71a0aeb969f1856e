"""Filter expressions: the part of expr-lang the original's docs show, compiled to closures.

:func:`compile_expression` tokenizes and parses an expression once (a Pratt
parser with expr-lang's precedences) and returns an :class:`Expression` whose
``evaluate(values)`` is a tree of plain closures over an event's column values.
Nothing is ever handed to Python's ``eval``, ``exec`` or ``compile``.

Grammar, loosest binding first (binary operators are left-associative)::

    or  ||                                                   10
    and &&                                                   15
    == != < <= > >= in matches contains startsWith endsWith  20
        (the last five also as "not in", "not matches", ...)
    not !      prefix; binds tighter than ==, as in expr-lang 50
    - +        prefix, numbers                               90
    atoms: "text" 'text' `raw`, 12 3.5 1e3, true false, [items], (expr),
           name, function(args)

Functions (see :data:`FUNCTIONS`): ``startsWith`` (``starts_with``,
``hasPrefix``), ``endsWith`` (``ends_with``, ``hasSuffix``), ``contains``,
``matches`` (``re.search``), ``lower``, ``upper``, ``inCidr`` (``in_cidr``).

Every name is a string (the column value as text, ``""`` when absent), so all
types are known when compiling, and these are :class:`ConfigurationError`
there: a syntax error, an unknown name or function, a type error
(``not ip_address``, ``ip_address < 3``), a literal regex or CIDR that does
not parse, and a result that is not a boolean. At run time only a regex made
from event values can fail; that raises :class:`EvaluationError`.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any, NamedTuple

from d8a.errors import ConfigurationError
from d8a.sessions.expression_lexer import Token, tokenize, unescape
from d8a.sessions.expression_nodes import (
    FUNCTIONS,
    MAX_DEPTH,
    NEGATABLE,
    NO,
    EvaluationError,
    Evaluator,
    Node,
    binary,
    call,
    constant,
    negation,
    sign,
    variable,
)

__all__ = ["FUNCTIONS", "EvaluationError", "Evaluator", "Expression", "compile_expression"]

_BINARY = {"or": 10, "||": 10, "and": 15, "&&": 15}
_BINARY.update(dict.fromkeys(("==", "!=", "<", "<=", ">", ">=", *NEGATABLE), 20))
_UNARY_NOT = 50
_UNARY_SIGN = 90
_RESERVED = frozenset((*_BINARY, "not", "true", "false", "nil"))


class Expression(NamedTuple):
    """A compiled boolean expression; ``evaluate`` keeps no state and may be shared
    between threads."""

    source: str
    names: frozenset[str]
    """The names the expression reads."""
    evaluate: Evaluator
    """``evaluate(event.values)`` returns True or False, or raises EvaluationError."""


def compile_expression(source: str, names: Collection[str]) -> Expression:
    """Compile the boolean expression ``source``, which may read ``names``.

    Raises ConfigurationError saying what is wrong and at which character;
    callers add which setting the expression came from."""
    if not isinstance(source, str):
        raise ConfigurationError(f"an expression must be a string, not {source!r}")
    parser = _Parser(source, names)
    node = parser.parse()
    if node.type != "bool":
        raise ConfigurationError(f"the expression gives a {node.type}, not true or false")
    return Expression(source, frozenset(parser.used), node.fn)


class _Parser:
    """A Pratt parser over the tokens; each rule returns a typed, compiled Node."""

    def __init__(self, source: str, names: Collection[str]) -> None:
        self.tokens = tokenize(source)
        self.index = 0
        self.depth = 0
        self.names = names
        self.used: set[str] = set()

    def error(self, message: str, token: Token) -> ConfigurationError:
        return ConfigurationError(f"{message} at position {token.pos}")

    def peek(self, ahead: int = 0) -> Token:
        return self.tokens[min(self.index + ahead, len(self.tokens) - 1)]

    def next(self) -> Token:
        token = self.tokens[self.index]
        self.index = min(self.index + 1, len(self.tokens) - 1)
        return token

    def accept(self, text: str) -> bool:
        token = self.peek()
        if token.kind == "op" and token.text == text:
            self.next()
            return True
        return False

    def expect(self, text: str) -> None:
        if not self.accept(text):
            token = self.peek()
            raise self.error(f"expected {text!r}, found {token.describe()}", token)

    def parse(self) -> Node:
        if self.peek().kind == "end":
            raise self.error("empty expression", self.peek())
        node = self.expression(0)
        if self.peek().kind != "end":
            raise self.error(f"unexpected {self.peek().describe()}", self.peek())
        return node

    def expression(self, min_precedence: int) -> Node:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise self.error("expression nested too deeply", self.peek())
        left = self.prefix()
        while True:
            token = self.peek()
            op = token.text if token.kind in ("op", "name") else ""
            negate = op == "not"
            if negate:
                following = self.peek(1)
                if following.kind != "name" or following.text not in NEGATABLE:
                    raise self.error(f"unexpected {following.describe()} after 'not'", following)
                op = following.text
            precedence = _BINARY.get(op)
            if precedence is None or precedence < min_precedence:
                break
            self.next()
            if negate:
                self.next()
            right = self.expression(precedence + 1)
            left = binary(op, left, right, token.pos)
            if negate:
                left = negation(left, token.pos)
        self.depth -= 1
        return left

    def prefix(self) -> Node:
        token = self.next()
        kind, text = token.kind, token.text
        if kind == "number":
            try:
                value: Any = float(text) if any(c in text for c in ".eE") else int(text)
            except ValueError:  # more digits than int() takes
                raise self.error(f"number {text[:20]}... is too long", token) from None
            return constant(value, "number")
        if kind == "string":
            try:
                return constant(unescape(text), "string")
            except ValueError as exc:
                raise self.error(f"string {text[:40]}: {exc}", token) from None
        if kind == "name":
            if text in ("true", "false"):
                return constant(text == "true", "bool")
            if text == "not":
                return negation(self.expression(_UNARY_NOT), token.pos)
            if self.peek().kind == "op" and self.peek().text == "(":
                return call(text, self.arguments(), token.pos)
            return self.variable(token)
        if text == "!":
            return negation(self.expression(_UNARY_NOT), token.pos, "!")
        if text in ("-", "+"):
            operand = self.expression(_UNARY_SIGN)
            return sign(text, operand, token.pos)
        if text == "(":
            node = self.expression(0)
            self.expect(")")
            return node
        if text == "[":
            items = self.items("]")
            if any(item.type == "list" for item in items):
                raise self.error("lists cannot be nested", token)
            depth = 1 + max((item.depth for item in items), default=0)
            return Node(_never, "list", NO, depth, tuple(items))
        raise self.error(f"unexpected {token.describe()}", token)

    def arguments(self) -> list[Node]:
        self.expect("(")
        return self.items(")")

    def items(self, closing: str) -> list[Node]:
        """Comma-separated expressions up to ``closing`` (a trailing comma is allowed)."""
        items: list[Node] = []
        while not self.accept(closing):
            items.append(self.expression(0))
            if not self.accept(","):
                self.expect(closing)
                break
        return items

    def variable(self, token: Token) -> Node:
        name = token.text
        if name in _RESERVED:
            raise self.error(f"unexpected {name!r}", token)
        if name not in self.names:
            listed = ", ".join(self.names) or "none"
            raise self.error(f"unknown name {name[:40]!r} (filters.fields lists: {listed})", token)
        self.used.add(name)
        return variable(name)


def _never(values: object) -> Any:  # pragma: no cover - lists are only read by 'in'
    raise AssertionError("a list is only ever the right side of 'in'")
