"""Typed closures for filter expressions: what each operator and function compiles to.

Every builder checks its operands' types (``string``, ``number``, ``bool``,
``list``), raises :class:`ConfigurationError` naming the position on a
mismatch, and returns a :class:`Node` whose ``fn`` computes the value from an
event's column values. A node that reads no name is computed once, here
(constant folding), so literal regexes and CIDRs are parsed at build time.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

from d8a.errors import ConfigurationError, D8AError
from d8a.sessions.expression_values import (
    as_text,
    dynamic_regex,
    in_cidr,
    in_network,
    literal_network,
)

__all__ = [
    "FUNCTIONS",
    "MAX_DEPTH",
    "NEGATABLE",
    "NO",
    "EvaluationError",
    "Evaluator",
    "Node",
    "binary",
    "call",
    "constant",
    "negation",
    "sign",
    "variable",
]

Evaluator = Callable[[Mapping[str, Any]], Any]
"""A compiled (sub-)expression: an event's column values in, a value out."""
MAX_DEPTH = 64
"""Deepest nesting accepted, so that evaluating never nears the recursion limit."""
NO: Any = object()
"""``Node.const`` of a node that is not a constant."""
NEGATABLE = frozenset(("in", "matches", "contains", "startsWith", "endsWith"))
"""Operators that also come as ``not in``, ``not matches``, ..."""
FUNCTIONS: dict[str, str] = {
    "startsWith": "startsWith",
    "starts_with": "startsWith",
    "hasPrefix": "startsWith",
    "endsWith": "endsWith",
    "ends_with": "endsWith",
    "hasSuffix": "endsWith",
    "contains": "contains",
    "matches": "matches",
    "lower": "lower",
    "upper": "upper",
    "inCidr": "inCidr",
    "in_cidr": "inCidr",
}
"""Function names accepted in expressions -> the function they call."""

_COMPARE = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}
_STRING_TESTS: dict[str, Callable[[str, str], bool]] = {
    "contains": operator.contains,
    "startsWith": str.startswith,
    "endsWith": str.endswith,
}


class EvaluationError(D8AError):
    """An expression failed on one event's values (a regex built from them that does
    not compile). Traffic filters count that as no match; it never leaves them."""


class Node(NamedTuple):
    """A compiled sub-expression and what is known of it when compiling."""

    fn: Evaluator
    type: str
    """``string``, ``number``, ``bool`` or ``list``."""
    const: Any = NO
    depth: int = 1
    items: tuple[Node, ...] = ()
    """A list's items, or the operands of a flattened ``and``/``or``."""
    op: str = ""


def _error(message: str, pos: int) -> ConfigurationError:
    return ConfigurationError(f"{message} at position {pos}")


def constant(value: Any, type_: str) -> Node:
    """A literal."""
    return Node(lambda values: value, type_, value)


def variable(name: str) -> Node:
    """A column value as text (``""`` when absent)."""

    def read(values: Mapping[str, Any]) -> str:
        value = values.get(name)
        return value if type(value) is str else as_text(value)

    return Node(read, "string")


def negation(operand: Node, pos: int, word: str = "not") -> Node:
    """``not x`` / ``!x``: x must be a boolean."""
    if operand.type != "bool":
        raise _error(
            f"'{word}' needs a boolean, not a {operand.type} (it binds tighter than "
            "comparisons: write not (a == b), a != b or a not in [...])",
            pos,
        )
    fn = operand.fn
    return _fold(Node(lambda v: not fn(v), "bool", NO, operand.depth + 1))


def sign(op: str, operand: Node, pos: int) -> Node:
    """``-x`` / ``+x``: x must be a number."""
    if operand.type != "number":
        raise _error(f"unary {op!r} needs a number, not a {operand.type}", pos)
    if op == "+":
        return operand
    fn = operand.fn
    return _fold(Node(lambda v: -fn(v), "number", NO, operand.depth + 1))


def call(name: str, args: list[Node], pos: int) -> Node:
    """A function call; ``name`` must be in :data:`FUNCTIONS`."""
    function = FUNCTIONS.get(name)
    if function is None:
        raise _error(f"unknown function {name!r} (known: {', '.join(sorted(FUNCTIONS))})", pos)
    arity = 1 if function in ("lower", "upper") else 2
    if len(args) != arity:
        raise _error(f"{name}() takes {arity} argument(s), not {len(args)}", pos)
    _check_strings(name, args, pos)
    if arity == 2:
        return _string_test(function, args[0], args[1], pos)
    method, text = (str.lower if function == "lower" else str.upper), args[0].fn
    return _fold(Node(lambda v: method(text(v)), "string", NO, args[0].depth + 1))


