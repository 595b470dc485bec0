"""Run diagram scripts in separate processes that the operating system bounds, so none outlives its limits.

The in-process sandbox (``engine.sandbox``) stops Python-level work at its time limit, but a single
C-level call (``pow`` with a huge modulus, ``'a'.ljust(10**10)``, a format width of ten billion,
``list(map(x.append, x))``) neither returns nor looks at the clock, and nothing in one process bounds
memory. So scripts, and expressions that could do such things, run in a *script host*: a child
process with an address-space limit (``RLIMIT_AS``), killed when it overruns its time. A host serves
one call at a time and lives on for the next; a killed one is replaced on the next call. The
engine's own process never waits longer than the limit plus a second, and never grows by a script.

Data crosses as JSON (``engine.storable``). Only what kmop can store crosses: a value that cannot be
stored is refused by the host as the script's error, so it becomes an incident on that task instead
of a failure when the case is saved; and what the script leaves is exactly what a reload will find.

This module is the engine's side: the pool of hosts and the requests it sends them. What runs inside
a host is ``engine.host_process``, started as ``python -m engine.host_process MEMORY_MB``.
"""

from __future__ import annotations

import ast
import atexit
import builtins
import contextlib
import functools
import inspect
import os
import select
import struct
import subprocess
import sys
import threading
import time
from typing import Any

from .errors import SandboxError
from .storable import MAX_BYTES, MAX_DEPTH, NotStorable, check_depth, decode, encode, normalized

__all__ = [
    "GRACE_SECONDS",
    "HEADER",
    "MAX_BYTES",
    "MAX_DEPTH",
    "MEMORY_TEXT",
    "NotStorable",
    "ScriptHosts",
    "check_depth",
    "decode",
    "encode",
    "hosts",
    "normalized",
    "run_in_host",
]

GRACE_SECONDS = 1.0  # beyond the script's own time limit, before its host is killed
HEADER = struct.Struct(">I")  # the length of each request and answer on the pipes
MEMORY_TEXT = "the diagram script went over its memory limit and was stopped"


# ------------------------------------------------------------------------------- a request and answer


def run_in_host(
    op: str,
    code: str,
    context: dict[str, Any],
    external_context: dict[str, Any] | None,
    helpers: dict[str, Any],
    timeout: float,
    memory_mb: int,
) -> Any:
    """Evaluate (``op`` "eval") or execute ("exec") ``code`` in a script host; an executed script's
    ``context`` is replaced by what it left. The code's error is raised as an exception of its own type."""
    data_globals, provided = _split_helpers(helpers)
    mentioned = mentioned_names(code, op)
    sent = context if mentioned is None else {k: v for k, v in context.items() if k in mentioned}
    try:
        request = encode(
            {
                "op": op,
                "code": code,
                "context": sent,
                "external": external_context or {},
                "data_globals": data_globals,
                "provided": provided,
                "timeout": timeout,
            }
        )
    except NotStorable as exc:
        raise SandboxError(f"the data handed to the diagram code {exc}") from None
    answer = hosts(memory_mb).run(request, timeout)
    if answer.get("ok"):
        if op == "eval":
            return answer["value"]
        _take_back(context, mentioned, answer["context"])
        return True
    if answer.get("partial") is not None:
        _take_back(context, mentioned, answer["partial"])
    raise _error_of(answer)


@functools.lru_cache(maxsize=2048)
def mentioned_names(code: str, op: str = "exec") -> frozenset[str] | None:
    """Every name ``code`` mentions (read, set or deleted anywhere in it), or None when it does not parse.

    A script can reach the case's data only by name: ``globals``, ``locals``, ``vars``, ``dir``, ``eval``
    and ``exec`` are refused (``engine.guards``). So a host gets only the variables the code mentions, and
    a variable it never mentions stays as it is: the data crossing to a host no longer grows with all the
    case holds (a multi-instance item's script got the whole, growing list before)."""
    try:
        tree = ast.parse(code, mode="eval" if op == "eval" else "exec")
    except (SyntaxError, ValueError):  # the host compiles it again and reports the error
        return None
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            names.add(node.id)
        elif isinstance(node, ast.Global | ast.Nonlocal):
            names.update(node.names)
    return frozenset(names)


def _take_back(context: dict[str, Any], mentioned: frozenset[str] | None, left: dict[str, Any]) -> None:
    """Make ``context`` what the script left: the variables it mentions as the host hands them back
    (gone when it deleted them, new ones last), the others untouched, in their order."""
    if mentioned is None:
        context.clear()
        context.update(left)
        return
    merged = {
        k: left[k] if k in mentioned else v for k, v in context.items() if k not in mentioned or k in left
    }
    merged.update((k, v) for k, v in left.items() if k not in merged)
    context.clear()
    context.update(merged)


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


# ------------------------------------------------------------------------------- the pool (parent)


class _Host:
    """One child process and its pipes."""

    def __init__(self, memory_mb: int) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "engine.host_process", str(memory_mb)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # a terminal's Ctrl-C reaches the engine, which ends its hosts
            env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
        )

    def call(self, data: bytes, deadline: float) -> dict[str, Any]:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(HEADER.pack(len(data)) + data)
        self.process.stdin.flush()
        header = self._read(HEADER.size, deadline)
        return dict(decode(self._read(HEADER.unpack(header)[0], deadline)))

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
                raise SandboxError(MEMORY_TEXT + " (its process ended)") from None
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
