"""The ``kmop`` command line, as a set of commands that each layer adds to.

The engine's own commands (init, deploy, start, show, tasks, complete, message, timers, …) are in
``engine.commands``; an application adds its own to the same ``Commands`` and runs them with ``run``.
Every read command takes ``--json``. Errors go to stderr with a non-zero exit code: 1 for bad input,
3 for a conflict (task already completed, instance changed meanwhile), 4 for something not found.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from sqlalchemy.exc import DBAPIError

from . import logs
from .errors import Conflict, KmopError, NotFound

if TYPE_CHECKING:
    from .api import Engine

EXIT_ERROR, EXIT_USAGE, EXIT_CONFLICT, EXIT_NOT_FOUND = 1, 2, 3, 4

Handler = Callable[["Engine", argparse.Namespace], None]
Arguments = Callable[[argparse.ArgumentParser], object]


@dataclass(frozen=True)
class Command:
    name: str
    help: str
    handler: Handler
    arguments: Arguments | None = None
    json: bool = False


class Commands:
    """The commands of one ``kmop``, in the order they are listed; a later one with a name replaces it."""

    def __init__(self) -> None:
        self._commands: dict[str, Command] = {}

    def add(
        self,
        name: str,
        help_text: str,
        handler: Handler,
        arguments: Arguments | None = None,
        *,
        json_flag: bool = False,
    ) -> None:
        self._commands[name] = Command(name, help_text, handler, arguments, json_flag)

    def __iter__(self) -> Any:
        return iter(self._commands.values())

    def __contains__(self, name: object) -> bool:
        return name in self._commands

    def parser(self, description: str) -> argparse.ArgumentParser:
        p = argparse.ArgumentParser(prog="kmop", description=description)
        sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
        for c in self:
            sp = sub.add_parser(c.name, help=c.help, description=c.help)
            if c.json:
                sp.add_argument("--json", action="store_true", help="print JSON")
            if c.arguments is not None:
                c.arguments(sp)
            sp.set_defaults(handler=c.handler)
        return p


def run(
    argv: Sequence[str] | None,
    commands: Commands,
    make_engine: Callable[[], Engine],
    engine: Engine | None = None,
    description: str = "kmop: durable BPMN processes",
) -> int:
    """Parse ``argv``, run one command on ``engine`` (or one made when needed); return the exit code."""
    args = commands.parser(description).parse_args(argv)
    try:
        engine = engine or make_engine()
        logs.configure(engine.settings.log_format, engine.settings.log_level)
        args.handler(engine, args)
        return 0
    except Conflict as exc:
        print(f"kmop: conflict: {exc.message}", file=sys.stderr)
        return EXIT_CONFLICT
    except NotFound as exc:
        print(f"kmop: not found: {exc.message}", file=sys.stderr)
        return EXIT_NOT_FOUND
    except KmopError as exc:
        print(f"kmop: error: {exc.message}", file=sys.stderr)
        return EXIT_ERROR
    except ValueError as exc:  # settings from the environment
        print(f"kmop: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except DBAPIError as exc:
        text = str(exc.orig).lower()
        if "no such table" in text or "does not exist" in text:
            print("kmop: error: the database has no kmop schema yet: run 'kmop init' first", file=sys.stderr)
        else:
            print(f"kmop: database error: {type(exc.orig).__name__}: {exc.orig}", file=sys.stderr)
        return EXIT_ERROR


# ------------------------------------------------------------------------------ output for commands


def json_arg(text: str | None, what: str) -> dict[str, Any] | None:
    """A JSON object given on the command line, or ``@file.json``."""
    if text is None:
        return None
    if text.startswith("@"):
        text = Path(text[1:]).read_text(encoding="utf-8")
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise KmopError(f"{what} is not valid JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise KmopError(f'{what} must be a JSON object, like \'{{"key": "value"}}\'')
    return value


def show(args: argparse.Namespace, value: Any, human: Callable[[Any], str]) -> None:
    """Print ``value`` as JSON (``--json``: its ``to_dict()``) or as ``human`` words it."""
    if getattr(args, "json", False):
        plain = [v.to_dict() for v in value] if isinstance(value, list) else value.to_dict()
        print(json.dumps(plain, indent=2, ensure_ascii=False))
    else:
        print(human(value))


class Plain:
    """A plain JSON-compatible value that ``show`` prints."""

    def __init__(self, value: Any) -> None:
        self.value = value

    def to_dict(self) -> Any:
        return self.value


def table(rows: list[list[str]], header: list[str]) -> str:
    if not rows:
        return "(none)"
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)) for r in [header, *rows]]
    return "\n".join(lines)


def when(value: datetime | None, zone: ZoneInfo) -> str:
    """A moment in ``zone`` (``Settings.zone``), with the zone: ``01/12/2028 00:00:00 CET``."""
    return value.astimezone(zone).strftime("%d/%m/%Y %H:%M:%S %Z") if value else "-"
