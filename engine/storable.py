"""What kmop can store as process data, and the JSON that carries it to and from a script host.

Data crosses as JSON with tags for datetimes, dates, times of day, Decimals and UUIDs. Only what kmop
can store crosses: a value that cannot be stored (a dict that contains itself, nesting deeper than
``MAX_DEPTH``, bytes, a function) is ``NotStorable``; and what comes back is exactly what a reload
will find (a tuple or a set comes back a list).

Imports nothing of kmop: the sandbox, the script hosts and the engine's own data checks all use it.
"""

from __future__ import annotations

import json
import sys
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

__all__ = ["MAX_BYTES", "MAX_DEPTH", "NotStorable", "check_depth", "decode", "encode", "normalized"]

MAX_DEPTH = 100  # nesting of stored data: deeper is refused as not storable
MAX_BYTES = 16 * 1024 * 1024  # what one script may hand back, as JSON


class NotStorable(ValueError):
    """A value that kmop cannot store as process data (the message says why, after "what the script left")."""


def _tagged(value: Any) -> Any:
    if isinstance(value, datetime):
        return {"__kmop__": "datetime", "v": value.isoformat()}
    if isinstance(value, date):
        return {"__kmop__": "date", "v": value.isoformat()}
    if isinstance(value, timedelta):
        return {"__kmop__": "timedelta", "v": [value.days, value.seconds, value.microseconds]}
    if isinstance(value, Decimal):
        return {"__kmop__": "decimal", "v": str(value)}
    if isinstance(value, UUID):
        return {"__kmop__": "uuid", "v": str(value)}
    if isinstance(value, tuple):
        return list(value)
    if isinstance(value, set | frozenset):  # stored as a list, in a stable order where there is one
        try:
            return sorted(value)
        except TypeError:
            return list(value)
    raise NotStorable(f"holds a value of type {type(value).__name__}, which cannot be stored as process data")


def _untagged(obj: dict[str, Any]) -> Any:
    kind = obj.get("__kmop__")
    if kind is None:
        return obj
    value = obj["v"]
    if kind == "datetime":
        return datetime.fromisoformat(value)
    if kind == "date":
        return date.fromisoformat(value)
    if kind == "timedelta":
        return timedelta(days=value[0], seconds=value[1], microseconds=value[2])
    if kind == "decimal":
        return Decimal(value)
    if kind == "uuid":
        return UUID(value)
    raise NotStorable(f"unknown tagged value {kind!r}")


def encode(value: Any, bounded: bool = False) -> bytes:
    """JSON bytes of ``value``; ``NotStorable`` for what kmop cannot store.

    ``bounded`` (in a script host, which runs one thread): nesting is bounded by lowering the recursion
    limit while the C encoder runs, so it stops at ``MAX_DEPTH`` levels (a value that contains itself
    stops there too) without a walk in Python. The engine's own process never lowers its limit.
    """
    previous = sys.getrecursionlimit()
    if bounded:
        depth, frame = 0, sys._getframe()
        while frame is not None:
            depth, frame = depth + 1, frame.f_back  # type: ignore[assignment]
        sys.setrecursionlimit(depth + MAX_DEPTH + 5)
    try:
        text = json.dumps(value, default=_tagged, separators=(",", ":"), check_circular=not bounded)
    except RecursionError:
        raise NotStorable(
            f"nests deeper than {MAX_DEPTH} levels (or contains itself) and cannot be stored"
        ) from None
    except (TypeError, ValueError) as exc:
        if isinstance(exc, NotStorable):
            raise
        raise NotStorable(f"cannot be stored: {exc}") from exc
    finally:
        sys.setrecursionlimit(previous)
    data = text.encode("utf-8")
    if len(data) > MAX_BYTES:
        raise NotStorable(f"is larger than {MAX_BYTES // (1024 * 1024)} MB and cannot be stored")
    return data


def check_depth(value: Any) -> None:
    """Refuse data nested deeper than ``MAX_DEPTH`` levels (``NotStorable``), with a walk that needs no
    recursion: for what comes from outside (a form, a message), before anything holds it."""
    if not isinstance(value, dict | list | tuple):
        return
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        children = item.values() if isinstance(item, dict) else item
        if depth >= MAX_DEPTH:
            raise NotStorable(f"nests deeper than {MAX_DEPTH} levels and cannot be stored")
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list | tuple))


def decode(data: bytes) -> Any:
    return json.loads(data, object_hook=_untagged)


def normalized(value: Any) -> Any:
    """``value`` as a store and reload would give it back (a tuple becomes a list)."""
    return decode(encode(value))
