"""Run every expression and script of a BPMN/DMN diagram in a RestrictedPython sandbox with a time limit.

SpiffWorkflow runs script tasks, gateway conditions, timer and DMN expressions and service-task
parameters with plain ``exec``/``eval``. ``SandboxedEnvironment`` compiles them with RestrictedPython
instead and refuses, with ``SandboxError``: ``import``, ``open``, ``eval``/``exec``/``compile``,
``globals``/``vars``/``type``, every attribute starting with ``_``, frame/generator/code internals,
``mro`` and ``str.format`` (its fields reach attributes). Errors of the diagram code itself
(``NameError``, ``ZeroDivisionError``...) keep their own type.

Bounded: Python-level work (loops, comprehensions, recursion) by a trace function that stops the code
after ``timeout_seconds``. CPython switches a trace function off once it has raised, so code that could
run while the stop unwinds is refused at compile time (``finally``, bare or computed ``except``,
``class``), and the stop is a BaseException that ``except Exception`` does not catch. Single C-level
operations are bounded where they are cheap to check: ``range`` (``MAX_RANGE_LENGTH``), integer ``**``,
``*``, ``<<`` (``MAX_INT_BITS``) and sequence repetition (``MAX_SEQUENCE_LENGTH``).
In-process these bounds are not complete: one C call can still run long or allocate much
(``str.ljust``/``zfill``/``replace`` with huge sizes, ``pow`` with a huge modulus, a format width of
billions). So scripts, and every expression that is more than reading, comparing and computing with
data, run in a script host (``engine.script_host``): a separate process with an OS memory limit,
killed when it overruns its time. Plain expressions (most conditions, timers, service parameters)
run in the engine's process, where they cannot run away.
"""

from __future__ import annotations

import ast
import builtins
import copy
import functools
import inspect
import operator
import sys
import time
from collections.abc import Callable
from contextvars import ContextVar
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from types import CodeType, FrameType
from typing import Any
from uuid import UUID

from RestrictedPython import PrintCollector, RestrictingNodeTransformer, safe_builtins
from RestrictedPython.compile import compile_restricted_eval, compile_restricted_exec
from RestrictedPython.Guards import (
    guarded_iter_unpack_sequence,
    guarded_unpack_sequence,
    safer_getattr,
    safer_getattr_raise,
)
from RestrictedPython.transformer import INSPECT_ATTRIBUTES
from SpiffWorkflow.bpmn.script_engine.python_environment import TaskDataEnvironment

from .errors import SandboxError

__all__ = ["DEFAULT_TIMEOUT_SECONDS", "SandboxedEnvironment", "evaluate_expression"]

DEFAULT_TIMEOUT_SECONDS = 2.0
DEFAULT_MEMORY_MB = 1024  # a script host's address space (it starts at about 100 MB)
MAX_RANGE_LENGTH = 1_000_000
MAX_SEQUENCE_LENGTH = 10_000_000
MAX_INT_BITS = 1_000_000

# SpiffWorkflow finds the failing line of a script by looking for this file name in the traceback.
_FILENAME = "<string>"
# Reading the clock on every trace event would double the cost of tracing; 200 events take microseconds.
_CHECK_EVERY = 200
_BLOCKED_ATTRIBUTES = INSPECT_ATTRIBUTES | {"mro", "format", "format_map"}
_SEQUENCES = (str, bytes, list, tuple)
_CONTAINERS = (dict, list, tuple, set, frozenset)


class _TimeLimitExceeded(BaseException):
    """Raised by the tracer; not an Exception, so that ``except Exception`` in diagram code cannot stop it."""


def _refused_attribute(name: str) -> SandboxError:
    hint = " (format fields can reach object internals); use an f-string" if name.startswith("format") else ""
    return SandboxError(f"access to {name!r} is not allowed in a diagram expression{hint}")


def _guarded_getattr(obj: object, name: str, *default: object) -> object:
    if not isinstance(name, str):
        raise TypeError("attribute name must be a string")
    if name.startswith("_") or name in _BLOCKED_ATTRIBUTES:
        raise _refused_attribute(name)
    try:
        return safer_getattr(obj, name, *default) if default else safer_getattr_raise(obj, name)
    except NotImplementedError as exc:  # how safer_getattr refuses string.Formatter tricks
        raise SandboxError(f"refused in a diagram expression: {exc}") from None


def _guarded_write(obj: object) -> object:
    # Only plain containers: writing attributes of any other object could change engine behaviour.
    if type(obj) in (dict, list):
        return obj
    raise SandboxError(f"changing an object of type {type(obj).__name__!r} is not allowed in a diagram")


def _guarded_setattr(obj: object, name: str, value: object) -> None:
    if name.startswith("_"):
        raise _refused_attribute(name)
    setattr(_guarded_write(obj), name, value)


