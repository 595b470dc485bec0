"""Run diagram scripts in separate processes that the operating system bounds, so none outlives its limits.

The in-process sandbox (``engine.sandbox``) stops Python-level work at its time limit, but a single
C-level call (``pow`` with a huge modulus, ``'a'.ljust(10**10)``, a format width of ten billion,
``list(map(x.append, x))``) neither returns nor looks at the clock, and nothing in one process bounds
memory. So scripts, and expressions that could do such things, run in a *script host*: a child
process with an address-space limit (``RLIMIT_AS``), killed when it overruns its time. A host serves
one call at a time and lives on for the next; a killed one is replaced on the next call. The
engine's own process never waits longer than the limit plus a second, and never grows by a script.

Data crosses as JSON with tags for datetimes, dates, times of day, Decimals and UUIDs. Only what kmop
can store crosses: a value that cannot be stored (a dict that contains itself, nesting deeper than
``MAX_DEPTH``, bytes, a function) is refused by the host as the script's error, so it becomes an
incident on that task instead of a failure when the case is saved; and what the script leaves is
exactly what a reload will find (a tuple or a set comes back a list).

Run as ``python -m engine.script_host MEMORY_MB``: it reads length-prefixed JSON requests on stdin.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import select
import signal
import struct
import subprocess
import sys
import threading
import time
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

from .errors import SandboxError

MAX_DEPTH = 100  # nesting of stored data: deeper is refused as not storable
MAX_BYTES = 16 * 1024 * 1024  # what one script may hand back, as JSON
GRACE_SECONDS = 1.0  # beyond the script's own time limit, before its host is killed
_HEADER = struct.Struct(">I")


# ---------------------------------------------------------------------------------------- the codec


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


# --------------------------------------------------------------------------------- the host (child)


def _send(stream: Any, data: bytes) -> None:
    stream.write(_HEADER.pack(len(data)) + data)
    stream.flush()


def _serve(memory_mb: int) -> None:
    import resource

    from .sandbox import SandboxedEnvironment

    limit = memory_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent's Ctrl-C is the parent's to handle
    source, sink = sys.stdin.buffer, sys.stdout.buffer
    while True:
        header = source.read(_HEADER.size)
        if len(header) < _HEADER.size:
            return  # the engine process closed the pipe or ended
        request = decode(source.read(_HEADER.unpack(header)[0]))
        _send(sink, _answer(request, SandboxedEnvironment))


def _answer(request: dict[str, Any], environment: Any) -> bytes:
    """The encoded answer to one request: what the code returned or left, or its error."""
    answer = _handle(request, environment)
    try:
        return encode(answer, bounded=True)
    except NotStorable as exc:  # what the script returned or left: its error, and the data as it was
        refusal = {
            "ok": False,
            "type": "SandboxError",
            "message": f"what the script left {exc}",
            "sandbox": True,
        }
        return encode(refusal)
    except MemoryError:
        return encode(
            {"ok": False, "type": "SandboxError", "message": _MEMORY_TEXT, "sandbox": True, "fatal": True}
        )


def _handle(request: dict[str, Any], environment: Any) -> dict[str, Any]:
    helpers: dict[str, object] = dict(request.get("data_globals") or {})
    for name, value in (request.get("provided") or {}).items():
        helpers[name] = _provider(value)
    env = environment(helpers, request["timeout"], isolated=False)
    try:
        if request["op"] == "eval":
            return {
                "ok": True,
                "value": env.evaluate(request["code"], request["context"], request.get("external")),
            }
        context = request["context"]
        env.execute(request["code"], context, request.get("external"))
        return {"ok": True, "context": context}
    except MemoryError:
        return {"ok": False, "type": "SandboxError", "message": _MEMORY_TEXT, "sandbox": True, "fatal": True}
    except Exception as exc:
        return {
            "ok": False,
            "type": type(exc).__name__,
            "message": str(exc.args[0]) if exc.args else "",
            "sandbox": isinstance(exc, SandboxError),
            "line": _line_of(exc),
            "partial": _partial(request),
        }


def _partial(request: dict[str, Any]) -> Any:
    """What a failed script left in the data (the library keeps it too), when it can be stored."""
    if request["op"] != "exec":
        return None
    try:
        encode(request["context"], bounded=True)
    except NotStorable:
        return None
    return request["context"]


def _provider(value: Any) -> Any:
    def provided() -> Any:
        return value

    return provided


def _line_of(exc: BaseException) -> int | None:
    if isinstance(exc, SyntaxError):
        return exc.lineno
    tb = exc.__traceback__
    line = None
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == "<string>":
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


_MEMORY_TEXT = "the diagram script went over its memory limit and was stopped"


# ------------------------------------------------------------------------------- the pool (parent)


class _Host:
    """One child process and its pipes."""

    def __init__(self, memory_mb: int) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "engine.script_host", str(memory_mb)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # a terminal's Ctrl-C reaches the engine, which ends its hosts
            env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
        )

    def call(self, data: bytes, deadline: float) -> dict[str, Any]:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(_HEADER.pack(len(data)) + data)
        self.process.stdin.flush()
        header = self._read(_HEADER.size, deadline)
        return dict(decode(self._read(_HEADER.unpack(header)[0], deadline)))

    def _read(self, size: int, deadline: float) -> bytes:
        assert self.process.stdout is not None
        fd = self.process.stdout.fileno()
        chunks: list[bytes] = []
        while size:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not select.select([fd], [], [], remaining)[0]:
                raise TimeoutError
            chunk = os.read(fd, size)
            if not chunk:
                raise EOFError
            chunks.append(chunk)
            size -= len(chunk)
        return b"".join(chunks)

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            self.process.kill()
        self.process.wait()

    def close(self) -> None:
        try:
            if self.process.stdin is not None:
                self.process.stdin.close()
            self.process.wait(timeout=2)
        except Exception:
            self.kill()


class ScriptHosts:
    """Script hosts of one memory limit: up to ``size`` at once, started when first needed."""

    def __init__(self, memory_mb: int, size: int = 4) -> None:
        self.memory_mb = memory_mb
        self._idle: list[_Host] = []
        self._lock = threading.Lock()
        self._slots = threading.BoundedSemaphore(size)
        self.started = 0
        self.killed = 0

    def run(self, request: bytes, timeout: float) -> dict[str, Any]:
        """The host's answer to ``request`` (``encode``d); a ``SandboxError`` when it overran its time or
        memory."""
        with self._slots:
            host = self._take()
            try:
                answer = host.call(request, time.monotonic() + timeout + GRACE_SECONDS)
            except TimeoutError:
                self._discard(host)
                limit = f"{timeout:g} s"
                raise SandboxError(
                    f"the diagram script did not finish within its time limit of {limit} and was stopped"
                ) from None
            except (EOFError, BrokenPipeError):
                self._discard(host)
                raise SandboxError(_MEMORY_TEXT + " (its process ended)") from None
            if answer.get("fatal"):
                self._discard(host)
            else:
                with self._lock:
                    self._idle.append(host)
            return answer

    def _take(self) -> _Host:
        with self._lock:
            while self._idle:
                host = self._idle.pop()
                if host.process.poll() is None:
                    return host
            self.started += 1
        return _Host(self.memory_mb)

    def _discard(self, host: _Host) -> None:
        self.killed += 1
        host.kill()

    def close(self) -> None:
        with self._lock:
            hosts, self._idle = self._idle, []
        for host in hosts:
            host.close()


_POOLS: dict[int, ScriptHosts] = {}
_POOLS_LOCK = threading.Lock()


def hosts(memory_mb: int) -> ScriptHosts:
    """The process's script hosts for this memory limit."""
    with _POOLS_LOCK:
        found = _POOLS.get(memory_mb)
        if found is None:
            found = _POOLS[memory_mb] = ScriptHosts(memory_mb)
        return found


@atexit.register
def _close_all() -> None:
    for pool in list(_POOLS.values()):
        pool.close()


if __name__ == "__main__":
    _serve(int(sys.argv[1]) if len(sys.argv) > 1 else 1024)
