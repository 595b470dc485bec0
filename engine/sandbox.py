"""Run every expression and script of a BPMN/DMN diagram in a RestrictedPython sandbox with a time limit.

SpiffWorkflow evaluates script tasks, gateway conditions, timer expressions, DMN entries and
service-task parameters with plain ``exec``/``eval``, so ``import os`` would work in a diagram.
``SandboxedEnvironment`` replaces that environment: code is compiled with RestrictedPython (restricted
globals alone are escapable), attribute access goes through a guard that refuses every name starting
with ``_`` and the frame/generator/code internals, and there is no ``import``, ``open``, ``eval``,
``exec``, ``compile``, ``globals``, ``vars``, ``type``, ``str.format`` or ``string.Formatter``.
Every refusal raises ``SandboxError``; ordinary errors in diagram code (``NameError``,
``ZeroDivisionError``...) keep their own type.

What is bounded:
- wall time of Python-level work (loops, comprehensions, recursion, helper functions): a trace
  function checks a deadline and stops the code with ``SandboxError``. Because CPython disables a
  trace function once it has raised, the code that could run while that exception unwinds is
  refused at compile time: ``finally`` blocks, bare ``except:``, computed ``except`` clauses and
  ``class`` statements. The stop is not catchable by ``except Exception`` in diagram code.
- single C-level operations that would run or allocate without end: ``range`` longer than
  ``MAX_RANGE_LENGTH``, ``**``/``pow``/``*``/``<<`` whose integer result would exceed ``MAX_INT_BITS``,
  and sequence repetition (``"a" * n``, ``[0] * n``) beyond ``MAX_SEQUENCE_LENGTH`` items.

What is not bounded: nothing in-process stops all CPU or memory exhaustion. A single C call can
still run long or allocate much, e.g. ``str.ljust``/``zfill``/``replace`` with huge sizes,
``int.to_bytes(10**10)``, ``sum(list_of_lists, [])``, or ``sorted`` over a large list built within
the limits. Run workers with an OS memory limit and a supervisor for the rest.
"""

from __future__ import annotations

import ast
import copy
import functools
import operator
import sys
import time
from collections.abc import Callable
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from types import CodeType, FrameType
from typing import Any

from RestrictedPython import (
    PrintCollector,
    RestrictingNodeTransformer,
    compile_restricted_eval,
    compile_restricted_exec,
    safe_builtins,
)
from RestrictedPython.Guards import guarded_iter_unpack_sequence, guarded_unpack_sequence, safer_getattr
from RestrictedPython.transformer import INSPECT_ATTRIBUTES
from SpiffWorkflow.bpmn.script_engine.python_environment import TaskDataEnvironment

from .errors import SandboxError

__all__ = [
    "DEFAULT_TIMEOUT_SECONDS",
    "MAX_INT_BITS",
    "MAX_RANGE_LENGTH",
    "MAX_SEQUENCE_LENGTH",
    "SandboxedEnvironment",
    "evaluate_expression",
]

DEFAULT_TIMEOUT_SECONDS = 2.0
MAX_RANGE_LENGTH = 1_000_000
MAX_SEQUENCE_LENGTH = 10_000_000
MAX_INT_BITS = 1_000_000

# SpiffWorkflow finds the failing line of a script by looking for this file name in the traceback.
_FILENAME = "<string>"
# time.monotonic() per trace event would double the tracing cost; a few hundred events take microseconds.
_CHECK_EVERY = 200
_BLOCKED_ATTRIBUTES = INSPECT_ATTRIBUTES | {"mro", "format", "format_map"}
_SEQUENCES = (str, bytes, list, tuple)


class _TimeLimitExceeded(BaseException):
    """Raised by the tracer; a BaseException so that ``except Exception`` in diagram code cannot stop it."""


def _refuse_attribute(name: str) -> SandboxError:
    if name in ("format", "format_map"):
        return SandboxError(
            f"access to {name!r} is not allowed in a diagram expression "
            "(format fields can reach object internals); use an f-string instead"
        )
    return SandboxError(f"access to {name!r} is not allowed in a diagram expression")


