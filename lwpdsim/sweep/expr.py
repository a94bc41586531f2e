"""The expression language of a sweep's ``[derived]`` keys: arithmetic on numbers and factor keys.

An expression is parsed with :mod:`ast` and only numbers, factor keys (``cluster.workers``,
``schemes[0].k``, ``schemes[lwpd].k``), ``+ - * / // % **``, unary signs and parentheses are accepted; the result must
be a finite real number. Evaluation is bounded in time: an expression has at most
:data:`MAX_LENGTH` characters, :data:`MAX_NODES` terms and operators and :data:`MAX_DEPTH` levels
of nesting; exponents are at most 256 in size, and no integer along the way may exceed
:data:`MAX_INT_BITS` bits (checked before a product or power is computed).
"""

from __future__ import annotations

import ast
import math
import operator
from collections.abc import Callable, Mapping
from typing import Any


class ExpressionError(ValueError):
    """An expression that is not allowed, refers to no factor, or cannot be computed."""


_BINARY: dict[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}
_UNARY: dict[type[ast.unaryop], Callable[[Any], Any]] = {
    ast.UAdd: operator.pos,
    ast.USub: operator.neg,
}
#: Longest expression text.
MAX_LENGTH = 1000
#: Most numbers, keys and operators in an expression.
MAX_NODES = 200
#: Deepest nesting of operators in an expression.
MAX_DEPTH = 100
#: Largest integer (in bits) an expression may compute along the way (about 300 digits).
MAX_INT_BITS = 1024
_EXPRESSION_HELP = (
    "an arithmetic expression of numbers and factor keys with + - * / // % ** and parentheses, "
    'e.g. "2 * scheme.k"'
)


def compile_expression(text: str) -> ast.Expression:
    """Parse a derived-factor expression, accepting only arithmetic on numbers and factor keys."""
    if len(text) > MAX_LENGTH:
        raise ExpressionError(f"at most {MAX_LENGTH} characters (this one has {len(text)})")
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except (SyntaxError, RecursionError, MemoryError):
        raise ExpressionError(_EXPRESSION_HELP) from None
    _check_size(tree)

    def check(node: ast.AST) -> None:
        if isinstance(node, ast.Expression):
            check(node.body)
        elif isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
            check(node.left)
            check(node.right)
        elif isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
            check(node.operand)
        elif isinstance(node, ast.Constant):
            if isinstance(node.value, bool) or not isinstance(node.value, int | float):
                raise ExpressionError(f"{ast.unparse(node)} is not a number; {_EXPRESSION_HELP}")
            if isinstance(node.value, int) and node.value.bit_length() > MAX_INT_BITS:
                raise ExpressionError(_too_large(_short(node.value)))
        elif isinstance(node, ast.Name | ast.Attribute | ast.Subscript):
            _reference(node)
        else:
            raise ExpressionError(f"{ast.unparse(node)!r} is not allowed; {_EXPRESSION_HELP}")

    check(tree)
    return tree


def _check_size(tree: ast.AST) -> None:
    """Refuse more than :data:`MAX_NODES` nodes or nesting deeper than :data:`MAX_DEPTH` (walked
    without recursion, before anything recursive looks at the tree)."""
    stack = [(tree, 0)]
    nodes = 0
    while stack:
        node, depth = stack.pop()
        if isinstance(node, ast.expr_context | ast.operator | ast.unaryop):
            continue
        nodes += 1
        if nodes > MAX_NODES:
            raise ExpressionError(f"at most {MAX_NODES} numbers, keys and operators")
        if depth > MAX_DEPTH:
            raise ExpressionError(f"operators nested at most {MAX_DEPTH} deep")
        stack.extend((child, depth + 1) for child in ast.iter_child_nodes(node))


def _binary(op: ast.operator, left: Any, right: Any) -> Any:
    """``left op right``, refusing before it is computed a result too large to compute quickly."""
    ints = isinstance(left, int) and isinstance(right, int)
    if isinstance(op, ast.Pow):
        if abs(right) > 256:
            raise ExpressionError(f"exponent {right!r} is too large (at most 256)")
        if ints and right > 0 and (abs(left).bit_length() - 1) * right >= MAX_INT_BITS:
            raise ExpressionError(_too_large(f"{_short(left)} ** {right}"))
    elif (
        isinstance(op, ast.Mult)
        and ints
        and abs(left).bit_length() + abs(right).bit_length() > MAX_INT_BITS + 1
    ):
        raise ExpressionError(_too_large(f"{_short(left)} * {_short(right)}"))
    result = _BINARY[type(op)](left, right)
    if isinstance(result, int) and result.bit_length() > MAX_INT_BITS:
        raise ExpressionError(_too_large("a result"))
    return result


def _too_large(what: str) -> str:
    return f"{what} is too large: integers of at most {MAX_INT_BITS} bits (about 300 digits)"


def _short(value: Any) -> str:
    """A number for a message (huge integers by their size, never all their digits)."""
    if isinstance(value, int) and value.bit_length() > 64:
        return f"(an integer of {value.bit_length()} bits)"
    return repr(value)


def _reference(node: ast.AST) -> str:
    """The factor key a name node spells (``scheme.k``, ``schemes[0].s``, ``schemes[gc].s``)."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{_reference(node.value)}.{node.attr}"
    if isinstance(node, ast.Subscript):
        index = node.slice
        if (
            isinstance(index, ast.Constant)
            and isinstance(index.value, int)
            and not isinstance(index.value, bool)
        ):
            return f"{_reference(node.value)}[{index.value}]"
        if isinstance(index, ast.Name):  # a scheme by name: schemes[lwpd].k
            return f"{_reference(node.value)}[{index.id}]"
    raise ExpressionError(f"{ast.unparse(node)!r} is not allowed; {_EXPRESSION_HELP}")


def references(tree: ast.Expression) -> list[str]:
    """The factor keys an expression refers to, in order."""
    refs: list[str] = []

    def walk(node: ast.AST) -> None:
        if isinstance(node, ast.Name | ast.Attribute | ast.Subscript):
            refs.append(_reference(node))
            return
        for child in ast.iter_child_nodes(node):
            walk(child)

    walk(tree)
    return refs


def evaluate_expression(text: str, values: Mapping[str, Any]) -> int | float:
    """Evaluate a derived-factor expression with the factor values of one grid point."""
    tree = compile_expression(text)

    def ev(node: ast.AST) -> Any:
        if isinstance(node, ast.Expression):
            return ev(node.body)
        if isinstance(node, ast.Constant):
            return node.value
        if isinstance(node, ast.BinOp):
            return _binary(node.op, ev(node.left), ev(node.right))
        if isinstance(node, ast.UnaryOp):
            return _UNARY[type(node.op)](ev(node.operand))
        key = _reference(node)
        if key not in values:
            raise ExpressionError(f"{key!r} has no value here")
        value = values[key]
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ExpressionError(f"{key} = {value!r} is not a number")
        return value

    try:
        result = ev(tree)
    except (ArithmeticError, ValueError, TypeError) as err:
        if isinstance(err, ExpressionError):
            raise
        raise ExpressionError(f"{text!r} cannot be computed: {err}") from None
    if isinstance(result, bool) or not isinstance(result, int | float):
        raise ExpressionError(f"{text!r} gives {_short(result)}, not a real number")
    if isinstance(result, float) and not math.isfinite(result):
        raise ExpressionError(f"{text!r} gives {result!r}")
    return result
