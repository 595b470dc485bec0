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
``class``), and the stop is a BaseException that ``except Exception`` does not catch
(``engine.restricted``). Single C-level operations are bounded where they are cheap to check
(``engine.guards``): ``range`` (``MAX_RANGE_LENGTH``), integer ``**``, ``*``, ``<<``
(``MAX_INT_BITS``) and sequence repetition (``MAX_SEQUENCE_LENGTH``).
In-process these bounds are not complete: one C call can still run long or allocate much
(``str.ljust``/``zfill``/``replace`` with huge sizes, ``pow`` with a huge modulus, a format width of
billions). So scripts, and every expression that is more than reading, comparing and computing with
data, run in a script host (``engine.script_host``): a separate process with an OS memory limit,
killed when it overruns its time. Plain expressions (most conditions, timers, service parameters;
``engine.plain``) run in the engine's process, where they cannot run away.
"""

from __future__ import annotations

import copy
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

from RestrictedPython import PrintCollector
from SpiffWorkflow.bpmn.script_engine.python_environment import TaskDataEnvironment

from .errors import SandboxError
from .guards import GUARDS
from .plain import is_plain, is_plain_script
from .restricted import compile_code, run_code
from .script_host import run_in_host
from .storable import NotStorable, check_depth, normalized

__all__ = ["DEFAULT_TIMEOUT_SECONDS", "SandboxedEnvironment", "evaluate_expression"]

DEFAULT_TIMEOUT_SECONDS = 2.0
DEFAULT_MEMORY_MB = 1024  # a script host's address space (it starts at about 100 MB)
_CONTAINERS = (dict, list, tuple, set, frozenset)

# The names the tests reach these by.
_compile = compile_code
_is_plain_script = is_plain_script


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
        if self.isolated and not is_plain(expression.strip()):
            return self._in_host("eval", expression, context, external_context)
        code = compile_code(expression.strip(), "eval")
        namespace: dict[str, Any] = copy.copy(self.globals)
        self._prepare_context(context)
        namespace.update(external_context or {})
        namespace.update(context)
        namespace.update(GUARDS)
        namespace["_print"] = PrintCollector()  # exec-mode code creates its own; an expression cannot
        value = run_code(code, namespace, self.timeout_seconds, "expression")
        if self.isolated and isinstance(value, _CONTAINERS):
            return normalized(value)  # as the data a reload would find: a tuple is a list
        return value

    def execute(
        self, script: str, context: dict[str, Any], external_context: dict[str, Any] | None = None
    ) -> bool:
        self.check_for_overwrite(context, external_context or {})
        plain = is_plain_script(script)
        if self.isolated and not plain:
            self._in_host("exec", script, context, external_context)
            return True
        code = compile_code(script, "exec")
        before = dict(context)
        my_globals = copy.copy(self.globals)
        self._prepare_context(context)
        my_globals.update(external_context or {})
        context.update(my_globals)
        context.update(GUARDS)
        try:
            run_code(code, context, self.timeout_seconds, "script")
        finally:
            for name in GUARDS:
                context.pop(name, None)
            self._remove_globals_and_functions_from_context(context, external_context)
        if self.isolated:
            _as_stored(context, before)  # what a host would hand back: storable, as a reload gives it
        return True

    def _in_host(
        self, op: str, code: str, context: dict[str, Any], external_context: dict[str, Any] | None
    ) -> Any:
        return run_in_host(
            op, code, context, external_context, self.globals, self.timeout_seconds, self.memory_mb
        )


_STORED_SCALARS = (str, int, float, bool, type(None), datetime, date, timedelta, Decimal, UUID)


def _as_stored(context: dict[str, Any], before: dict[str, Any]) -> None:
    """Turn tuples and sets into lists, in place; when something cannot be stored, put the data back as
    it was before the script (a plain script changed no container it did not make) and refuse it."""
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
