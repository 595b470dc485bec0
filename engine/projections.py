"""Keep kmop's own tables in step with a workflow after each run: the inbox, wake-ups, subscriptions.

Each projection is diffed against what is stored for the instance, so a run that changes one task
writes one row, whatever the size of the instance.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from SpiffWorkflow.bpmn.specs.event_definitions.message import MessageEventDefinition
from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition
from SpiffWorkflow.util.task import TaskState
from sqlalchemy import Table, bindparam, delete, select
from sqlalchemy.orm import Session

from .checks import FORM_PROPERTIES
from .models import ElementStay, MessageSubscription, ProcessInstance, UserTask, WakeUp
from .monitor import seconds_between


@dataclass(frozen=True)
class WaitingTimer:
    task_id: str
    element_id: str
    due_at: datetime


@dataclass(frozen=True)
class WaitingMessage:
    task_id: str
    element_id: str
    name: str


def all_tasks(wf: Any) -> list[Any]:
    tasks = list(wf.tasks.values())
    for sp in wf.subprocesses.values():
        tasks.extend(sp.tasks.values())
    return tasks


_FRONTIER = TaskState.READY | TaskState.WAITING | TaskState.STARTED | TaskState.ERROR


def current_data(wf: Any) -> dict[str, Any]:
    """The data a person would call "current": the workflow's when it ended, else that of the diagram
    element where the case most recently arrived (ready, waiting or failed), else of the one that most
    recently completed.

    Only tasks of diagram elements count: the library's own control tasks (the end join, boundary-event
    splits and joins) hold partial or empty data, and a branch that ended (an escalation handled beside
    a wait) leaves that data behind; neither may empty what the case shows and is found by.
    """
    if wf.completed:
        return dict(wf.data)
    elements = [t for t in all_tasks(wf) if getattr(t.task_spec, "bpmn_id", None)]
    frontier = [t for t in elements if t.state & _FRONTIER]
    candidates = frontier or [t for t in elements if t.state == TaskState.COMPLETED]
    if not candidates:
        return dict(wf.data)
    latest = max(candidates, key=lambda t: t.last_state_change)
    return {**wf.data, **latest.data}


def search_values(wf: Any, fields: tuple[str, ...]) -> dict[str, str]:
    """The search fields' current values as text (absent, empty or structured values are left out)."""
    if not fields:
        return {}
    data = current_data(wf)
    found: dict[str, str] = {}
    for name in fields:
        value = data.get(name)
        if isinstance(value, bool) or not isinstance(value, str | int) or value == "":
            continue
        found[name] = str(value)[:200]
    return found


def find_task(wf: Any, task_id: str) -> Any | None:
    """The task with this id, or None (the library raises instead)."""
    from uuid import UUID

    try:
        return wf.get_task_from_id(UUID(task_id))
    except Exception:  # TaskNotFoundException, or an id that is not a UUID
        return None


def element_id(task: Any) -> str:
    return str(getattr(task.task_spec, "bpmn_id", None) or task.task_spec.name)


def element_name(task: Any) -> str:
    return str(getattr(task.task_spec, "bpmn_name", None) or element_id(task))


def _timer_due(task: Any) -> datetime | None:
    value = task.internal_data.get("event_value")
    if isinstance(value, dict):  # a cycle: the next occurrence, while cycles remain
        value = value.get("next") if value.get("cycles", 0) != 0 else None
    if not isinstance(value, str):
        return None
    due = TimerEventDefinition.get_datetime(value)
    return due if isinstance(due, datetime) else None


def event_parts(task: Any) -> list[Any]:
    """The event definitions a task waits for; an event-based gateway waits for several at once."""
    event = getattr(task.task_spec, "event_definition", None)
    if event is None:
        return []
    return list(getattr(event, "event_definitions", None) or [event])


def waiting_timers(wf: Any) -> list[WaitingTimer]:
    found = []
    for task in all_tasks(wf):
        if task.state == TaskState.WAITING and any(
            isinstance(e, TimerEventDefinition) for e in event_parts(task)
        ):
            due = _timer_due(task)
            if due is not None:
                found.append(WaitingTimer(str(task.id), element_id(task), due))
    return found


