"""Run an instance: load it under lock, apply one action, run the engine, save state and projections.

Every change to an instance goes through ``execute`` inside the caller's transaction: one writer per
instance (a row lock on PostgreSQL, a write transaction on SQLite, and a version check everywhere), so
two users completing the same task cannot both succeed. Failing service tasks are retried with backoff
through a wake-up, then become an incident; the rest of the system goes on.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from weakref import WeakKeyDictionary

from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine
from SpiffWorkflow.bpmn.specs.event_definitions.message import MessageEventDefinition
from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.util.task import TaskState
from sqlalchemy import Table, bindparam, select
from sqlalchemy.orm import Session, make_transient_to_detached
from sqlalchemy.orm.attributes import set_committed_value

from tasks.registry import ServiceContext, ServiceRegistry

from . import clock, projections, state
from .blueprint import Blueprint
from .config import Settings
from .errors import Conflict, InstanceEnded, KmopError, NotFound
from .models import (
    HistoryEntry,
    Incident,
    InstanceAttribute,
    ProcessInstance,
    ProcessVersion,
    ServiceAttempt,
    WakeUp,
)
from .sandbox import SandboxedEnvironment
from .specs import SpecCache
from .workflow_cache import Kept, WorkflowCache

log = logging.getLogger("kmop.engine")

ENDED = ("completed", "cancelled")


@dataclass
class Runtime:
    """What lives as long as the process: settings, services, and the parsed-spec cache."""

    settings: Settings
    registry: ServiceRegistry
    specs: SpecCache = field(init=False)
    workflows: WorkflowCache = field(init=False)

    def __post_init__(self) -> None:
        self.specs = SpecCache(replay=self.settings.replay)
        self.workflows = WorkflowCache(self.settings.workflow_cache)

    def forget(self) -> None:
        """Empty every in-process cache but the parse caches, as a new process starts (replay mode).

        Kept: the parse results (blueprints are built from them anew) and the compiled diagram code (the
        sandbox's compile cache): both are pure functions of the deployed files and no run touches them.
        """
        self.specs.forget()
        self.workflows.clear()
        WAITING.clear()


@dataclass
class Run:
    """One engine run of one instance, inside the caller's transaction."""

    runtime: Runtime
    session: Session
    inst: ProcessInstance
    wf: BpmnWorkflow
    blueprint: Blueprint  # the version's specs: what the run's own spec copies are compared with
    now: datetime
    actor: str | None
    manual_retry: bool = False
    history: list[dict[str, Any]] = field(default_factory=list)
    before: dict[Any, int] = field(default_factory=dict)  # task states when the run began
    recorded: set[Any] = field(default_factory=set)  # completed tasks already in the history
    thrown: list[Any] = field(default_factory=list)  # messages thrown for other instances
    fresh: bool = False  # the instance was created in this run: nothing is stored for it yet
    incident_opened: bool = False
    retry_scheduled: bool = False

    def record(self, event: str, element: str | None = None, **detail: Any) -> None:
        entry = {"at": self.now, "event": event, "element_id": element, "actor": self.actor, "detail": detail}
        self.history.append(entry)


Action = Callable[[Run], None]


class _KmopScriptEngine(PythonScriptEngine):  # type: ignore[misc]
    """The sandboxed script engine, with service calls routed to kmop's registry."""

    def __init__(self, run: Run) -> None:
        helpers: dict[str, object] = {"now": clock.now}
        super().__init__(
            environment=SandboxedEnvironment(
                helpers,
                run.runtime.settings.script_timeout_seconds,
                memory_mb=run.runtime.settings.script_memory_mb,
            )
        )
        self.run = run

    def call_service(self, task: Any, operation_name: str, operation_params: dict[str, Any], **_: Any) -> str:
        # Overridden because the library's own error path raises NameError and hides the real error.
        run = self.run
        op = run.runtime.registry.get(operation_name)
        if op is None:
            raise KmopError(f"service operator '{operation_name}' is not registered")
        key = idempotency_key(run.inst.id, task)
        attempt = run.session.get(ServiceAttempt, key)
        ctx = ServiceContext(
            idempotency_key=key,
            instance_id=run.inst.id,
            business_key=run.inst.business_key,
            operator=operation_name,
            attempt=(attempt.failures if attempt else 0) + 1,
            now=run.now,
            session=run.session,
        )
        params = {name: p["value"] for name, p in operation_params.items()}
        # A failed attempt must leave nothing behind: its writes roll back with the savepoint.
        with run.session.begin_nested():
            result = op.function(ctx, **params)
        return json.dumps(state.to_plain(result))


def idempotency_key(instance_id: int, task: Any) -> str:
    return f"{instance_id}:{task.id}"


# ------------------------------------------------------------------------------------------ loading


READ_ONLY = "kmop_read_only"  # session.info flag: the transaction was opened to read only


def begin_write(session: Session) -> None:
    """On SQLite, open the transaction with the write lock, so that racing writers queue instead of
    failing when both try to upgrade a read lock. A no-op once the transaction has a connection.

    Refuses a transaction opened to read (``Engine.transaction(write=False)``): its writes would fail, or
    on SQLite race other writers.
    """
    if session.info.get(READ_ONLY):
        raise RuntimeError("a change was asked in a transaction opened to read: open it with write=True")
    if session.get_bind().dialect.name != "sqlite":
        return
    tx = session.get_transaction()
    if tx is None or not tx._connections:
        session.connection(execution_options={"kmop_write": True})


def lock_instance(session: Session, instance_id: int, skip_locked: bool = False) -> ProcessInstance | None:
    """Take the instance's write lock; with ``skip_locked``, return None when another run holds it."""
    begin_write(session)
    stmt = select(ProcessInstance).where(ProcessInstance.id == instance_id)
    stmt = stmt.with_for_update(skip_locked=skip_locked).execution_options(populate_existing=True)
    return session.scalars(stmt).one_or_none()


def load(rt: Runtime, session: Session, inst: ProcessInstance) -> tuple[BpmnWorkflow, state.LoadedState]:
    """The instance's workflow, restored on its own copy of its version's spec."""
    version = rt.specs.version(session, inst.process_version_id)
    return state.load(session, inst.id, inst.skeleton, rt.specs.blueprint(session, version))


# ------------------------------------------------------------------------------------------ running


def start(
    rt: Runtime,
    session: Session,
    version: ProcessVersion,
    data: dict[str, Any],
    business_key: str | None,
    actor: str | None,
) -> ProcessInstance:
    """Create an instance of ``version`` and run it until it waits."""
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
        new_id = session.connection().execute(_INSERT_INSTANCE, row).scalar_one()
        inst = ProcessInstance(id=new_id, **row)
        make_transient_to_detached(inst)  # the row exists: attach it as persistent, without a SELECT
        session.add(inst)
        run = Run(rt, session, inst, wf, blueprint, now, actor, fresh=True)
        wf.script_engine = _KmopScriptEngine(run)
        start_task = wf.get_tasks(state=TaskState.READY)[0]
        start_task.data.update(data)
        run.record("started", element=version.process_key, data=state.to_plain(data), version=version.version)
        _advance(run)
        _finish(run, state.LoadedState(), expected_version=None)
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
        wf.script_engine = _KmopScriptEngine(run)
        run.before = {t.id: t.state for t in projections.all_tasks(wf)}
        if catch_up:
            fire_timers(run)
        action(run)
        _advance(run)
        _finish(run, loaded, expected_version=inst.lock_version)
    _deliver_thrown(run)
    return inst


def _advance(run: Run) -> None:
    try:
        run.wf.do_engine_steps()
    except Exception as exc:  # any failure in a task: keep the progress made, record what failed
        _record_completed(run)
        _on_failure(run, exc)
    _record_completed(run)
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
    from . import messages  # messages drives runs itself: imported here to keep the modules acyclic

    depth = _DELIVERY_DEPTH.get()
    if depth >= 10:
        log.error("instance %s: messages bounce between instances; stopped after 10 hops", run.inst.id)
        return
    token = _DELIVERY_DEPTH.set(depth + 1)
    try:
        for event in run.thrown:
            payload = event.payload if isinstance(event.payload, dict) else {"payload": event.payload}
            messages.send(
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


def _root_cause(exc: BaseException) -> BaseException:
    seen: set[int] = set()
    current: BaseException = exc
    while id(current) not in seen:
        seen.add(id(current))
        context = None if current.__suppress_context__ else current.__context__
        inner = getattr(current, "exception", None) or current.__cause__ or context
        if not isinstance(inner, BaseException):
            break
        current = inner
    return current


def _on_failure(run: Run, exc: Exception) -> None:
    failed = [t for t in projections.all_tasks(run.wf) if t.state == TaskState.ERROR]
    if not failed:
        failed = _unset_timers(run)  # a timer whose expression failed when it started waiting
    if not failed:
        raise exc  # not a task failure: let the caller's transaction roll back
    task = failed[0]
    cause = _root_cause(exc)
    message = f"{type(cause).__name__}: {cause}"
    element = projections.element_id(task)
    operator = getattr(task.task_spec, "operation_name", None)
    if operator is not None and not run.manual_retry:
        key = idempotency_key(run.inst.id, task)
        attempt = run.session.get(ServiceAttempt, key)
        if attempt is None:
            attempt = ServiceAttempt(idempotency_key=key, instance_id=run.inst.id, failures=0, last_error="")
            run.session.add(attempt)
        attempt.failures += 1
        attempt.last_error = message
        op = run.runtime.registry.get(operator)
        settings = run.runtime.settings
        diagram_retries = (
            task.task_spec.retries
        )  # <spiffworkflow:retry retries="N">: N retries after the first
        limit = (
            (op.retry.attempts if op else None)
            or (int(diagram_retries) + 1 if diagram_retries is not None else None)
            or settings.service_attempts
        )
        base = (op.retry.backoff_seconds if op else None) or task.task_spec.retry_backoff_base
        base = float(base if base is not None else settings.service_backoff_seconds)
        run.record("service_failed", element, attempt=attempt.failures, of=int(limit), error=message)
        if attempt.failures < int(limit):
            due = run.now + timedelta(seconds=base * 2 ** (attempt.failures - 1))
            run.session.add(
                WakeUp(
                    instance_id=run.inst.id,
                    task_id=str(task.id),
                    element_id=element,
                    kind="retry",
                    due_at=due,
                )
            )
            run.retry_scheduled = True
            log.warning("service %s failed (attempt %s), retry at %s", operator, attempt.failures, due)
            return
    else:
        run.record("task_failed", element, error=message)
    attempts = 1
    if operator is not None:
        row = run.session.get(ServiceAttempt, idempotency_key(run.inst.id, task))
        attempts = row.failures if row else 1
    run.session.add(
        Incident(
            instance_id=run.inst.id,
            task_id=str(task.id),
            element_id=element,
            error_type=type(cause).__name__,
            message=str(cause) or type(cause).__name__,
            attempts=attempts,
            status="open",
            created_at=run.now,
        )
    )
    run.record("incident_opened", element, error=message)
    run.incident_opened = True
    log.error("incident on instance %s at %s: %s", run.inst.id, element, type(cause).__name__)


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
                    fired += 1
            with clock.pinned(moment):
                _advance(run)
        else:
            log.error("instance %s: timers keep falling due; stopped after %s rounds", run.inst.id, fired)
    finally:
        run.now = present
    return fired


_MAX_TIMER_ROUNDS = 1000


def _unset_timers(run: Run) -> list[Any]:
    broken = [
        t
        for t in projections.all_tasks(run.wf)
        if not t.state & TaskState.FINISHED_MASK
        and t.parent is not None
        and t.parent.state == TaskState.COMPLETED  # on the frontier: it was about to start waiting
        and "event_value" not in t.internal_data
        and any(isinstance(e, TimerEventDefinition) for e in projections.event_parts(t))
    ]
    for task in broken:
        task._set_state(TaskState.ERROR)
    return broken


def retry_failed_tasks(run: Run) -> None:
    """Put failed tasks back (READY, or WAITING for an event) so that the engine runs them again."""
    for task in projections.all_tasks(run.wf):
        if task.state == TaskState.ERROR:
            waits = bool(projections.event_parts(task)) and not task.task_spec.manual
            task._set_state(TaskState.WAITING if waits else TaskState.READY)
            run.record("retried", projections.element_id(task))


def _record_completed(run: Run) -> None:
    for task in projections.all_tasks(run.wf):
        if task.state != TaskState.COMPLETED or run.before.get(task.id) == TaskState.COMPLETED:
            continue
        if task.id in run.recorded:
            continue
        run.recorded.add(task.id)
        spec = task.task_spec
        if getattr(spec, "bpmn_id", None) is None or spec.manual:
            continue  # internal control tasks say nothing to people; user tasks are recorded by complete
        parent = task.parent
        changed = {k: v for k, v in task.data.items() if parent is None or parent.data.get(k, _MISSING) != v}
        if not changed and type(spec).__name__ in _SILENT_WHEN_UNCHANGED:
            continue  # a gateway or plain start/end that changed nothing: the path shows it, history need not
        run.record(
            "task_completed",
            projections.element_id(task),
            name=projections.element_name(task),
            changed=state.to_plain(changed),
        )


_MISSING = object()
_SILENT_WHEN_UNCHANGED = {
    "ExclusiveGateway", "ParallelGateway", "InclusiveGateway", "EventBasedGateway", "StartEvent", "EndEvent",
}  # fmt: skip


_HISTORY_TABLE: Table = HistoryEntry.__table__  # type: ignore[assignment]
_INSTANCE_TABLE: Table = ProcessInstance.__table__  # type: ignore[assignment]
# Built once: every run executes these, and building a statement costs more than running it here.
_INSERT_HISTORY = _HISTORY_TABLE.insert()
_INSERT_INSTANCE = _INSTANCE_TABLE.insert().returning(_INSTANCE_TABLE.c.id)
_SAVE_INSTANCE = (
    _INSTANCE_TABLE.update()
    .where(
        _INSTANCE_TABLE.c.id == bindparam("b_id"), _INSTANCE_TABLE.c.lock_version == bindparam("b_version")
    )
    .values(
        skeleton=bindparam("skeleton"),
        status=bindparam("status"),
        updated_at=bindparam("updated_at"),
        lock_version=bindparam("lock_version"),
        ended_at=bindparam("ended_at"),
        search=bindparam("search"),
    )
)
_ATTRIBUTE_TABLE: Table = InstanceAttribute.__table__  # type: ignore[assignment]
_INSERT_ATTRIBUTES = _ATTRIBUTE_TABLE.insert()
_DELETE_ATTRIBUTES = _ATTRIBUTE_TABLE.delete().where(_ATTRIBUTE_TABLE.c.instance_id == bindparam("b_id"))

# What the last run of an instance left waiting, for the caller's summary without asking the database again.
WAITING: WeakKeyDictionary[ProcessInstance, tuple[int, projections.Waiting]] = WeakKeyDictionary()


def waiting_of(inst: ProcessInstance) -> projections.Waiting | None:
    """Where the instance waits, as its last run in this process saw it (None when unknown)."""
    seen = WAITING.get(inst)
    return seen[1] if seen is not None and seen[0] == inst.lock_version else None


def _finish(run: Run, loaded: state.LoadedState, expected_version: int | None) -> None:
    inst, session, wf = run.inst, run.session, run.wf
    changes = run.blueprint.changes(wf.spec, wf.subprocess_specs)
    if run.runtime.settings.replay:
        run.blueprint.verify(wf.spec, wf.subprocess_specs, changes)
    skeleton, _written = state.save(session, inst.id, wf, loaded, changes)
    waiting = projections.sync(session, inst, wf, run.now, fresh=run.fresh)
    status = _status(run)
    ended_at = run.now if status in ENDED else inst.ended_at
    if status in ENDED and not run.fresh:
        projections.clear(session, inst.id)
    if status != inst.status:
        run.record("status", None, status=status, previous=inst.status)
    if run.history:
        rows = [{"instance_id": inst.id, **entry} for entry in run.history]
        session.connection().execute(_INSERT_HISTORY, rows)
    new_version = (expected_version or 0) + 1
    search = projections.search_values(wf, run.runtime.registry.search_fields)
    if search != inst.search:
        _index(session, inst.id, search, had_rows=bool(inst.search))
    values = {
        "skeleton": skeleton,
        "status": status,
        "updated_at": run.now,
        "lock_version": new_version,
        "ended_at": ended_at,
        "search": search,
    }
    current = expected_version if expected_version is not None else inst.lock_version
    result = session.connection().execute(_SAVE_INSTANCE, {**values, "b_id": inst.id, "b_version": current})
    if result.rowcount != 1:
        raise Conflict(f"instance {inst.id} was changed by someone else at the same time; try again")
    for name, value in values.items():  # written already: the ORM must not write it again at its flush
        set_committed_value(inst, name, value)
    WAITING[inst] = (new_version, waiting)
    if status not in ENDED:
        run.runtime.workflows.offer(session, inst.id, Kept(new_version, wf, loaded))


def _index(session: Session, instance_id: int, search: dict[str, str], had_rows: bool) -> None:
    """Write the instance's search fields (only when they changed: at start, and when a field is set)."""
    connection = session.connection()
    if had_rows:
        connection.execute(_DELETE_ATTRIBUTES, {"b_id": instance_id})
    if search:
        rows = [{"instance_id": instance_id, "name": k, "value": v} for k, v in search.items()]
        connection.execute(_INSERT_ATTRIBUTES, rows)


def reindex(rt: Runtime, session: Session, inst: ProcessInstance) -> dict[str, str]:
    """Write the search fields of an instance no run has indexed yet (one from before kmop kept them)."""
    wf, _ = load(rt, session, inst)
    search = projections.search_values(wf, rt.registry.search_fields)
    _index(session, inst.id, search, had_rows=True)
    inst.search = search
    return search


def _status(run: Run) -> str:
    """Work out the status, asking the database only about what this run cannot know."""
    if run.wf.completed:
        return "completed"
    session, inst = run.session, run.inst
    if run.incident_opened:
        return "error"
    if not run.fresh and inst.status == "error":
        open_incident = session.scalar(
            select(Incident.id).where(Incident.instance_id == inst.id, Incident.status == "open").limit(1)
        )
        if open_incident is not None:
            return "error"
    if run.retry_scheduled or any(
        t.state == TaskState.READY and not t.task_spec.manual for t in projections.all_tasks(run.wf)
    ):
        return "running"
    if not run.fresh and inst.status in ("running", "error"):
        retrying = session.scalar(
            select(WakeUp.id).where(WakeUp.instance_id == inst.id, WakeUp.kind == "retry").limit(1)
        )
        if retrying is not None:
            return "running"
    return "waiting"
