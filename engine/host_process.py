"""The program inside a script host: it runs diagram code for the engine's process, one request at a time.

Started by ``engine.script_host`` as ``python -m engine.host_process MEMORY_MB``: it limits its own
address space to ``MEMORY_MB``, then reads length-prefixed JSON requests on stdin and writes each
answer on stdout, until the engine's process closes the pipe. It runs the code with the in-process
sandbox (``engine.sandbox``, not isolated), and answers what the code returned or left, or its error.
"""

from __future__ import annotations

import signal
import sys
from typing import Any

from .errors import SandboxError
from .sandbox import SandboxedEnvironment
from .script_host import HEADER, MEMORY_TEXT
from .storable import NotStorable, decode, encode


def _send(stream: Any, data: bytes) -> None:
    stream.write(HEADER.pack(len(data)) + data)
    stream.flush()


def _serve(memory_mb: int) -> None:
    import resource

    limit = memory_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent's Ctrl-C is the parent's to handle
    source, sink = sys.stdin.buffer, sys.stdout.buffer
    while True:
        header = source.read(HEADER.size)
        if len(header) < HEADER.size:
            return  # the engine process closed the pipe or ended
        request = decode(source.read(HEADER.unpack(header)[0]))
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
            {"ok": False, "type": "SandboxError", "message": MEMORY_TEXT, "sandbox": True, "fatal": True}
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
        return {"ok": False, "type": "SandboxError", "message": MEMORY_TEXT, "sandbox": True, "fatal": True}
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


if __name__ == "__main__":
    _serve(int(sys.argv[1]) if len(sys.argv) > 1 else 1024)
