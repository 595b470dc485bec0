"""The domain's ``kmop`` commands: the register, the outbox, certificates, API tokens and the demo."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import select

from engine import clock
from engine.api import Engine
from engine.cli import Commands, Plain, show, table
from engine.errors import KmopError, NotFound

from . import certificate, demo, people, register
from .models import OutboxMessage

Serve = Callable[[Engine, str, int], None]


def cmd_registry(eng: Engine, args: argparse.Namespace) -> None:
    with eng.transaction(write=False) as session:
        if args.action == "show":
            if not args.number:
                raise KmopError("kmop registry show needs a registration number")
            reg = register.find(session, args.number)
            if reg is None:
                raise NotFound(f"no registration {args.number}")
            record = register.as_record(session, reg)
            show(args, Plain(record), _registration_text)
            return
        records = [
            register.as_record(session, r, with_history=False)
            for r in register.all_registrations(session, args.status)
        ]
    show(
        args,
        [Plain(r) for r in records],
        lambda rs: table(
            [
                [
                    r.value["registration_number"],
                    r.value["company_name"],
                    r.value["service"],
                    r.value["status"],
                    r.value["current_period"]["valid_from"],
                    r.value["current_period"]["valid_until"],
                    _period(r.value["next_period"]),
                ]
                for r in rs
            ],
            ["NUMBER", "PROVIDER", "SERVICE", "STATUS", "FROM", "UNTIL", "NEXT PERIOD"],
        ),
    )


def _registration_text(plain: Any) -> str:
    r = plain.value
    lines = [
        f"{r['registration_number']}: {r['company_name']} ({r['enterprise_number']}), {r['service']}",
        f"status {r['status']}, current period {_period(r['current_period'])}",
        f"next period {_period(r['next_period'])}",
        "history:",
    ]
    lines += [
        f"  {h['date']} {h['status']} {h['valid_from']}..{h['valid_until']}: {h['reason']}"
        for h in r["history"]
    ]
    return "\n".join(lines)


def _period(period: dict[str, str] | None) -> str:
    return f"{period['valid_from']} to {period['valid_until']}" if period else "-"


def cmd_outbox(eng: Engine, args: argparse.Namespace) -> None:
    with eng.transaction(write=False) as session:
        query = select(OutboxMessage).order_by(OutboxMessage.id)
        if args.application:
            query = query.where(OutboxMessage.application_id == args.application)
        rows = [
            Plain(
                {
                    "id": m.id,
                    "application_id": m.application_id,
                    "to": m.to_address,
                    "template": m.template,
                    "subject": m.subject,
                    "body": m.body,
                    "created_at": m.created_at.isoformat(),
                    "sent_at": m.sent_at.isoformat() if m.sent_at else None,
                    "error": m.error,
                }
            )
            for m in session.scalars(query)
        ]
    show(
        args,
        rows,
        lambda rs: table(
            [
                [
                    str(r.value["id"]),
                    r.value["application_id"] or "-",
                    r.value["to"],
                    r.value["subject"],
                    "sent" if r.value["sent_at"] else "kept",
                ]
                for r in rs
            ],
            ["ID", "APPLICATION", "TO", "SUBJECT", "STATE"],
        ),
    )


def cmd_certificate(eng: Engine, args: argparse.Namespace) -> None:
    with eng.transaction(write=False) as session:
        reg = register.find(session, args.number)
        cert = certificate.latest(session, reg) if reg is not None else None
        if cert is None:
            raise NotFound(f"no certificate for registration {args.number}")
        Path(args.out).write_bytes(cert.pdf)
    print(f"wrote {args.out} ({len(cert.pdf)} bytes, issued {cert.issued_at.isoformat()})")


def cmd_token(eng: Engine, args: argparse.Namespace) -> None:
    with eng.transaction() as session:
        person = people.find_person(session, args.username)
        if person is None:
            raise NotFound(f"no person {args.username}")
        if args.action == "issue":
            token = people.issue_token(session, person, args.label or "api", clock.now())
            print(token)
            print(
                "(shown once: kmop keeps only its hash; the API takes it as 'Authorization: Bearer …')",
                file=sys.stderr,
            )
        else:
            count = people.revoke_tokens(session, person, args.label)
            print(f"revoked {count} token(s) of {person.username}")


def demo_command(serve: Serve) -> Callable[[Engine, argparse.Namespace], None]:
    """``kmop demo``: prepare the demo, then serve it with ``serve`` (the web application's)."""

    def cmd_demo(eng: Engine, args: argparse.Namespace) -> None:
        demo.prepare(eng)
        if args.no_run:
            return
        print("log in with any demo person above, password 'demo'; in another shell try 'kmop instances'")
        serve(eng, args.host, args.port)

    return cmd_demo


def register_commands(commands: Commands, serve: Serve) -> None:
    """Add the domain's commands; ``demo`` serves what it prepared with ``serve``."""
    commands.add(
        "registry",
        "list the register of providers, or show one registration",
        cmd_registry,
        _registry_arguments,
        json_flag=True,
    )
    commands.add(
        "outbox",
        "list the e-mails kmop sent or keeps",
        cmd_outbox,
        lambda p: p.add_argument("--application", help="only for this application id"),
        json_flag=True,
    )
    commands.add(
        "certificate",
        "write the latest certificate PDF of a registration",
        cmd_certificate,
        _certificate_arguments,
    )
    commands.add(
        "token",
        "issue or revoke an API token for a person (an audit bureau's system, say)",
        cmd_token,
        _token_arguments,
    )
    commands.add(
        "demo",
        "initialise, deploy bpmn/, add demo people and cases, and serve them (as kmop serve)",
        demo_command(serve),
        _demo_arguments,
    )


def _registry_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("action", nargs="?", choices=["show"], help="show one registration")
    p.add_argument("number", nargs="?", help="registration number (DV.O…/DV.A…)")
    p.add_argument("--status", help="only this status")


def _certificate_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("number")
    p.add_argument("--out", required=True, help="file to write")


def _token_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("action", choices=["issue", "revoke"])
    p.add_argument("username")
    p.add_argument("--label", help="what the token is for; revoke: only tokens with this label")


def _demo_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--no-run", action="store_true", help="set up and exit")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=5000)
