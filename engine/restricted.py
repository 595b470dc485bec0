"""Compile diagram code with RestrictedPython and run it under a time limit.

``compile_code`` refuses what RestrictedPython allows but a time limit cannot bound (``finally``,
bare or computed ``except``, ``class``: code that could run while the stop unwinds, since CPython
switches a trace function off once it has raised) and imports, and puts the size guards of
``engine.guards`` around ``**``, ``*``, ``<<`` and ``+``. ``run_code`` runs the result with a trace
function that stops it after its time, with a stop that ``except Exception`` does not catch.
"""

from __future__ import annotations

import ast
import functools
import sys
import time
from types import CodeType, FrameType
from typing import Any

from RestrictedPython import RestrictingNodeTransformer
from RestrictedPython.compile import compile_restricted_eval, compile_restricted_exec

from .errors import SandboxError
from .guards import BINOP_GUARDS, BUILT

# SpiffWorkflow finds the failing line of a script by looking for this file name in the traceback.
FILENAME = "<string>"
# Reading the clock on every trace event would double the cost of tracing; 200 events take microseconds.
_CHECK_EVERY = 200


class _TimeLimitExceeded(BaseException):
    """Raised by the tracer; not an Exception, so that ``except Exception`` in diagram code cannot stop it."""


class _Policy(RestrictingNodeTransformer):  # type: ignore[misc]
    """RestrictedPython's policy, plus size guards on ``**``, ``*``, ``<<`` and loops the tracer sees."""

    def visit_BinOp(self, node: ast.BinOp) -> ast.AST:
        node = self.node_contents_visit(node)
        guard = BINOP_GUARDS.get(type(node.op))
        if guard is None:
            return node
        call = ast.Call(func=ast.Name(guard, ast.Load()), args=[node.left, node.right], keywords=[])
        return ast.fix_missing_locations(ast.copy_location(call, node))

    def visit_While(self, node: ast.While) -> ast.AST:
        # CPython 3.11 emits no trace event for a loop that jumps to itself ("while True: pass");
        # loading a name first gives every iteration a backward jump that the tracer sees.
        node = self.node_contents_visit(node)
        tick = ast.Expr(ast.Name("_sandbox_tick_", ast.Load()))
        node.body.insert(0, ast.fix_missing_locations(ast.copy_location(tick, node)))
        return node


def _check_tree(tree: ast.AST) -> None:
    """Refuse what RestrictedPython allows but the sandbox cannot bound in time, and imports."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import | ast.ImportFrom):
            raise SandboxError(f"import is not allowed in a diagram expression: {ast.unparse(node)!r}")
        if isinstance(node, ast.ClassDef):
            raise SandboxError(f"class definitions are not allowed in a diagram script: 'class {node.name}'")
        if isinstance(node, ast.Try) and node.finalbody:
            raise SandboxError("'finally' blocks are not allowed in a diagram script")
        if isinstance(node, ast.ExceptHandler):
            if node.type is None:
                raise SandboxError("a bare 'except:' is not allowed in a diagram script; name the exceptions")
            names = node.type.elts if isinstance(node.type, ast.Tuple) else [node.type]
            if not all(isinstance(name, ast.Name) for name in names):
                raise SandboxError(
                    f"'except {ast.unparse(node.type)}' is not allowed in a diagram script; "
                    "name the exception types directly"
                )


@functools.lru_cache(maxsize=2048)
def compile_code(source: str, mode: str) -> CodeType:
    # A plain syntax error stays a SyntaxError: it is a mistake in the script, not a refusal.
    tree = ast.parse(source, FILENAME, mode)
    _check_tree(tree)
    compiler = compile_restricted_eval if mode == "eval" else compile_restricted_exec
    result = compiler(tree, FILENAME, policy=_Policy)
    if result.errors:
        raise SandboxError("diagram code refused by the sandbox: " + "; ".join(result.errors))
    code: CodeType = result.code
    return code


def run_code(code: CodeType, namespace: dict[str, Any], timeout: float, kind: str) -> Any:
    deadline = time.monotonic() + timeout
    countdown = _CHECK_EVERY

    def tracer(frame: FrameType, event: str, arg: object) -> Any:
        nonlocal countdown
        countdown -= 1
        if countdown <= 0:
            countdown = _CHECK_EVERY
            if time.monotonic() > deadline:
                raise _TimeLimitExceeded
        return tracer

    previous = sys.gettrace()
    budget = BUILT.set([0])
    sys.settrace(tracer)
    try:
        return eval(code, namespace)
    except _TimeLimitExceeded:
        message = f"the diagram {kind} exceeded the time limit of {timeout:g} s and was stopped"
        raise SandboxError(message) from None
    finally:
        sys.settrace(previous)
        BUILT.reset(budget)
