"""Carry out each ``kmop`` command: one transaction per command, output as text or JSON."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from datetime import datetime
from typing import Any

from . import clock
from .api import Engine
from .cli import _json_arg, _print, _table, _when
from .errors import ClockError, KmopError, NotFound
from .views import InstanceSummary

log = logging.getLogger("kmop.cli")


def cmd_init(eng: Engine, args: argparse.Namespace) -> None:
    eng.init_db()
    print(f"database ready: {_safe_url(eng.settings.database_url)}")
    cmd_reindex(eng, args)


def cmd_reindex(eng: Engine, args: argparse.Namespace) -> None:
    """Index the search fields of cases from before kmop kept them (so portals find them by query)."""
    total = 0
    while True:
        with eng.transaction() as session:
            done = eng.reindex(session)
        total += done
        if not done:
            break
        print(f"indexed {total} cases")
    if total:
        print(f"indexed the search fields of {total} cases from before")


def _safe_url(url: str) -> str:
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        return f"{scheme}://…@{rest.split('@', 1)[1]}"
    return url


def cmd_deploy(eng: Engine, args: argparse.Namespace) -> None:
    with eng.transaction() as session:
        result = eng.deploy(session, args.paths, actor="cli")

    def human(r: Any) -> str:
        lines = [f"deployed {d['process_key']} version {d['version']}" for d in r.created]
        lines += [f"unchanged {d['process_key']} (version {d['version']})" for d in r.unchanged]
        return "\n".join(lines) or "nothing to deploy"

    _print(args, result, human)


def cmd_processes(eng: Engine, args: argparse.Namespace) -> None:
    with eng.transaction(write=False) as session:
        rows = eng.processes(session)
    _print(
        args,
        rows,
        lambda rs: _table(
            [
                [r.process_key, str(r.version), r.name or "", _when(r.deployed_at), ", ".join(r.files)]
                for r in rs
            ],
            ["PROCESS", "VERSION", "NAME", "DEPLOYED", "FILES"],
        ),
    )


def _summary_line(s: InstanceSummary) -> str:
    waits = ", ".join(s.waiting_at) or "-"
    key = s.business_key or "-"
    return f"instance {s.id} ({s.process_key} v{s.version}, key {key}): {s.status}; waits at {waits}"


def cmd_start(eng: Engine, args: argparse.Namespace) -> None:
    data = _json_arg(args.data, "--data")
    with eng.transaction() as session:
        result = eng.start(session, args.key, data, business_key=args.business_key, actor=args.actor)
    _print(args, result, _summary_line)


def cmd_instances(eng: Engine, args: argparse.Namespace) -> None:
    with eng.transaction(write=False) as session:
        rows = eng.instances(session, status=args.status, process_key=args.process)
    _print(
        args,
        rows,
        lambda rs: _table(
            [
                [
                    str(r.id),
                    r.process_key,
                    str(r.version),
                    r.business_key or "-",
                    r.status,
                    _when(r.updated_at),
                    ", ".join(r.waiting_at) or "-",
                ]
                for r in rs
            ],
            ["ID", "PROCESS", "V", "BUSINESS KEY", "STATUS", "UPDATED", "WAITING AT"],
        ),
    )


def cmd_show(eng: Engine, args: argparse.Namespace) -> None:
    with eng.transaction(write=False) as session:
        detail = eng.show(session, args.id)

    def human(d: Any) -> str:
        out = [
            f"instance {d.id}: {d.process_key} v{d.version}, business key {d.business_key or '-'}",
            f"status: {d.status}",
            f"data: {json.dumps(d.data, ensure_ascii=False)}",
            "ready tasks:",
        ]
        out += [f"  {t.id}  {t.name} [{t.lane or '-'}] due {_when(t.due_at)}" for t in d.ready_tasks] or [
            "  -"
        ]
        out += ["timers:"] + (
            [f"  {t.element_id} ({t.kind}) due {_when(t.due_at)}" for t in d.timers] or ["  -"]
        )
        out += ["waiting for messages:"] + (
            [f"  {s.message_name} (key {s.correlation_key})" for s in d.subscriptions] or ["  -"]
        )
        out += ["incidents:"] + (
            [f"  #{i.id} {i.element_id}: {i.message} ({i.status})" for i in d.incidents] or ["  -"]
        )
        out += ["history:"] + [
            f"  {_when(h.at)} {h.event} {h.element_id or ''} {h.actor or ''}" for h in d.history
        ]
        return "\n".join(out)

    _print(args, detail, human)


def cmd_tasks(eng: Engine, args: argparse.Namespace) -> None:
    with eng.transaction(write=False) as session:
        rows = eng.tasks(session, instance_id=args.instance, lane=args.lane)
    _print(
        args,
        rows,
        lambda rs: _table(
            [
                [
                    r.id,
                    str(r.instance_id),
                    r.name,
                    r.lane or "-",
                    _when(r.due_at) + (" OVERDUE" if r.overdue else ""),
                ]
                for r in rs
            ],
            ["TASK", "INSTANCE", "NAME", "LANE", "DUE"],
        ),
    )


def cmd_complete(eng: Engine, args: argparse.Namespace) -> None:
    data = _json_arg(args.data, "--data")
    with eng.transaction() as session:
        result = eng.complete(session, args.task_id, data, actor=args.actor)
    _print(args, result, _summary_line)


def cmd_message(eng: Engine, args: argparse.Namespace) -> None:
    payload = _json_arg(args.payload, "--payload")
    with eng.transaction() as session:
        result = eng.message(session, args.name, args.key, payload, args.message_id, actor="cli")
    _print(args, result, lambda r: f"{r.status}: {r.detail}")


def cmd_timers(eng: Engine, args: argparse.Namespace) -> None:
    with eng.transaction(write=False) as session:
        rows = eng.timers(session)
    _print(
        args,
        rows,
        lambda rs: _table(
            [[str(r.instance_id), r.element_id, r.kind, _when(r.due_at)] for r in rs],
            ["INSTANCE", "ELEMENT", "KIND", "DUE"],
        ),
    )


def cmd_incidents(eng: Engine, args: argparse.Namespace) -> None:
    with eng.transaction(write=False) as session:
        rows = eng.incidents(session, status=None if args.all else "open")
    _print(
        args,
        rows,
        lambda rs: _table(
            [
                [str(r.id), str(r.instance_id), r.element_id, r.status, str(r.attempts), r.message[:80]]
                for r in rs
            ],
            ["ID", "INSTANCE", "ELEMENT", "STATUS", "ATTEMPTS", "ERROR"],
        ),
    )


def cmd_retry(eng: Engine, args: argparse.Namespace) -> None:
    with eng.transaction() as session:
        result = eng.retry(session, args.incident_id, actor=args.actor)
    _print(args, result, _summary_line)


def cmd_cancel(eng: Engine, args: argparse.Namespace) -> None:
    with eng.transaction() as session:
        result = eng.cancel(session, args.id, actor=args.actor)
    _print(args, result, _summary_line)


def cmd_suspend(eng: Engine, args: argparse.Namespace) -> None:
    with eng.transaction() as session:
        result = eng.set_suspended(session, args.id, True, actor=args.actor)
    _print(args, result, _summary_line)


def cmd_resume(eng: Engine, args: argparse.Namespace) -> None:
    with eng.transaction() as session:
        result = eng.set_suspended(session, args.id, False, actor=args.actor)
    _print(args, result, _summary_line)


class _ClockView:
    def __init__(self, now: datetime, simulated: bool, fired: int | None) -> None:
        self.now, self.simulated, self.fired = now, simulated, fired

    def to_dict(self) -> dict[str, Any]:
        return {"now": self.now.isoformat(), "simulated": self.simulated, "fired": self.fired}


def cmd_clock(eng: Engine, args: argparse.Namespace) -> None:
    fired: int | None = None
    if args.action != "show":
        if not eng.clock.simulated:
            raise ClockError("the clock is the system clock; set KMOP_CLOCK=simulated to move it")
        if not args.value:
            raise KmopError(f"clock {args.action} needs a value")
        if args.action == "set":
            try:
                target = datetime.fromisoformat(args.value)
            except ValueError as exc:
                raise ClockError(f"not an ISO 8601 time: {args.value!r}") from exc
            if target.tzinfo is None:
                raise ClockError("give the time with a UTC offset, e.g. 2027-01-01T09:00:00+01:00")
        else:
            target = clock.now() + clock.parse_duration(args.value)
        fired = eng.advance_clock(target)
    view = _ClockView(clock.now(), eng.clock.simulated, fired)
    mode = "simulated" if view.simulated else "system"
    _print(
        args,
        view,
        lambda v: (
            f"{v.now.isoformat()} ({mode})"
            + (f"; woke {v.fired} instance(s) on the way" if v.fired is not None else "")
        ),
    )


def cmd_worker(eng: Engine, args: argparse.Namespace) -> None:
    from .worker import run_forever

    run_forever(eng)


def cmd_demo(eng: Engine, args: argparse.Namespace) -> None:
    from . import demo

    demo.prepare(eng)
    if args.no_run:
        return
    print("log in with any demo person above, password 'demo'; in another shell try 'kmop instances'")
    serve(eng, args.host, args.port)


def cmd_serve(eng: Engine, args: argparse.Namespace) -> None:
    eng.init_db()
    serve(eng, args.host, args.port)


def serve(eng: Engine, host: str, port: int) -> None:
    """Serve the web application with the timer worker in the same process, until Ctrl-C or SIGTERM.

    The embedded default (SQLite, one process). In production run the app under gunicorn
    (``gunicorn 'web:create_app()'``) with ``kmop worker`` beside it.
    """
    import signal
    import threading

    from werkzeug.serving import make_server

    from web import create_app

    from .worker import Worker

    app = create_app(engine=eng)
    server = make_server(host, port, app, threaded=True)
    worker = Worker(eng)

    def _stop(*_: Any) -> None:
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    worker.start()
    print(
        f"kmop serves http://{host}:{server.server_port}/ with the timer worker; Ctrl-C stops it", flush=True
    )
    try:
        server.serve_forever()
    finally:
        worker.stop()
        server.server_close()
        print("kmop stopped", flush=True)


class _Plain:
    def __init__(self, value: Any) -> None:
        self.value = value

    def to_dict(self) -> Any:
        return self.value


def cmd_registry(eng: Engine, args: argparse.Namespace) -> None:
    from tasks import register

    with eng.transaction(write=False) as session:
        if args.action == "show":
            if not args.number:
                raise KmopError("kmop registry show needs a registration number")
            reg = register.find(session, args.number)
            if reg is None:
                raise NotFound(f"no registration {args.number}")
            record = register.as_record(session, reg)
            _print(args, _Plain(record), _registration_text)
            return
        records = [
            register.as_record(session, r, with_history=False)
            for r in register.all_registrations(session, args.status)
        ]
    _print(
        args,
        [_Plain(r) for r in records],
        lambda rs: _table(
            [
                [
                    r.value["registration_number"],
                    r.value["company_name"],
                    r.value["service"],
                    r.value["status"],
                    r.value["valid_from"],
                    r.value["valid_until"],
                ]
                for r in rs
            ],
            ["NUMBER", "PROVIDER", "SERVICE", "STATUS", "FROM", "UNTIL"],
        ),
    )


def _registration_text(plain: Any) -> str:
    r = plain.value
    lines = [
        f"{r['registration_number']}: {r['company_name']} ({r['enterprise_number']}), {r['service']}",
        f"status {r['status']}, valid {r['valid_from']} to {r['valid_until']}",
        "history:",
    ]
    lines += [
        f"  {h['date']} {h['status']} {h['valid_from']}..{h['valid_until']}: {h['reason']}"
        for h in r["history"]
    ]
    return "\n".join(lines)


def cmd_outbox(eng: Engine, args: argparse.Namespace) -> None:
    from sqlalchemy import select

    from tasks.models import OutboxMessage

    with eng.transaction(write=False) as session:
        query = select(OutboxMessage).order_by(OutboxMessage.id)
        if args.application:
            query = query.where(OutboxMessage.application_id == args.application)
        rows = [
            _Plain(
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
    _print(
        args,
        rows,
        lambda rs: _table(
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
    from pathlib import Path

    from tasks import certificate, register

    with eng.transaction(write=False) as session:
        reg = register.find(session, args.number)
        cert = certificate.latest(session, reg) if reg is not None else None
        if cert is None:
            raise NotFound(f"no certificate for registration {args.number}")
        Path(args.out).write_bytes(cert.pdf)
    print(f"wrote {args.out} ({len(cert.pdf)} bytes, issued {cert.issued_at.isoformat()})")


def cmd_token(eng: Engine, args: argparse.Namespace) -> None:
    from tasks import people

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