def waiting_messages(wf: Any) -> list[WaitingMessage]:
    found = []
    for task in all_tasks(wf):
        if task.state != TaskState.WAITING:
            continue
        for event in event_parts(task):
            if isinstance(event, MessageEventDefinition):
                found.append(WaitingMessage(str(task.id), element_id(task), event.name))
    return found


def form_of(task: Any) -> str | None:
    props = (getattr(task.task_spec, "extensions", None) or {}).get("properties", {}) or {}
    for key in FORM_PROPERTIES:
        if props.get(key):
            return str(props[key])
    return None


def _due_of(
    task: Any, timers: dict[str, WaitingTimer], now: datetime, since: datetime | None = None
) -> datetime | None:
    """A user task is due when the earliest boundary timer on it fires, or its ``due`` property (an ISO
    8601 duration) after the moment it became ready (see :func:`ready_at`)."""
    parent = task.parent
    siblings = parent.children if parent is not None else []
    dues = [timers[str(s.id)].due_at for s in siblings if str(s.id) in timers]
    props = (getattr(task.task_spec, "extensions", None) or {}).get("properties", {}) or {}
    if props.get("due"):
        try:
            parsed = TimerEventDefinition.parse_iso_duration(str(props["due"]).strip("\"'"))
            start = ready_at(task, now, since)
            dues.append(start + TimerEventDefinition.get_timedelta_from_start(parsed, start))
        except Exception:
            pass  # an unreadable due property is shown as no due date, never an error in the run
    return min(dues) if dues else None


_MAX_WALK = 1000


def ready_at(task: Any, now: datetime, since: datetime | None = None) -> datetime:
    """When a task that became ready in this run did so, on kmop's clock.

    A run that catches up fires each overdue timer at its own moment and runs on from there (runner's
    ``fire_timers``), so a task set off by a timer became ready when that timer fell due, not at the run's
    ``now``. SpiffWorkflow's own ``last_state_change`` is wall-clock time (``time.time()``), not kmop's
    clock, so the moment is read from the task's past instead: walking back through what ran by itself
    (service, script, gateway and call-activity tasks, into the calling process), the first task that
    waited tells. A timer that fired after ``since`` (the instance's previous run; None for an instance
    created in this run) gives its due time; a user task, a message or any other event, or a timer that
    fired in an earlier run (a task held up by a failure and retried later), gives ``now``.
    """
    node = task
    for _ in range(_MAX_WALK):
        parent = node.parent
        if parent is None:  # the start of a called process: go on from the call activity
            parent_id = getattr(node.workflow, "parent_task_id", None)
            top = getattr(node.workflow, "top_workflow", None)
            parent = find_task(top, str(parent_id)) if parent_id is not None and top is not None else None
            if parent is None:
                return now
        node = parent
        if node.task_spec.manual:
            return now
        events = event_parts(node)
        if any(isinstance(e, TimerEventDefinition) for e in events):
            due = _timer_due(node)
            fired_now = due is not None and due <= now and (since is None or due > since)
            return due if fired_now and due is not None else now
        if any(type(e).__name__ != "NoneEventDefinition" for e in events):
            return now
    return now


@dataclass(frozen=True)
class Waiting:
    """Where an instance waits after a run: the elements of its ready tasks, timers and messages."""

    tasks: tuple[str, ...]
    timers: tuple[str, ...]
    messages: tuple[str, ...]
    due_at: datetime | None = None  # the earliest due date of the ready user tasks and the timers

    @property
    def elements(self) -> list[str]:
        return sorted({*self.tasks, *self.timers, *self.messages})


Rider = tuple[Any, dict[str, Any]]  # a statement and its parameters, run by the caller with the save

# Built once, with the instance as a parameter: every run asks these, and building a statement (and its
# cache key) costs more than running it.
_OPEN_TASKS = select(UserTask).where(UserTask.instance_id == bindparam("b_id"), UserTask.status == "ready")
_STORED_TIMERS = select(WakeUp).where(WakeUp.instance_id == bindparam("b_id"), WakeUp.kind == "timer")
_STORED_SUBSCRIPTIONS = select(MessageSubscription).where(
    MessageSubscription.instance_id == bindparam("b_id")
)