def _guarded_getattr(obj: object, name: str, *default: object) -> object:
    if not isinstance(name, str):
        raise TypeError("attribute name must be a string")
    if name.startswith("_") or name in _BLOCKED_ATTRIBUTES:
        raise _refuse_attribute(name)
    try:
        return safer_getattr(obj, name, *default) if default else getattr(obj, name)
    except NotImplementedError as exc:  # safer_getattr's way of refusing Formatter tricks
        raise SandboxError(f"refused in a diagram expression: {exc}") from None


def _guarded_write(obj: object) -> object:
    # Only plain containers: any other object could have attributes whose writes change behaviour.
    if type(obj) in (dict, list):
        return obj
    raise SandboxError(
        f"changing a {type(obj).__name__!r} object is not allowed in a diagram script "
        "(only dicts and lists can be changed)"
    )


def _guarded_setattr(obj: object, name: str, value: object) -> None:
    if name.startswith("_"):
        raise _refuse_attribute(name)
    setattr(_guarded_write(obj), name, value)


def _guarded_delattr(obj: object, name: str) -> None:
    if name.startswith("_"):
        raise _refuse_attribute(name)
    delattr(_guarded_write(obj), name)


def _guarded_range(*args: int) -> range:
    result = range(*args)
    try:
        length = len(result)
    except OverflowError:
        length = MAX_RANGE_LENGTH + 1
    if length > MAX_RANGE_LENGTH:
        raise SandboxError(f"range() of more than {MAX_RANGE_LENGTH:,} numbers is not allowed in a diagram")
    return result


def _too_large(what: str) -> SandboxError:
    return SandboxError(f"{what} would exceed the sandbox size limit and is not allowed in a diagram")


def _guarded_pow(base: Any, exponent: Any, modulo: Any = None, op: Callable[..., Any] = pow) -> Any:
    if modulo is not None:
        return pow(base, exponent, modulo)  # modular powers stay small
    if (
        isinstance(base, int)
        and isinstance(exponent, int)
        and exponent > 0
        and abs(base) > 1
        and exponent * abs(base).bit_length() > MAX_INT_BITS
    ):
        raise _too_large(f"an integer power with more than {MAX_INT_BITS:,} bits")
    return op(base, exponent)


def _guarded_mul(left: Any, right: Any, op: Callable[[Any, Any], Any] = operator.mul) -> Any:
    if isinstance(left, int) and isinstance(right, int):
        if left.bit_length() + right.bit_length() > MAX_INT_BITS:
            raise _too_large(f"an integer product with more than {MAX_INT_BITS:,} bits")
    else:
        count, seq = (left, right) if isinstance(left, int) else (right, left)
        if isinstance(count, int) and isinstance(seq, _SEQUENCES) and count * len(seq) > MAX_SEQUENCE_LENGTH:
            raise _too_large(f"repeating a sequence to more than {MAX_SEQUENCE_LENGTH:,} items")
    return op(left, right)


def _guarded_lshift(left: Any, right: Any, op: Callable[[Any, Any], Any] = operator.lshift) -> Any:
    if isinstance(left, int) and isinstance(right, int) and left and right > 0:
        if left.bit_length() + right > MAX_INT_BITS:
            raise _too_large(f"an integer shift to more than {MAX_INT_BITS:,} bits")
    return op(left, right)


_INPLACE: dict[str, Callable[[Any, Any], Any]] = {
    "+=": operator.iadd,
    "-=": operator.isub,
    "*=": functools.partial(_guarded_mul, op=operator.imul),
    "/=": operator.itruediv,
    "//=": operator.ifloordiv,
    "%=": operator.imod,
    "**=": functools.partial(_guarded_pow, modulo=None, op=operator.ipow),
    "<<=": functools.partial(_guarded_lshift, op=operator.ilshift),
    ">>=": operator.irshift,
    "&=": operator.iand,
    "|=": operator.ior,
    "^=": operator.ixor,
    "@=": operator.imatmul,
}


