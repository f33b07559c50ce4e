"""A safe evaluator for the ConvFinQA Program-of-Thoughts snippets (``x0 = 60.94 - 25.14; ans = x0 / 25.14``).

The snippets are parsed with :mod:`ast` and only a whitelist is evaluated: assignments to plain names,
numbers, ``+ - * /``, unary minus/plus, parentheses, one comparison (``>``, ``<``, ``>=``, ``<=``, ``==``,
``!=``, giving ``yes``/``no``) and names assigned earlier. A number written with a percent sign
(``13.4%``) means ``13.4 / 100``, as in the official ConvFinQA executor. Nothing is ever ``exec``-ed.
"""

from __future__ import annotations

import ast
import operator
import re

_BINARY = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv}
_COMPARE = {
    ast.Gt: operator.gt,
    ast.Lt: operator.lt,
    ast.GtE: operator.ge,
    ast.LtE: operator.le,
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
}
_PERCENT = re.compile(r"(\d+(?:\.\d+)?|\.\d+)\s*%")
_THOUSANDS = re.compile(r"(?<=\d),(?=\d{3}(?!\d))")
MAX_PROGRAM_CHARS = 2000


class ProgramError(ValueError):
    """A snippet is not in the supported arithmetic subset, or fails to evaluate (e.g. division by zero)."""


def _prepare(source: str) -> str:
    source = _THOUSANDS.sub("", source)
    return _PERCENT.sub(r"(\1 / 100)", source)


def _eval(node: ast.AST, names: dict[str, float | bool]) -> float | bool:
    if isinstance(node, ast.Constant) and isinstance(node.value, int | float) and not isinstance(node.value, bool):
        return float(node.value)
    if isinstance(node, ast.Name):
        if node.id not in names:
            raise ProgramError(f"name '{node.id}' is used before it is assigned")
        return names[node.id]
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
        value = _eval(node.operand, names)
        if isinstance(value, bool):
            raise ProgramError("arithmetic on a yes/no value")
        return -value if isinstance(node.op, ast.USub) else value
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        left, right = _eval(node.left, names), _eval(node.right, names)
        if isinstance(left, bool) or isinstance(right, bool):
            raise ProgramError("arithmetic on a yes/no value")
        try:
            return _BINARY[type(node.op)](left, right)
        except ZeroDivisionError:
            raise ProgramError("division by zero") from None
    if isinstance(node, ast.Compare) and len(node.ops) == 1 and type(node.ops[0]) in _COMPARE:
        left, right = _eval(node.left, names), _eval(node.comparators[0], names)
        return bool(_COMPARE[type(node.ops[0])](left, right))
    raise ProgramError(f"unsupported syntax: {ast.dump(node)[:60]}")


def evaluate_program(source: str, result_name: str = "ans") -> float | bool:
    """Evaluate one snippet and return the value of ``ans`` (a float, or a bool for comparisons).

    Raises:
        ProgramError: the snippet uses anything outside the whitelist, or never assigns ``ans``.
    """
    if len(source) > MAX_PROGRAM_CHARS:
        raise ProgramError(f"program longer than {MAX_PROGRAM_CHARS} characters")
    try:
        tree = ast.parse(_prepare(source), mode="exec")
    except SyntaxError as exc:
        raise ProgramError(f"not an arithmetic program ({exc.msg})") from None
    names: dict[str, float | bool] = {}
    for statement in tree.body:
        if not (
            isinstance(statement, ast.Assign)
            and len(statement.targets) == 1
            and isinstance(statement.targets[0], ast.Name)
        ):
            raise ProgramError("only assignments like 'x0 = 1 + 2' are allowed")
        names[statement.targets[0].id] = _eval(statement.value, names)
    if result_name not in names:
        raise ProgramError(f"the program never assigns '{result_name}'")
    return names[result_name]