def sync(
    session: Session,
    inst: ProcessInstance,
    wf: Any,
    now: datetime,
    fresh: bool = False,
    later: list[Rider] | None = None,
) -> Waiting:
    """Bring user_task, wake_up (timers) and message_subscription in line with the workflow.

    ``fresh``: the instance was created in this run, so nothing is stored for it yet. ``later``: where to
    put the statement (with its parameters) that closes the stays that ended, for the caller to execute
    with the save.
    """
    timers = {t.task_id: t for t in waiting_timers(wf)}
    ready = {str(t.id): t for t in all_tasks(wf) if t.state == TaskState.READY and t.task_spec.manual}
    open_rows = {} if fresh else {row.id: row for row in session.scalars(_OPEN_TASKS, {"b_id": inst.id})}
    for tid, row in open_rows.items():
        if tid not in ready:
            task = find_task(wf, tid)
            row.status = (
                "completed" if task is not None and task.state == TaskState.COMPLETED else "cancelled"
            )
            row.completed_at = row.completed_at or now
    began = set(open_rows)  # the tasks this instance waited at before the run (with its timers, messages)
    dues: list[datetime | None] = [t.due_at for t in timers.values()]
    for tid, task in ready.items():
        if tid in open_rows:
            dues.append(open_rows[tid].due_at)
        else:
            due = _due_of(task, timers, now, since=None if fresh else inst.updated_at)
            dues.append(due)
            session.add(
                UserTask(
                    id=tid,
                    instance_id=inst.id,
                    element_id=element_id(task),
                    name=element_name(task),
                    lane=getattr(task.task_spec, "lane", None),
                    form=form_of(task),
                    status="ready",
                    created_at=now,
                    due_at=due,
                )
            )

    # An instance that ended in this run keeps no timer or subscription: ``clear`` deletes them all in two
    # statements, so they are neither read nor deleted one by one here (what it waited at is closed below).
    ended = wf.completed and not fresh
    stored_timers: Any = [] if fresh or ended else session.scalars(_STORED_TIMERS, {"b_id": inst.id})
    stored_timers = list(stored_timers)
    began.update(w.task_id for w in stored_timers)
    if not ended:
        _replace_rows(
            session,
            {(w.task_id, w.due_at): w for w in stored_timers},
            {(t.task_id, t.due_at): t for t in timers.values()},
            lambda t: WakeUp(
                instance_id=inst.id,
                task_id=t.task_id,
                element_id=t.element_id,
                kind="timer",
                due_at=t.due_at,
            ),
        )
    messages = waiting_messages(wf)
    stored_subs: Any = [] if fresh or ended else session.scalars(_STORED_SUBSCRIPTIONS, {"b_id": inst.id})
    stored_subs = list(stored_subs)
    began.update(sub.task_id for sub in stored_subs)
    if not ended:
        _replace_rows(
            session,
            {(s.task_id, s.message_name, s.correlation_key): s for s in stored_subs},
            {(m.task_id, m.name, inst.business_key): m for m in messages},
            lambda m: MessageSubscription(
                instance_id=inst.id,
                task_id=m.task_id,
                element_id=m.element_id,
                message_name=m.name,
                correlation_key=inst.business_key,
                created_at=now,
            ),
        )
    waits = {tid: ("task", element_id(t)) for tid, t in ready.items()}
    waits.update({t.task_id: ("timer", t.element_id) for t in timers.values() if t.task_id not in waits})
    waits.update({m.task_id: ("message", m.element_id) for m in messages if m.task_id not in waits})
    _keep_stays(session, inst, wf, began, waits, now, fresh, later)
    return Waiting(
        tuple(element_id(t) for t in ready.values()),
        tuple(t.element_id for t in timers.values()),
        tuple(m.element_id for m in messages),
        min((d for d in dues if d is not None), default=None),
    )


_STAY_TABLE: Table = ElementStay.__table__  # type: ignore[assignment]
_INSERT_STAY = _STAY_TABLE.insert()


def top_element(wf: Any, task: Any, element: str) -> str:
    """The element of the workflow's own diagram ``task`` (at ``element``) is in: its own, or the
    outermost call activity or subprocess that contains it."""
    while task is not None and task.workflow is not wf and task.workflow.parent_task_id is not None:
        task = wf.get_task_from_id(task.workflow.parent_task_id)
    return element if task is None else element_id(task)