def _guarded_delattr(obj: object, name: str) -> None:
    if name.startswith("_"):
        raise _refused_attribute(name)
    delattr(_guarded_write(obj), name)


def _guarded_range(*args: int) -> range:
    result = range(*args)
    try:
        too_long = len(result) > MAX_RANGE_LENGTH
    except OverflowError:  # longer than sys.maxsize
        too_long = True
    if too_long:
        raise SandboxError(f"range() of more than {MAX_RANGE_LENGTH:,} numbers is not allowed in a diagram")
    return result


# What one run of diagram code may build with the guarded operations (repetition, concatenation,
# slicing), in items: a script of plain statements cannot loop, but twenty lines of "x = x + x" could
# still double a list twenty times.
MAX_ITEMS_PER_RUN = 20_000_000
_BUILT: ContextVar[list[int] | None] = ContextVar("kmop_sandbox_built", default=None)


def _charge(items: int) -> None:
    built = _BUILT.get()
    if built is None:  # a guard used outside a run
        return
    built[0] += items
    if built[0] > MAX_ITEMS_PER_RUN:
        raise _too_large("what one run may build (in items)", MAX_ITEMS_PER_RUN)


def _too_large(what: str, limit: int) -> SandboxError:
    return SandboxError(f"{what} larger than {limit:,} is not allowed in a diagram (sandbox size limit)")


def _guarded_pow(base: Any, exponent: Any, modulo: Any = None, op: Callable[..., Any] = pow) -> Any:
    if modulo is not None:
        return pow(base, exponent, modulo)  # modular powers stay small
    grows = isinstance(base, int) and isinstance(exponent, int) and abs(base) > 1  # 0, 1, -1 stay small
    if grows and exponent * abs(base).bit_length() > MAX_INT_BITS:
        raise _too_large("an integer power (in bits)", MAX_INT_BITS)
    return op(base, exponent)


def _guarded_mul(left: Any, right: Any, op: Callable[[Any, Any], Any] = operator.mul) -> Any:
    if isinstance(left, int) and isinstance(right, int):
        if left.bit_length() + right.bit_length() > MAX_INT_BITS:
            raise _too_large("an integer product (in bits)", MAX_INT_BITS)
    else:
        count, seq = (left, right) if isinstance(left, int) else (right, left)
        if isinstance(count, int) and isinstance(seq, _SEQUENCES):
            if count * len(seq) > MAX_SEQUENCE_LENGTH:
                raise _too_large("a repeated sequence (in items)", MAX_SEQUENCE_LENGTH)
            _charge(count * len(seq))
    return op(left, right)


def _guarded_add(left: Any, right: Any, op: Callable[[Any, Any], Any] = operator.add) -> Any:
    if isinstance(left, _SEQUENCES) and isinstance(right, _SEQUENCES):
        _charge(len(left) + len(right))
    return op(left, right)


def _guarded_getitem(container: Any, key: Any) -> Any:
    found = container[key]
    if isinstance(key, slice) and isinstance(found, _SEQUENCES):
        _charge(len(found))  # a slice is a copy
    return found


def _guarded_lshift(left: Any, right: Any, op: Callable[[Any, Any], Any] = operator.lshift) -> Any:
    if isinstance(left, int) and isinstance(right, int) and left and left.bit_length() + right > MAX_INT_BITS:
        raise _too_large("an integer shift (in bits)", MAX_INT_BITS)
    return op(left, right)


_INPLACE: dict[str, Callable[[Any, Any], Any]] = {
    "+=": _guarded_add,  # a new list, never the old one changed in place (it may be another task's data)
    "-=": operator.isub,
    "/=": operator.itruediv,
    "//=": operator.ifloordiv,
    "%=": operator.imod,
    ">>=": operator.irshift,
    "&=": operator.iand,
    "|=": operator.ior,
    "^=": operator.ixor,
    "@=": operator.imatmul,
    "*=": _guarded_mul,
    "**=": functools.partial(_guarded_pow, op=operator.ipow),
    "<<=": functools.partial(_guarded_lshift, op=operator.ilshift),
}


def _inplacevar(op: str, target: Any, value: Any) -> Any:
    return _INPLACE[op](target, value)


