"""The tools every domain shares, with τ-bench's semantics: ``calculate``, ``think`` and
``transfer_to_human_agents``. Each domain registers them in its own registry, at its own place in
the tool order (``TOOLS.think(common.calculate)``), and use :func:`record_lookup` for its own tables.

``calculate`` gives exactly what τ-bench's ``eval``-based calculator gives (results and error
texts), except that an integer power too large to convert to float is refused at once instead of
after minutes of computing it.
"""

from __future__ import annotations

import ast
import operator
import re
import warnings
from collections.abc import Callable, Iterable
from typing import Any

from taurl.core.db import Database, derived_once
from taurl.core.tools import require_record

_ARITHMETIC: dict[type, Callable[..., Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Pow: operator.pow,
    ast.UAdd: operator.pos,
    ast.USub: operator.neg,
}
_MAX_POWER_BITS = 1_000_000
_REFUSE = "_refuse_huge_power"


def _refuse_huge_power() -> None:
    """Stands in for an integer power too large to compute quickly. τ-bench computes it (for minutes)
    and then, when it is the result, fails converting it to float: the same error, at once."""
    raise OverflowError("int too large to convert to float")


def _power_too_large(base: Any, exponent: Any) -> bool:
    """Only integer powers can take unbounded time; floats overflow at once."""
    if not (isinstance(base, int) and isinstance(exponent, int)) or exponent <= 0 or abs(base) <= 1:
        return False
    return exponent * abs(base).bit_length() > _MAX_POWER_BITS


class _ConstantFolder(ast.NodeTransformer):
    """Computes arithmetic on constants bottom-up, so an enormous integer power can be refused first.

    A step that raises is left in the tree: evaluating the tree then raises the very same exception
    in Python's own evaluation order. A refused power becomes a call that raises when reached.
    """

    def _fold(self, node: ast.expr, operands: list[ast.expr], op: ast.AST) -> ast.expr:
        values = [operand.value for operand in operands if isinstance(operand, ast.Constant)]
        if len(values) != len(operands):
            return node
        if isinstance(op, ast.Pow) and _power_too_large(*values):
            return ast.copy_location(ast.Call(ast.Name(_REFUSE, ast.Load()), [], []), node)
        try:
            return ast.copy_location(ast.Constant(_ARITHMETIC[type(op)](*values)), node)
        except Exception:
            return node

    def visit_BinOp(self, node: ast.BinOp) -> ast.expr:
        self.generic_visit(node)
        return self._fold(node, [node.left, node.right], node.op)

    def visit_UnaryOp(self, node: ast.UnaryOp) -> ast.expr:
        self.generic_visit(node)
        return self._fold(node, [node.operand], node.op)


def _evaluate(expression: str) -> Any:
    """Python's value of an arithmetic expression, as ``eval`` without builtins gives it."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SyntaxWarning)
        # eval drops leading blanks before parsing; parsing with eval's file name keeps its error texts
        tree = ast.parse(expression.lstrip(" \t"), "<string>", "eval")
        code = compile(ast.fix_missing_locations(_ConstantFolder().visit(tree)), "<string>", "eval")
    return eval(code, {"__builtins__": None}, {_REFUSE: _refuse_huge_power})


def calculate(db: Database, expression: str) -> str:
    """Evaluate an arithmetic expression and return the result rounded to two decimals.

    Args:
        expression: Numbers combined with +, -, *, / and parentheses, for example '(120 + 85) * 2'.
    """
    if any(char not in "0123456789+-*/(). " for char in expression):
        return "Error: invalid characters in expression"
    try:
        return str(round(float(_evaluate(expression)), 2))
    except Exception as exc:
        return f"Error: {exc}"


def think(db: Database, thought: str) -> str:
    """Write down a line of reasoning. Nothing is looked up and nothing changes.

    Args:
        thought: The reasoning to record.
    """
    return ""


def transfer_to_human_agents(db: Database, summary: str) -> str:
    """Hand the conversation to a human agent, which ends it for you.

    Only do this when the user explicitly asks for a person, or when their request is beyond what
    the available tools can do.

    Args:
        summary: A short account of the user's issue for the human agent.
    """
    return "Transfer successful"


def record_lookup(table: str, what: str) -> Callable[[Database, str], Any]:
    """A lookup of one ``table`` record by key (read-only) that refuses with ``<what> <key> not found``."""

    def lookup(db: Database, key: str) -> Any:
        return require_record(db, table, key, what)

    return lookup


def _highest(keys: Iterable[str], prefix: str) -> int:
    """The highest number of the ``<prefix><digits>`` keys among ``keys`` (0: none)."""
    pattern = re.compile(rf"{re.escape(prefix)}(\d+)")
    return max((int(found.group(1)) for key in keys if (found := pattern.fullmatch(key))), default=0)


def insert_numbered(db: Database, table: str, prefix: str, id_field: str, fields: dict[str, Any]) -> dict[str, Any]:
    """A new ``table`` record, inserted under ``prefix`` and the number after the highest such id, four
    digits at least (O0001, O0002, ...). The seed system's records carry their id twice, as ``id`` and
    as ``id_field``, ahead of ``fields``."""
    records = db[table]
    in_base = derived_once(records.base, ("highest id", prefix), lambda: _highest(records.base, prefix))
    record_id = f"{prefix}{max(in_base, _highest(records.changed, prefix)) + 1:04d}"
    record = {"id": record_id, id_field: record_id, **fields}
    records.insert(record_id, record)
    return record