def _stay_row(
    inst: ProcessInstance, wf: Any, tid: str, kind: str, element: str, now: datetime
) -> dict[str, Any]:
    """A new open stay. A boundary event's is kept apart (kind ``boundary``): the instance waits at the
    activity it is attached to, so it counts neither there nor in the time spent; only its due moment
    matters (the deadlines)."""
    task = find_task(wf, tid)
    if task is not None and type(task.task_spec).__name__ == "BoundaryEvent":
        kind = "boundary"
    return {
        "instance_id": inst.id,
        "process_key": inst.process_key,
        "process_version_id": inst.process_version_id,
        "task_id": tid,
        "element_id": element,
        "top_element_id": top_element(wf, task, element),
        "kind": kind,
        "entered_at": now,
        "left_at": None,
        "seconds": None,
    }


def _keep_stays(
    session: Session,
    inst: ProcessInstance,
    wf: Any,
    began: set[str],
    waits: dict[str, tuple[str, str]],
    now: datetime,
    fresh: bool,
    later: list[Rider] | None = None,
) -> None:
    """Open a stay for each wait that began in this run and close the open ones that ended (two statements
    at most; the closing one goes in ``later`` when given): the monitor's heatmap reads them. ``began``:
    the waits stored before this run."""
    opened = [
        _stay_row(inst, wf, tid, kind, element, now)
        for tid, (kind, element) in waits.items()
        if tid not in began
    ]
    if opened:
        session.connection().execute(_INSERT_STAY, opened)
    if fresh:
        return  # nothing was open before this run
    close = _close_stays(session, bool(waits))
    params = {"b_id": inst.id, "b_stay_now": now}
    if waits:
        params["b_stay_waits"] = list(waits)
    if later is not None:
        later.append((close, params))
    else:
        session.connection().execute(close, params)


_CLOSE_STAYS: dict[tuple[str, bool], Any] = {}


def _close_stays(session: Session, but_some: bool) -> Any:
    """The statement that closes an instance's open stays (all, or all but the tasks ``b_stay_waits``),
    built once per database dialect and shape."""
    key = (session.get_bind().dialect.name, but_some)
    found = _CLOSE_STAYS.get(key)
    if found is None:
        c = _STAY_TABLE.c
        ended = [c.instance_id == bindparam("b_id"), c.left_at.is_(None)]
        if but_some:
            ended.append(c.task_id.not_in(bindparam("b_stay_waits", expanding=True)))
        now = bindparam("b_stay_now", type_=c.left_at.type)
        seconds = seconds_between(session, c.entered_at, now)
        found = _CLOSE_STAYS[key] = _STAY_TABLE.update().where(*ended).values(left_at=now, seconds=seconds)
    return found


def _replace_rows(
    session: Session, stored: dict[Any, Any], wanted: dict[Any, Any], make: Callable[[Any], Any]
) -> None:
    """Delete stored rows no longer wanted and add wanted ones not stored, matching them by key."""
    for key, row in stored.items():
        if key not in wanted:
            session.delete(row)
    for key, item in wanted.items():
        if key not in stored:
            session.add(make(item))


_WAKE_UP_TABLE: Table = WakeUp.__table__  # type: ignore[assignment]
_SUBSCRIPTION_TABLE: Table = MessageSubscription.__table__  # type: ignore[assignment]


_CLEAR_WAKE_UPS = _WAKE_UP_TABLE.delete().where(_WAKE_UP_TABLE.c.instance_id == bindparam("b_id"))
_CLEAR_SUBSCRIPTIONS = _SUBSCRIPTION_TABLE.delete().where(
    _SUBSCRIPTION_TABLE.c.instance_id == bindparam("b_id")
)


def clear(session: Session, instance_id: int, later: list[Rider] | None = None) -> None:
    """Drop every waiting projection of an instance that ended or was cancelled (in ``later`` when given:
    the caller executes the statements with the instance's save, as they are, without the ORM)."""
    if later is None:
        session.execute(delete(WakeUp).where(WakeUp.instance_id == instance_id))
        session.execute(delete(MessageSubscription).where(MessageSubscription.instance_id == instance_id))
        return
    later.append((_CLEAR_WAKE_UPS, {"b_id": instance_id}))
    later.append((_CLEAR_SUBSCRIPTIONS, {"b_id": instance_id}))
