"""Which diagram code is plain enough to run in the engine's own process instead of a script host.

A plain expression reads and compares data and computes with it, but calls nothing that could run
away; a plain script is assignments to names and ``if``s of such expressions, without loops. Each of
its operations is bounded by the guards (``engine.guards``) and by the budget of what one run may build.
"""

from __future__ import annotations

import ast
import functools

from .restricted import FILENAME

__all__ = ["is_plain", "is_plain_script"]

# What an expression may contain to run in the engine's own process: it reads and compares data and
# computes with it, but calls nothing that could run away (a call other than len(), a comprehension,
# a lambda, a format width or %-formatting go to a script host).
_PLAIN_NODES = (
    ast.Expression, ast.Name, ast.Load, ast.Constant, ast.Compare, ast.BoolOp, ast.And, ast.Or,
    ast.UnaryOp, ast.Not, ast.USub, ast.UAdd, ast.Subscript, ast.Slice, ast.Tuple, ast.List, ast.Dict,
    ast.Set, ast.IfExp, ast.Attribute, ast.BinOp, ast.Add, ast.Sub, ast.Mult, ast.Div, ast.FloorDiv,
    ast.Eq, ast.NotEq, ast.Lt, ast.LtE, ast.Gt, ast.GtE, ast.Is, ast.IsNot, ast.In, ast.NotIn,
)  # fmt: skip


# And a script, to run here: assignments and ifs of such expressions, no loop (so no more statements
# run than it has, each bounded by the guards and the per-run budget of what it may build).
_PLAIN_STATEMENTS = (
    ast.Module, ast.Assign, ast.AugAssign, ast.If, ast.Pass, ast.Expr, ast.Store, ast.Mod, ast.Pow,
    ast.BitAnd, ast.BitOr, ast.BitXor,
)  # fmt: skip


@functools.lru_cache(maxsize=4096)
def is_plain(expression: str) -> bool:
    return _plain(expression, "eval", _PLAIN_NODES)


@functools.lru_cache(maxsize=4096)
def is_plain_script(script: str) -> bool:
    return _plain(script, "exec", _PLAIN_NODES + _PLAIN_STATEMENTS)


def _plain(code: str, mode: str, allowed: tuple[type[ast.AST], ...]) -> bool:
    try:
        tree = ast.parse(code, FILENAME, mode)
    except SyntaxError:
        return False  # the host names the error as the script's own
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            if not (isinstance(node.func, ast.Name) and node.func.id == "len" and not node.keywords):
                return False
        elif isinstance(node, ast.Assign | ast.AugAssign):
            # Names only: a plain script never changes a container it did not make, so the data as it
            # was before the script is still there when what the script left cannot be stored.
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if not all(isinstance(t, ast.Name) for t in targets):
                return False
        elif isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mod) and not _numeric(node.left):
            return False  # %-formatting of a string: its widths are C-level work (a host runs it)
        elif not isinstance(node, allowed):
            return False
    return True


def _numeric(node: ast.AST) -> bool:
    return isinstance(node, ast.Constant) and isinstance(node.value, int | float)
