"""Drive kmop from the shell: ``kmop init|deploy|start|instances|show|tasks|complete|message|…``.

Every read command takes ``--json``. Errors go to stderr with a non-zero exit code: 1 for bad input,
3 for a conflict (task already completed, instance changed meanwhile), 4 for something not found.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy.exc import DBAPIError

from .config import Settings
from .errors import Conflict, KmopError, NotFound

EXIT_ERROR, EXIT_USAGE, EXIT_CONFLICT, EXIT_NOT_FOUND = 1, 2, 3, 4


def _json_arg(text: str | None, what: str) -> dict[str, Any] | None:
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


def _print(args: argparse.Namespace, value: Any, human: Callable[[Any], str]) -> None:
    if getattr(args, "json", False):
        plain = [v.to_dict() for v in value] if isinstance(value, list) else value.to_dict()
        print(json.dumps(plain, indent=2, ensure_ascii=False))
    else:
        print(human(value))


def _table(rows: list[list[str]], header: list[str]) -> str:
    if not rows:
        return "(none)"
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)) for r in [header, *rows]]
    return "\n".join(lines)


def _when(value: datetime | None) -> str:
    return value.strftime("%d/%m/%Y %H:%M:%S") if value else "-"


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="kmop", description="kmop: BPMN orchestration for kmo-portefeuille registration"
    )
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def cmd(name: str, help_text: str, json_flag: bool = False) -> argparse.ArgumentParser:
        sp = sub.add_parser(name, help=help_text, description=help_text)
        if json_flag:
            sp.add_argument("--json", action="store_true", help="print JSON")
        return sp

    cmd("init", "create or upgrade the database schema (and index cases from before, see reindex)")
    cmd("reindex", "index the search fields of cases from before kmop kept them")
    d = cmd("deploy", "validate and deploy BPMN/DMN/form files or folders", True)
    d.add_argument("paths", nargs="+")
    cmd("processes", "list deployed process versions", True)
    s = cmd("start", "start an instance of a process", True)
    s.add_argument("key")
    s.add_argument("--data", help="JSON object (or @file.json)")
    s.add_argument("--business-key")
    s.add_argument("--as", dest="actor")
    i = cmd("instances", "list instances", True)
    i.add_argument("--status")
    i.add_argument("--process")
    sh = cmd("show", "show one instance", True)
    sh.add_argument("id", type=int)
    t = cmd("tasks", "list ready user tasks", True)
    t.add_argument("--instance", type=int)
    t.add_argument("--lane")
    c = cmd("complete", "complete a user task", True)
    c.add_argument("task_id")
    c.add_argument("--data", help="JSON object (or @file.json)")
    c.add_argument("--as", dest="actor")
    m = cmd("message", "send a message to the instance that waits for it", True)
    m.add_argument("name")
    m.add_argument("--key", help="correlation key (the instance's business key)")
    m.add_argument("--payload", help="JSON object (or @file.json)")
    m.add_argument("--id", dest="message_id", help="message id: a repeated id is accepted once")
    cmd("timers", "list pending timers and retries", True)
    inc = cmd("incidents", "list open incidents", True)
    inc.add_argument("--all", action="store_true", help="also resolved ones")
    r = cmd("retry", "retry the failed task of an incident", True)
    r.add_argument("incident_id", type=int)
    r.add_argument("--as", dest="actor")
    for name, text in (
        ("cancel", "cancel an instance"),
        ("suspend", "suspend an instance"),
        ("resume", "resume a suspended instance"),
    ):
        x = cmd(name, text, True)
        x.add_argument("id", type=int)
        x.add_argument("--as", dest="actor")
    ck = cmd("clock", "show or move the (simulated) clock", True)
    ck.add_argument("action", choices=["show", "set", "advance"])
    ck.add_argument("value", nargs="?", help="ISO time for set; duration (P6W, PT2H, 3d) for advance")
    reg = cmd("registry", "list the register of providers, or show one registration", True)
    reg.add_argument("action", nargs="?", choices=["show"], help="show one registration")
    reg.add_argument("number", nargs="?", help="registration number (DV.O…/DV.A…)")
    reg.add_argument("--status", help="only this status")
    out = cmd("outbox", "list the e-mails kmop sent or keeps", True)
    out.add_argument("--application", help="only for this application id")
    cert = cmd("certificate", "write the latest certificate PDF of a registration")
    cert.add_argument("number")
    cert.add_argument("--out", required=True, help="file to write")
    cmd("worker", "run the timer worker in the foreground")
    tok = cmd("token", "issue or revoke an API token for a person (an audit bureau's system, say)")
    tok.add_argument("action", choices=["issue", "revoke"])
    tok.add_argument("username")
    tok.add_argument("--label", help="what the token is for; revoke: only tokens with this label")
    srv = cmd("serve", "serve the web application, with the timer worker in the same process")
    srv.add_argument("--host", default="127.0.0.1")
    srv.add_argument("--port", type=int, default=5000)
    demo = cmd("demo", "initialise, deploy bpmn/, add demo people and cases, and serve them (as kmop serve)")
    demo.add_argument("--no-run", action="store_true", help="set up and exit")
    demo.add_argument("--host", default="127.0.0.1")
    demo.add_argument("--port", type=int, default=5000)
    return p


def main(argv: Sequence[str] | None = None, engine: Any = None) -> int:
    """Run one command; return the exit code (also used as the console script)."""
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("kmop").setLevel(logging.INFO)
    args = build_parser().parse_args(argv)
    try:
        from .api import Engine

        eng: Engine = engine or Engine(Settings.from_env())
        _dispatch(eng, args)
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


def _dispatch(eng: Any, args: argparse.Namespace) -> None:
    from . import commands

    handler = getattr(commands, f"cmd_{args.command}")
    handler(eng, args)
