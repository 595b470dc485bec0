"""The guards that RestrictedPython-compiled diagram code runs with, and what each run may build.

The builtins a diagram may name (with stubs that refuse ``open``, ``eval``, ``type``...), the guarded
attribute access and writes, and the size bounds of single C-level operations: ``range``
(``MAX_RANGE_LENGTH``), integer ``**``, ``*``, ``<<`` (``MAX_INT_BITS``), sequence repetition
(``MAX_SEQUENCE_LENGTH``) and, over one run, what repetition, concatenation and slicing build
(``MAX_ITEMS_PER_RUN``, counted in ``BUILT`` while ``engine.restricted.run_code`` runs).
"""

from __future__ import annotations

import ast
import builtins
import functools
import operator
from collections.abc import Callable
from contextvars import ContextVar
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

from RestrictedPython import PrintCollector, safe_builtins
from RestrictedPython.Guards import (
    guarded_iter_unpack_sequence,
    guarded_unpack_sequence,
    safer_getattr,
    safer_getattr_raise,
)
from RestrictedPython.transformer import INSPECT_ATTRIBUTES

from .errors import SandboxError

MAX_RANGE_LENGTH = 1_000_000
MAX_SEQUENCE_LENGTH = 10_000_000
MAX_INT_BITS = 1_000_000

_BLOCKED_ATTRIBUTES = INSPECT_ATTRIBUTES | {"mro", "format", "format_map"}
_SEQUENCES = (str, bytes, list, tuple)


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
BUILT: ContextVar[list[int] | None] = ContextVar("kmop_sandbox_built", default=None)


def _charge(items: int) -> None:
    built = BUILT.get()
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
GUARDS: dict[str, object] = {
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
# The guard that ``engine.restricted`` puts around each of these operators.
BINOP_GUARDS = {
    ast.Pow: "_sandbox_pow_",
    ast.Mult: "_sandbox_mul_",
    ast.LShift: "_sandbox_lshift_",
    ast.Add: "_sandbox_add_",
}
