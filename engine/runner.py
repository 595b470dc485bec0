"""Run an instance: load it under lock, apply one action, run the engine, save state and projections.

Every change to an instance goes through ``execute`` inside the caller's transaction: one writer per
instance (a row lock on PostgreSQL, a write transaction on SQLite, and a version check everywhere), so
two users completing the same task cannot both succeed. Failing service tasks are retried with backoff
through a wake-up, then become an incident (``engine.failures``); the rest of the system goes on. What
a run works with is in ``engine.run``, how it is saved in ``engine.saving``.
"""

from __future__ import annotations

import logging
from contextvars import ContextVar
from datetime import timedelta
from time import perf_counter
from typing import Any

from SpiffWorkflow.bpmn.specs.event_definitions.message import MessageEventDefinition
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.util.task import TaskState
from sqlalchemy.orm import Session, make_transient_to_detached

from . import clock, metrics, projections, state
from .errors import Conflict, InstanceEnded, NotFound
from .failures import on_failure
from .models import ProcessInstance, ProcessVersion
from .run import (
    CLAIMED,
    ENDED,
    READ_ONLY,
    Action,
    KmopScriptEngine,
    Run,
    Runtime,
    begin_write,
    load,
    lock_instance,
    waiting_of,
)
from .saving import INSERT_INSTANCE, finish, record_completed, reindex

__all__ = [
    "CLAIMED",
    "ENDED",
    "READ_ONLY",
    "Action",
    "Run",
    "Runtime",
    "begin_write",
    "execute",
    "fire_timers",
    "load",
    "lock_instance",
    "reindex",
    "retry_failed_tasks",
    "start",
    "waiting_of",
]

log = logging.getLogger("kmop.engine")


def start(
    rt: Runtime,
    session: Session,
    version: ProcessVersion,
    data: dict[str, Any],
    business_key: str | None,
    actor: str | None,
) -> ProcessInstance:
    """Create an instance of ``version`` and run it until it waits."""
    started = perf_counter()
    with clock.pinned() as now:
        blueprint = rt.specs.blueprint(session, version)
        wf = BpmnWorkflow(*blueprint.instantiate())
        row = {
            "process_version_id": version.id,
            "process_key": version.process_key,
            "business_key": business_key,
            "status": "running",
            "skeleton": "{}",
            "lock_version": 0,
            "started_by": actor,
            "created_at": now,
            "updated_at": now,
            "ended_at": None,
            "search": None,
        }
        new_id = session.connection().execute(INSERT_INSTANCE, row).scalar_one()
        inst = ProcessInstance(id=new_id, **row)
        make_transient_to_detached(inst)  # the row exists: attach it as persistent, without a SELECT
        session.add(inst)
        run = Run(rt, session, inst, wf, blueprint, now, actor, fresh=True)
        wf.script_engine = KmopScriptEngine(run)
        start_task = wf.get_tasks(state=TaskState.READY)[0]
        start_task.data.update(data)
        run.record("started", element=version.process_key, data=state.to_plain(data), version=version.version)
        _advance(run)
        finish(run, state.LoadedState(), expected_version=None)
    _log_run(run, "start", started)
    _deliver_thrown(run)
    return inst


def execute(
    rt: Runtime,
    session: Session,
    instance_id: int,
    action: Action,
    actor: str | None = None,
    skip_locked: bool = False,
    allow_ended: bool = False,
    catch_up: bool = True,
) -> ProcessInstance | None:
    """Apply ``action`` to the instance and run it on; None when skipped because it is locked.

    With ``catch_up`` the instance's overdue timers fire first, so events take effect in time order:
    a message or a completion that comes after a deadline sees the deadline as passed.
    """
    started = perf_counter()
    inst = lock_instance(session, instance_id, skip_locked)
    if inst is None:
        if skip_locked:
            return None
        raise NotFound(f"no process instance {instance_id}")
    if inst.status in ENDED and not allow_ended:
        raise InstanceEnded(f"instance {instance_id} is {inst.status}: nothing can change it any more")
    if inst.status == "suspended":
        raise Conflict(f"instance {instance_id} is suspended: resume it first")
    with clock.pinned() as now:
        version = rt.specs.version(session, inst.process_version_id)
        blueprint = rt.specs.blueprint(session, version)
        kept = rt.workflows.take(session, inst.id, inst.lock_version)
        if kept is not None:
            wf, loaded = kept.workflow, kept.loaded
        else:
            wf, loaded = state.load(session, inst.id, inst.skeleton, blueprint)
        run = Run(rt, session, inst, wf, blueprint, now, actor)
        wf.script_engine = KmopScriptEngine(run)
        run.before = {t.id: t.state for t in projections.all_tasks(wf)}
        if catch_up:
            fire_timers(run)
        action(run)
        _advance(run)
        finish(run, loaded, expected_version=inst.lock_version)
    _log_run(run, "run", started)
    _deliver_thrown(run)
    return inst


