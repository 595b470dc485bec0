"""The engine's ``kmop`` commands: one transaction per command, output as text or JSON.

``register`` adds them to a ``Commands``; ``python -m engine`` runs them alone (with no services).
"""

from __future__ import annotations

import argparse
import json
import logging
from datetime import datetime
from typing import Any

from . import clock
from .api import Engine
from .cli import Commands, json_arg, show, table, when
from .errors import ClockError, KmopError
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

    show(args, result, human)


def cmd_processes(eng: Engine, args: argparse.Namespace) -> None:
    zone = eng.settings.zone
    with eng.transaction(write=False) as session:
        rows = eng.processes(session)
    show(
        args,
        rows,
        lambda rs: table(
            [
                [r.process_key, str(r.version), r.name or "", when(r.deployed_at, zone), ", ".join(r.files)]
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
    data = json_arg(args.data, "--data")
    with eng.transaction() as session:
        result = eng.start(session, args.key, data, business_key=args.business_key, actor=args.actor)
    show(args, result, _summary_line)


def cmd_instances(eng: Engine, args: argparse.Namespace) -> None:
    zone = eng.settings.zone
    with eng.transaction(write=False) as session:
        rows = eng.instances(session, status=args.status, process_key=args.process)
    show(
        args,
        rows,
        lambda rs: table(
            [
                [
                    str(r.id),
                    r.process_key,
                    str(r.version),
                    r.business_key or "-",
                    r.status,
                    when(r.updated_at, zone),
                    ", ".join(r.waiting_at) or "-",
                ]
                for r in rs
            ],
            ["ID", "PROCESS", "V", "BUSINESS KEY", "STATUS", "UPDATED", "WAITING AT"],
        ),
    )


def cmd_show(eng: Engine, args: argparse.Namespace) -> None:
    zone = eng.settings.zone
    with eng.transaction(write=False) as session:
        detail = eng.show(session, args.id)

    def human(d: Any) -> str:
        out = [
            f"instance {d.id}: {d.process_key} v{d.version}, business key {d.business_key or '-'}",
            f"status: {d.status}",
            f"data: {json.dumps(d.data, ensure_ascii=False)}",
            "ready tasks:",
        ]
        out += [
            f"  {t.id}  {t.name} [{t.lane or '-'}] due {when(t.due_at, zone)}" for t in d.ready_tasks
        ] or ["  -"]
        out += ["timers:"] + (
            [f"  {t.element_id} ({t.kind}) due {when(t.due_at, zone)}" for t in d.timers] or ["  -"]
        )
        out += ["waiting for messages:"] + (
            [f"  {s.message_name} (key {s.correlation_key})" for s in d.subscriptions] or ["  -"]
        )
        out += ["incidents:"] + (
            [f"  #{i.id} {i.element_id}: {i.message} ({i.status})" for i in d.incidents] or ["  -"]
        )
        out += ["history:"] + [
            f"  {when(h.at, zone)} {h.event} {h.element_id or ''} {h.actor or ''}" for h in d.history
        ]
        return "\n".join(out)

    show(args, detail, human)


def cmd_tasks(eng: Engine, args: argparse.Namespace) -> None:
    zone = eng.settings.zone
    with eng.transaction(write=False) as session:
        rows = eng.tasks(session, instance_id=args.instance, lane=args.lane)
    show(
        args,
        rows,
        lambda rs: table(
            [
                [
                    r.id,
                    str(r.instance_id),
                    r.name,
                    r.lane or "-",
                    when(r.due_at, zone) + (" OVERDUE" if r.overdue else ""),
                ]
                for r in rs
            ],
            ["TASK", "INSTANCE", "NAME", "LANE", "DUE"],
        ),
    )


def cmd_complete(eng: Engine, args: argparse.Namespace) -> None:
    data = json_arg(args.data, "--data")
    with eng.transaction() as session:
        result = eng.complete(session, args.task_id, data, actor=args.actor)
    show(args, result, _summary_line)


def cmd_message(eng: Engine, args: argparse.Namespace) -> None:
    payload = json_arg(args.payload, "--payload")
    with eng.transaction() as session:
        result = eng.message(session, args.name, args.key, payload, args.message_id, actor="cli")
    show(args, result, lambda r: f"{r.status}: {r.detail}")


def cmd_timers(eng: Engine, args: argparse.Namespace) -> None:
    zone = eng.settings.zone
    with eng.transaction(write=False) as session:
        rows = eng.timers(session)
    show(
        args,
        rows,
        lambda rs: table(
            [[str(r.instance_id), r.element_id, r.kind, when(r.due_at, zone)] for r in rs],
            ["INSTANCE", "ELEMENT", "KIND", "DUE"],
        ),
    )


def cmd_incidents(eng: Engine, args: argparse.Namespace) -> None:
    with eng.transaction(write=False) as session:
        rows = eng.incidents(session, status=None if args.all else "open")
    show(
        args,
        rows,
        lambda rs: table(
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
    show(args, result, _summary_line)


def cmd_cancel(eng: Engine, args: argparse.Namespace) -> None:
    with eng.transaction() as session:
        result = eng.cancel(session, args.id, actor=args.actor)
    show(args, result, _summary_line)


def cmd_suspend(eng: Engine, args: argparse.Namespace) -> None:
    with eng.transaction() as session:
        result = eng.set_suspended(session, args.id, True, actor=args.actor)
    show(args, result, _summary_line)


def cmd_resume(eng: Engine, args: argparse.Namespace) -> None:
    with eng.transaction() as session:
        result = eng.set_suspended(session, args.id, False, actor=args.actor)
    show(args, result, _summary_line)


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
    show(
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


def cmd_migrate(eng: Engine, args: argparse.Namespace) -> None:
    """Preview (``--dry-run``) or move running cases of a process from one version to another."""
    from .cli import Plain

    zone = eng.settings.zone
    if args.dry_run:
        with eng.transaction(write=False) as session:
            preview = eng.migration_preview(session, args.key, args.from_version, args.to_version)
        cases = [c for c in preview.cases if not args.cases or c.instance_id in args.cases]
        result = Plain({**preview.to_dict(), "cases": [c.to_dict() for c in cases]})

        def human(_: Any) -> str:
            out = [f"{preview.process_key}: version {preview.from_version} -> {preview.to_version} (dry run)"]
            out += [
                f"  {e.name} ({e.kind}, {e.change}): {e.waiting} waiting, {e.movable} can move"
                for e in preview.elements
            ]
            out += [f"timer {t.name}: {t.old} -> {t.new}" for t in preview.timer_changes]
            if preview.timer_changes:
                out.append(
                    "  a changed duration is recomputed from the moment the timer started"
                    " (if that has passed, it fires at once); unchanged timers keep their moment"
                )
            for c in cases:
                state = (
                    "can move" if c.movable else "cannot move: " + "; ".join(r.message for r in c.refusals)
                )
                out.append(f"instance {c.instance_id} (key {c.business_key or '-'}): {state}")
                out += [
                    f"    timer {t.name}: {when(t.due_at, zone)} -> {when(t.new_due_at, zone)} ({t.rule})"
                    for t in c.timers
                ]
            return "\n".join(out)

        show(args, result, human)
        return
    if not (args.reason or "").strip():
        raise KmopError("say why with --reason (kept in the audit trail)")
    report = eng.migrate_cases(
        args.key,
        args.from_version,
        args.to_version,
        args.reason,
        actor=args.actor or "cli",
        instance_ids=args.cases or None,
    )

    def words(r: Any) -> str:
        head = f"{r.process_key}: version {r.from_version} -> {r.to_version}"
        out = [f"{head}: {len(r.moved)} moved, {len(r.refused)} refused"]
        out += [f"moved instance {m.instance_id} (key {m.business_key or '-'})" for m in r.moved]
        out += [f"refused instance {x.instance_id}: {x.reason}" for x in r.refused]
        return "\n".join(out)

    show(args, report, words)


def register(commands: Commands) -> None:
    """Add the engine's commands to ``commands``."""
    add = commands.add
    add("init", "create or upgrade the database schema (and index cases from before, see reindex)", cmd_init)
    add("reindex", "index the search fields of cases from before kmop kept them", cmd_reindex)
    add(
        "deploy",
        "validate and deploy BPMN/DMN/form files or folders",
        cmd_deploy,
        lambda p: p.add_argument("paths", nargs="+"),
        json_flag=True,
    )
    add("processes", "list deployed process versions", cmd_processes, json_flag=True)
    add("start", "start an instance of a process", cmd_start, _start_arguments, json_flag=True)
    add("instances", "list instances", cmd_instances, _instances_arguments, json_flag=True)
    add("show", "show one instance", cmd_show, lambda p: p.add_argument("id", type=int), json_flag=True)
    add("tasks", "list ready user tasks", cmd_tasks, _tasks_arguments, json_flag=True)
    add("complete", "complete a user task", cmd_complete, _complete_arguments, json_flag=True)
    add(
        "message",
        "send a message to the instance that waits for it",
        cmd_message,
        _message_arguments,
        json_flag=True,
    )
    add("timers", "list pending timers and retries", cmd_timers, json_flag=True)
    add(
        "incidents",
        "list open incidents",
        cmd_incidents,
        lambda p: p.add_argument("--all", action="store_true", help="also resolved ones"),
        json_flag=True,
    )
    add("retry", "retry the failed task of an incident", cmd_retry, _retry_arguments, json_flag=True)
    add("cancel", "cancel an instance", cmd_cancel, _instance_arguments, json_flag=True)
    add("suspend", "suspend an instance", cmd_suspend, _instance_arguments, json_flag=True)
    add("resume", "resume a suspended instance", cmd_resume, _instance_arguments, json_flag=True)
    add("clock", "show or move the (simulated) clock", cmd_clock, _clock_arguments, json_flag=True)
    add("worker", "run the timer worker in the foreground", cmd_worker)
    add(
        "migrate",
        "preview or move running cases of a process to another version",
        cmd_migrate,
        _migrate_arguments,
        json_flag=True,
    )


def _start_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("key")
    p.add_argument("--data", help="JSON object (or @file.json)")
    p.add_argument("--business-key")
    p.add_argument("--as", dest="actor")


def _instances_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--status")
    p.add_argument("--process")


def _tasks_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--instance", type=int)
    p.add_argument("--lane")


def _complete_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("task_id")
    p.add_argument("--data", help="JSON object (or @file.json)")
    p.add_argument("--as", dest="actor")


def _message_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("name")
    p.add_argument("--key", help="correlation key (the instance's business key)")
    p.add_argument("--payload", help="JSON object (or @file.json)")
    p.add_argument("--id", dest="message_id", help="message id: a repeated id is accepted once")


def _retry_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("incident_id", type=int)
    p.add_argument("--as", dest="actor")


def _instance_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("id", type=int)
    p.add_argument("--as", dest="actor")


def _clock_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("action", choices=["show", "set", "advance"])
    p.add_argument("value", nargs="?", help="ISO time for set; duration (P6W, PT2H, 3d) for advance")


def _migrate_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("key", help="the process key")
    p.add_argument(
        "--from", dest="from_version", type=int, required=True, help="the version the cases are on"
    )
    p.add_argument("--to", dest="to_version", type=int, required=True, help="the version to move them to")
    p.add_argument("--case", dest="cases", type=int, action="append", help="only this case (repeatable)")
    p.add_argument("--dry-run", action="store_true", help="only show what would happen")
    p.add_argument("--reason", help="why (required unless --dry-run; kept in the audit trail)")
    p.add_argument("--as", dest="actor")