def _apply(func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    return func(*args, **kwargs)


def _refuser(name: str) -> Callable[..., Any]:
    def refuse(*args: object, **kwargs: object) -> Any:
        hint = "; use isinstance()" if name == "type" else ""
        raise SandboxError(f"{name}() is not allowed in a diagram expression{hint}")

    return refuse


# Stubs rather than absent names, so that calling one says "not allowed" instead of NameError.
_REFUSED = "open eval exec compile globals locals vars dir input help exit quit breakpoint memoryview type"
_REFUSED_TOO = "object super hasattr __import__"
_PLAIN = (
    "None False True abs all any bool callable chr complex dict divmod enumerate filter float frozenset"
    " hash hex int isinstance issubclass len list map max min next oct ord repr reversed round set slice"
    " sorted str sum tuple zip"
)
_BUILTINS: dict[str, object] = {
    **{name: getattr(builtins, name) for name in _PLAIN.split()},
    # Only Exception subclasses: a script that could name BaseException could catch the time-limit stop.
    **{n: v for n, v in safe_builtins.items() if isinstance(v, type) and issubclass(v, Exception)},
    **{name: _refuser(name) for name in (_REFUSED + " " + _REFUSED_TOO).split()},
    "range": _guarded_range,
    "pow": _guarded_pow,
    "getattr": _guarded_getattr,
    "setattr": _guarded_setattr,
    "delattr": _guarded_delattr,
    "datetime": datetime,
    "date": date,
    "timedelta": timedelta,
    "timezone": timezone,
    "Decimal": Decimal,
}

# Names the RestrictedPython-compiled code calls; diagram code cannot name or rebind them (leading "_").
_GUARDS: dict[str, object] = {
    "__builtins__": _BUILTINS,
    "_getattr_": _guarded_getattr,
    "_getitem_": _guarded_getitem,
    "_getiter_": iter,
    "_iter_unpack_sequence_": guarded_iter_unpack_sequence,
    "_unpack_sequence_": guarded_unpack_sequence,
    "_write_": _guarded_write,
    "_inplacevar_": _inplacevar,
    "_print_": PrintCollector,
    "_apply_": _apply,
    "_sandbox_pow_": _guarded_pow,
    "_sandbox_mul_": _guarded_mul,
    "_sandbox_add_": _guarded_add,
    "_sandbox_lshift_": _guarded_lshift,
    "_sandbox_tick_": None,
}
_BINOP_GUARDS = {
    ast.Pow: "_sandbox_pow_",
    ast.Mult: "_sandbox_mul_",
    ast.LShift: "_sandbox_lshift_",
    ast.Add: "_sandbox_add_",
}


class _Policy(RestrictingNodeTransformer):  # type: ignore[misc]
    """RestrictedPython's policy, plus size guards on ``**``, ``*``, ``<<`` and loops the tracer sees."""

    def visit_BinOp(self, node: ast.BinOp) -> ast.AST:
        node = self.node_contents_visit(node)
        guard = _BINOP_GUARDS.get(type(node.op))
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
def _compile(source: str, mode: str) -> CodeType:
    # A plain syntax error stays a SyntaxError: it is a mistake in the script, not a refusal.
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
    budget = _BUILT.set([0])
    sys.settrace(tracer)
    try:
        return eval(code, namespace)
    except _TimeLimitExceeded:
        message = f"the diagram {kind} exceeded the time limit of {timeout:g} s and was stopped"
        raise SandboxError(message) from None
    finally:
        sys.settrace(previous)
        _BUILT.reset(budget)


class SandboxedEnvironment(TaskDataEnvironment):  # type: ignore[misc]
    """A SpiffWorkflow script environment that runs all diagram code in the sandbox.

    ``extra_globals`` (helpers such as ``now``) follow the base class's rules for globals: task data
    may not overwrite them, and a script leaves none of them in the task data.

    ``isolated`` (the default): scripts, and expressions that could do more than read and compare data,
    run in a script host (``engine.script_host``): a process the operating system bounds in memory
    (``memory_mb``) and that is killed when it overruns its time. There a helper must be a value or a
    function without arguments, called here once per script (``now``). A plain expression (names,
    constants, comparisons, arithmetic, subscripts, ``len``) runs here: it cannot run away.
    """

    def __init__(
        self,
        extra_globals: dict[str, object] | None = None,
        timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
        *,
        isolated: bool = True,
        memory_mb: int = DEFAULT_MEMORY_MB,
    ) -> None:
        if timeout_seconds <= 0:
            raise ValueError("timeout_seconds must be positive")
        super().__init__(dict(extra_globals or {}))
        self.timeout_seconds = timeout_seconds
        self.isolated = isolated
        self.memory_mb = memory_mb

    def evaluate(
        self, expression: str, context: dict[str, Any], external_context: dict[str, Any] | None = None
    ) -> Any:
        if self.isolated and not _is_plain(expression.strip()):
            return self._in_host("eval", expression, context, external_context)
        code = _compile(expression.strip(), "eval")
        namespace: dict[str, Any] = copy.copy(self.globals)
        self._prepare_context(context)
        namespace.update(external_context or {})
        namespace.update(context)
        namespace.update(_GUARDS)
        namespace["_print"] = PrintCollector()  # exec-mode code creates its own; an expression cannot
        value = _run(code, namespace, self.timeout_seconds, "expression")
        if self.isolated and isinstance(value, _CONTAINERS):
            from .script_host import normalized

            return normalized(value)  # as the data a reload would find: a tuple is a list
        return value

    def execute(
        self, script: str, context: dict[str, Any], external_context: dict[str, Any] | None = None
    ) -> bool:
        self.check_for_overwrite(context, external_context or {})
        plain = _is_plain_script(script)
        if self.isolated and not plain:
            self._in_host("exec", script, context, external_context)
            return True
        code = _compile(script, "exec")
        before = dict(context)
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
        if self.isolated:
            _as_stored(context, before)  # what a host would hand back: storable, as a reload gives it
        return True

    def _in_host(
        self, op: str, code: str, context: dict[str, Any], external_context: dict[str, Any] | None
    ) -> Any:
        from . import script_host

        data_globals, provided = _split_helpers(self.globals)
        try:
            request = script_host.encode(
                {
                    "op": op,
                    "code": code,
                    "context": context,
                    "external": external_context or {},
                    "data_globals": data_globals,
                    "provided": provided,
                    "timeout": self.timeout_seconds,
                }
            )
        except script_host.NotStorable as exc:
            raise SandboxError(f"the data handed to the diagram code {exc}") from None
        answer = script_host.hosts(self.memory_mb).run(request, self.timeout_seconds)
        if answer.get("ok"):
            if op == "eval":
                return answer["value"]
            context.clear()
            context.update(answer["context"])
            return True
        if answer.get("partial") is not None:
            context.clear()
            context.update(answer["partial"])
        raise _error_of(answer)


_STORED_SCALARS = (str, int, float, bool, type(None), datetime, date, timedelta, Decimal, UUID)


def _as_stored(context: dict[str, Any], before: dict[str, Any]) -> None:
    """Turn tuples and sets into lists, in place; when something cannot be stored, put the data back as
    it was before the script (a plain script changed no container it did not make) and refuse it."""
    from .script_host import NotStorable, check_depth, normalized

    for name, value in list(context.items()):
        if isinstance(value, _STORED_SCALARS) or before.get(name, context) is value:
            continue  # a plain script changes no container it did not make: an old one is as stored
        try:
            if not isinstance(value, _CONTAINERS):
                raise NotStorable(f"holds a value of type {type(value).__name__}, which cannot be stored")
            check_depth(value)
            context[name] = normalized(value)
        except NotStorable as exc:
            context.clear()
            context.update(before)
            raise SandboxError(f"what the script left {exc}") from None


def _split_helpers(helpers: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Helpers as a script host gets them: values as they are, functions without arguments called now."""
    values: dict[str, Any] = {}
    provided: dict[str, Any] = {}
    for name, helper in helpers.items():
        if not callable(helper):
            values[name] = helper
            continue
        try:
            needs_arguments = any(
                p.default is p.empty and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
                for p in inspect.signature(helper).parameters.values()
            )
        except (TypeError, ValueError):  # a builtin without a signature
            needs_arguments = True
        if needs_arguments:
            raise SandboxError(f"the helper '{name}' takes arguments: a script host gets values only")
        provided[name] = helper()
    return values, provided


def _error_of(answer: dict[str, Any]) -> Exception:
    """The script's error as an exception of its own type (a refusal as ``SandboxError``)."""
    message = str(answer.get("message") or answer.get("type") or "error")
    line = answer.get("line")
    kind = answer.get("type")
    if answer.get("sandbox"):
        return SandboxError(message)
    if kind == "SyntaxError":
        error = SyntaxError(message)
        error.lineno = line
        return error
    found = getattr(builtins, str(kind), None)
    where = f" (line {line})" if line else ""
    if isinstance(found, type) and issubclass(found, Exception):
        return found(message + where) if kind != "KeyError" else KeyError(message)
    return SandboxError(f"{kind}: {message}{where}")


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
def _is_plain(expression: str) -> bool:
    return _plain(expression, "eval", _PLAIN_NODES)


@functools.lru_cache(maxsize=4096)
def _is_plain_script(script: str) -> bool:
    return _plain(script, "exec", _PLAIN_NODES + _PLAIN_STATEMENTS)


def _plain(code: str, mode: str, allowed: tuple[type[ast.AST], ...]) -> bool:
    try:
        tree = ast.parse(code, _FILENAME, mode)
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


def evaluate_expression(
    expression: str,
    context: dict[str, Any] | None = None,
    extra_globals: dict[str, Any] | None = None,
    *,
    timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
) -> object:
    """Evaluate one diagram expression in the sandbox without a workflow (deploy-time checks)."""
    environment = SandboxedEnvironment(extra_globals, timeout_seconds)
    return environment.evaluate(expression, dict(context or {}))