def _inplacevar(op: str, target: Any, value: Any) -> Any:
    return _INPLACE[op](target, value)


def _getitem(obj: Any, key: Any) -> Any:
    return obj[key]


def _getiter(obj: object) -> object:
    return obj


def _apply(func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    return func(*args, **kwargs)


def _refuser(name: str) -> Callable[..., Any]:
    def refuse(*args: object, **kwargs: object) -> Any:
        hint = "; use isinstance() instead" if name == "type" else ""
        raise SandboxError(f"{name}() is not allowed in a diagram expression{hint}")

    refuse.__name__ = name
    return refuse


_REFUSED = ("open", "eval", "exec", "compile", "globals", "locals", "vars", "dir", "input", "help", "exit",
            "quit", "breakpoint", "memoryview", "type", "object", "super", "hasattr", "__import__")
_SAFE_NAMES = ("None", "False", "True", "abs", "bool", "callable", "chr", "complex", "divmod", "float",
               "hash", "hex", "int", "isinstance", "issubclass", "len", "oct", "ord", "repr", "round",
               "slice", "str")

_BUILTINS: dict[str, object] = {
    **{name: safe_builtins[name] for name in _SAFE_NAMES},
    # BaseException and its direct children stay out: naming them would let a script catch the time stop.
    **{
        name: value
        for name, value in safe_builtins.items()
        if isinstance(value, type) and issubclass(value, Exception)
    },
    "all": all, "any": any, "dict": dict, "enumerate": enumerate, "filter": filter, "frozenset": frozenset,
    "list": list, "map": map, "max": max, "min": min, "next": next, "reversed": reversed, "set": set,
    "sorted": sorted, "sum": sum, "tuple": tuple, "zip": zip,
    "range": _guarded_range, "pow": _guarded_pow, "getattr": _guarded_getattr,
    "setattr": _guarded_setattr, "delattr": _guarded_delattr,
    "datetime": datetime, "date": date, "timedelta": timedelta, "timezone": timezone, "Decimal": Decimal,
    **{name: _refuser(name) for name in _REFUSED},
}

_GUARDS: dict[str, object] = {
    "__builtins__": _BUILTINS,
    "_getattr_": _guarded_getattr,
    "_getitem_": _getitem,
    "_getiter_": _getiter,
    "_iter_unpack_sequence_": guarded_iter_unpack_sequence,
    "_unpack_sequence_": guarded_unpack_sequence,
    "_write_": _guarded_write,
    "_inplacevar_": _inplacevar,
    "_print_": PrintCollector,
    "_apply_": _apply,
    "_sandbox_pow_": _guarded_pow,
    "_sandbox_mul_": _guarded_mul,
    "_sandbox_lshift_": _guarded_lshift,
}

_BINOP_GUARDS: dict[type[ast.operator], str] = {
    ast.Pow: "_sandbox_pow_",
    ast.Mult: "_sandbox_mul_",
    ast.LShift: "_sandbox_lshift_",
}


class _Policy(RestrictingNodeTransformer):  # type: ignore[misc]
    """RestrictedPython's policy, plus size guards around ``**``, ``*`` and ``<<``."""

    def visit_BinOp(self, node: ast.BinOp) -> ast.AST:
        node = self.node_contents_visit(node)
        guard = _BINOP_GUARDS.get(type(node.op))
        if guard is None:
            return node
        call = ast.Call(func=ast.Name(guard, ast.Load()), args=[node.left, node.right], keywords=[])
        return ast.fix_missing_locations(ast.copy_location(call, node))


def _check_tree(tree: ast.AST) -> None:
    """Refuse what RestrictedPython allows but this sandbox cannot bound or does not want."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import | ast.ImportFrom):
            raise SandboxError(f"import is not allowed in a diagram expression: {ast.unparse(node)!r}")
        if isinstance(node, ast.ClassDef):
            raise SandboxError(f"class definitions are not allowed in a diagram script: 'class {node.name}'")
        # Code that runs while the time-limit exception unwinds is no longer traced, so it must not exist.
        if isinstance(node, ast.Try) and node.finalbody:
            raise SandboxError("'finally' blocks are not allowed in a diagram script")
        if isinstance(node, ast.ExceptHandler):
            if node.type is None:
                raise SandboxError(
                    "a bare 'except:' is not allowed in a diagram script; name the exception types"
                )
            names = node.type.elts if isinstance(node.type, ast.Tuple) else [node.type]
            if not all(isinstance(name, ast.Name) for name in names):
                raise SandboxError(
                    "an 'except' clause in a diagram script must name exception types directly: "
                    f"{ast.unparse(node.type)!r} is not allowed"
                )


@functools.lru_cache(maxsize=2048)
def _compile(source: str, mode: str) -> CodeType:
    # A real syntax error propagates as SyntaxError: it is a script error, not a refusal.
    tree = ast.parse(source, _FILENAME, mode)
    _check_tree(tree)
    compiler = compile_restricted_eval if mode == "eval" else compile_restricted_exec
    result = compiler(tree, _FILENAME, policy=_Policy)
    if result.errors:
        raise SandboxError("diagram code refused by the sandbox: " + "; ".join(result.errors))
    code: CodeType = result.code
    return code


def _run(code: CodeType, namespace: dict[str, Any], timeout: float, kind: str) -> Any:
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
    sys.settrace(tracer)
    try:
        return eval(code, namespace)
    except _TimeLimitExceeded:
        raise SandboxError(
            f"the diagram {kind} exceeded the time limit of {timeout:g} s and was stopped"
        ) from None
    finally:
        sys.settrace(previous)


class SandboxedEnvironment(TaskDataEnvironment):  # type: ignore[misc]
    """A SpiffWorkflow script environment that runs diagram code in the sandbox.

    ``extra_globals`` (helpers such as ``now``) are the environment's globals, with the base class's
    rules: task data may not overwrite them, and they are removed from the task data after a script.
    """

    def __init__(
        self, extra_globals: dict[str, object] | None = None, timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS
    ) -> None:
        if timeout_seconds <= 0:
            raise ValueError("timeout_seconds must be positive")
        super().__init__(dict(extra_globals or {}))
        self.timeout_seconds = timeout_seconds

    def evaluate(
        self, expression: str, context: dict[str, Any], external_context: dict[str, Any] | None = None
    ) -> Any:
        code = _compile(expression.strip(), "eval")
        namespace: dict[str, Any] = copy.copy(self.globals)
        self._prepare_context(context)
        namespace.update(external_context or {})
        namespace.update(context)
        namespace.update(_GUARDS)
        return _run(code, namespace, self.timeout_seconds, "expression")

    def execute(
        self, script: str, context: dict[str, Any], external_context: dict[str, Any] | None = None
    ) -> bool:
        self.check_for_overwrite(context, external_context or {})
        code = _compile(script, "exec")
        my_globals = copy.copy(self.globals)
        self._prepare_context(context)
        my_globals.update(external_context or {})
        context.update(my_globals)
        context.update(_GUARDS)
        try:
            _run(code, context, self.timeout_seconds, "script")
        finally:
            for name in _GUARDS:
                context.pop(name, None)
            self._remove_globals_and_functions_from_context(context, external_context)
        return True


def evaluate_expression(
    expression: str,
    context: dict[str, Any] | None = None,
    extra_globals: dict[str, Any] | None = None,
    *,
    timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
) -> object:
    """Evaluate one diagram expression in the sandbox, without a workflow (deploy-time checks)."""
    environment = SandboxedEnvironment(extra_globals, timeout_seconds)
    return environment.evaluate(expression, dict(context or {}))