def _log_run(run: Run, kind: str, started: float) -> None:
    """One line per run, for operators: which instance, where it waits now, how long the run took, its
    status. Never the case's data or who acted (the history has those)."""
    if not log.isEnabledFor(logging.INFO):
        return
    waiting = waiting_of(run.inst)
    elements = waiting.elements if waiting is not None else []
    duration_ms = round((perf_counter() - started) * 1000, 1)
    log.info(
        "%s instance %s (%s) in %s ms: %s%s",
        kind,
        run.inst.id,
        run.inst.process_key,
        duration_ms,
        run.inst.status,
        f" at {', '.join(elements)}" if elements else "",
        extra=run.log_fields(run=kind, elements=elements, duration_ms=duration_ms, status=run.inst.status),
    )


def _advance(run: Run) -> None:
    try:
        run.wf.do_engine_steps()
    except Exception as exc:  # any failure in a task: keep the progress made, record what failed
        record_completed(run)
        on_failure(run, exc)
    record_completed(run)
    _collect_thrown(run)


_DELIVERY_DEPTH: ContextVar[int] = ContextVar("kmop_delivery_depth", default=0)


def _collect_thrown(run: Run) -> None:
    """Messages the instance threw that no task of its own caught go to other instances."""
    for event in run.wf.get_events():
        definition = event.event_definition
        if isinstance(definition, MessageEventDefinition):
            run.thrown.append(event)
            run.record("message_sent", None, message=definition.name)


def _deliver_thrown(run: Run) -> None:
    """Send thrown messages on, correlated by the sender's business key, after its state is saved."""
    if not run.thrown:
        return
    send = run.runtime.send_message
    depth = _DELIVERY_DEPTH.get()
    if depth >= 10:
        log.error("instance %s: messages bounce between instances; stopped after 10 hops", run.inst.id)
        return
    token = _DELIVERY_DEPTH.set(depth + 1)
    try:
        for event in run.thrown:
            payload = event.payload if isinstance(event.payload, dict) else {"payload": event.payload}
            send(
                run.runtime,
                run.session,
                event.event_definition.name,
                run.inst.business_key,
                state.to_plain(payload),
                None,
                actor=f"instance:{run.inst.id}",
                thrown=True,
            )
    finally:
        _DELIVERY_DEPTH.reset(token)
    run.thrown.clear()


def fire_timers(run: Run) -> int:
    """Fire the timers due at the run's "now", each at its own due time, in due order; return how many.

    Timers due at the same moment fire together; the engine then runs on with "now" pinned at that
    moment, so what they set off (a service recording a date, a new timer counting from it) happens at the
    moment the timer fell due, however late the worker or whoever woke the instance came. Then the next
    moment, until nothing due is left. (The library alone fires only strictly after a due time, and all
    overdue timers at once at the present time.)
    """
    present = run.now
    fired = 0
    try:
        for _ in range(_MAX_TIMER_ROUNDS):
            due = [t for t in projections.waiting_timers(run.wf) if t.due_at <= present]
            if not due:
                break
            moment = min(t.due_at for t in due)
            run.now = moment
            with clock.pinned(moment + timedelta(microseconds=1)):
                run.wf.refresh_timers()
            for timer in due:
                task = projections.find_task(run.wf, timer.task_id)
                if timer.due_at == moment and (task is None or task.state != TaskState.WAITING):
                    lateness = (present - timer.due_at).total_seconds()
                    run.record(
                        "timer_fired",
                        timer.element_id,
                        due_at=timer.due_at.isoformat(),
                        late_seconds=lateness,
                    )
                    metrics.timer_fired(run.inst.process_key, lateness)
                    fired += 1
            with clock.pinned(moment):
                _advance(run)
        else:
            log.error("instance %s: timers keep falling due; stopped after %s rounds", run.inst.id, fired)
    finally:
        run.now = present
    return fired


_MAX_TIMER_ROUNDS = 1000


def retry_failed_tasks(run: Run) -> None:
    """Put failed tasks back (READY, or WAITING for an event) so that the engine runs them again."""
    for task in projections.all_tasks(run.wf):
        if task.state == TaskState.ERROR:
            waits = bool(projections.event_parts(task)) and not task.task_spec.manual
            task._set_state(TaskState.WAITING if waits else TaskState.READY)
            run.record("retried", projections.element_id(task))