def binary(op: str, left: Node, right: Node, pos: int) -> Node:
    """``left op right`` for every binary operator (``not in`` etc. are negated after)."""
    if (right.type == "list" and op != "in") or left.type == "list":
        raise _error(f"a list can only follow 'in', not {op!r}", pos)
    if op in ("or", "||", "and", "&&"):
        return _logical("or" if op in ("or", "||") else "and", left, right, pos)
    depth = 1 + max(left.depth, right.depth)
    if depth > MAX_DEPTH:
        raise _error("expression nested too deeply", pos)
    if op == "in":
        return _membership(left, right, pos)
    if op in NEGATABLE:
        _check_strings(op, [left, right], pos)
        return _string_test(op, left, right, pos)
    if left.type != right.type:
        raise _error(f"cannot compare a {left.type} with a {right.type} ({op!r})", pos)
    fa, fb = left.fn, right.fn
    fn: Evaluator
    if op in ("==", "!="):
        equal, constant_ = op == "==", right.const
        if constant_ is not NO:
            fn = lambda v: (fa(v) == constant_) is equal  # noqa: E731 - a closure, named once
        else:
            fn = lambda v: (fa(v) == fb(v)) is equal  # noqa: E731 - a closure, named once
        return _fold(Node(fn, "bool", NO, depth))
    if left.type == "bool":
        raise _error(f"{op!r} needs numbers or strings, not booleans", pos)
    compare = _COMPARE[op]
    return _fold(Node(lambda v: compare(fa(v), fb(v)), "bool", NO, depth))


def _check_strings(name: str, args: list[Node], pos: int) -> None:
    for arg in args:
        if arg.type != "string":
            raise _error(f"{name!r} needs strings, not a {arg.type}", pos)


def _string_test(function: str, left: Node, right: Node, pos: int) -> Node:
    fa, fb, depth = left.fn, right.fn, 1 + max(left.depth, right.depth)
    literal = right.const
    if function == "matches":
        if literal is NO:
            return Node(lambda v: _search(dynamic_regex(fb(v)), fa(v)), "bool", NO, depth)
        try:
            search = re.compile(literal).search
        except (re.error, OverflowError, RecursionError) as exc:
            reason = getattr(exc, "msg", None) or str(exc)
            raise _error(f"invalid regex {literal!r}: {reason}", pos) from None
        return _fold(Node(lambda v: search(fa(v)) is not None, "bool", NO, depth))
    if function == "inCidr":
        if literal is NO:
            return Node(lambda v: in_cidr(fa(v), fb(v)), "bool", NO, depth)
        network = literal_network(literal)
        if network is None:
            raise _error(f"invalid CIDR {literal!r}", pos)
        return _fold(Node(lambda v: in_network(fa(v), network), "bool", NO, depth))
    test = _STRING_TESTS[function]
    if literal is not NO:
        return _fold(Node(lambda v: test(fa(v), literal), "bool", NO, depth))
    return _fold(Node(lambda v: test(fa(v), fb(v)), "bool", NO, depth))


def _search(pattern: re.Pattern[str] | None, text: str) -> bool:
    if pattern is None:
        raise EvaluationError("the regex made from the event's values does not compile")
    return pattern.search(text) is not None


def _logical(op: str, left: Node, right: Node, pos: int) -> Node:
    if left.type != "bool" or right.type != "bool":
        bad = left.type if left.type != "bool" else right.type
        raise _error(f"{op!r} needs booleans, not a {bad}", pos)
    # a or b or c is one node over three operands: a long chain stays shallow
    operands = tuple(
        item for node in (left, right) for item in (node.items if node.op == op else (node,))
    )
    fn = (_either if op == "or" else _both)(tuple(node.fn for node in operands))
    depth = 1 + max(node.depth for node in operands)
    if depth > MAX_DEPTH:
        raise _error("expression nested too deeply", pos)
    return _fold(Node(fn, "bool", NO, depth, operands, op))


def _either(fns: tuple[Evaluator, ...]) -> Evaluator:
    if len(fns) == 2:  # the common case, without a generator
        first, second = fns
        return lambda v: first(v) or second(v)
    return lambda v: any(f(v) for f in fns)


def _both(fns: tuple[Evaluator, ...]) -> Evaluator:
    if len(fns) == 2:
        first, second = fns
        return lambda v: first(v) and second(v)
    return lambda v: all(f(v) for f in fns)


def _membership(left: Node, right: Node, pos: int) -> Node:
    if right.type != "list":
        raise _error(f'\'in\' needs a list like ["a", "b"], not a {right.type}', pos)
    for item in right.items:
        if item.type != left.type:
            raise _error(f"a {left.type} is never in a list of {item.type}s", pos)
    fa, depth = left.fn, 1 + max(left.depth, right.depth)
    if all(item.const is not NO for item in right.items):
        members = frozenset(item.const for item in right.items)
        return _fold(Node(lambda v: fa(v) in members, "bool", NO, depth))
    fns = tuple(item.fn for item in right.items)

    def any_equal(values: Mapping[str, Any]) -> bool:
        value = fa(values)
        return any(fn(values) == value for fn in fns)

    return Node(any_equal, "bool", NO, depth)


class _ReadsAName(Exception):
    pass


class _Probe(dict[str, Any]):
    """Values that refuse to be read: evaluating against them finds constants."""

    def get(self, *args: Any) -> Any:
        raise _ReadsAName


_PROBE = _Probe()


def _fold(node: Node) -> Node:
    """``node``, computed now if it reads no name (all it needs is constants)."""
    try:
        value = node.fn(_PROBE)
    except _ReadsAName:
        return node
    return Node(lambda values: value, node.type, value, node.depth, node.items, node.op)
