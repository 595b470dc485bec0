"""Offer kmop's engine as one typed facade: deploy, start, complete, message, wake, query.

Every method that reads or writes takes the caller's ``Session``; the caller owns the transaction
(``with engine.transaction() as session: ...``). Methods return the dataclasses of ``engine.views``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Collection, Iterator, Sequence
from contextvars import ContextVar
from datetime import datetime
from pathlib import Path
from typing import Any

from SpiffWorkflow.util.task import TaskState
from sqlalchemy import Engine as DbEngine
from sqlalchemy import bindparam, func, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from tasks.registry import ServiceContext, ServiceRegistry, default_registry

from . import clock, forms, messages, projections, queries, runner, specs, state, timers
from .config import Settings
from .db import make_db, session_factory, upgrade
from .errors import Claimed, Conflict, Forbidden, InvalidInput, KmopError, NotFound
from .models import (
    DefinitionFile,
    HistoryEntry,
    Incident,
    MessageSubscription,
    ProcessInstance,
    ProcessVersion,
    UserTask,
    WakeUp,
)
from .script_host import NotStorable, check_depth
from .views import (
    DeployView,
    HistoryView,
    IncidentView,
    InstanceDetail,
    InstanceSummary,
    MessageResult,
    ProcessView,
    SubscriptionView,
    TaskView,
    TimerView,
)

_WRITE_INTENT: ContextVar[bool | None] = ContextVar("kmop_write_intent", default=None)

# Built once: starting an instance runs one of these every time.
_LATEST_VERSION_ID = (
    select(ProcessVersion.id)
    .where(ProcessVersion.process_key == bindparam("key"))
    .order_by(ProcessVersion.version.desc())
    .limit(1)
)
_VERSION_ID = select(ProcessVersion.id).where(
    ProcessVersion.process_key == bindparam("key"), ProcessVersion.version == bindparam("version")
)


class Engine:
    """The one entry point to kmop's engine for the CLI, the web app, the worker and tests."""

    def __init__(self, settings: Settings | None = None, registry: ServiceRegistry | None = None) -> None:
        self.settings = settings or Settings.from_env()
        self.db: DbEngine = make_db(self.settings.database_url)
        self._sessions = session_factory(self.db)
        self.runtime = runner.Runtime(self.settings, registry or default_registry())
        self.runtime.workflows.attach(self._sessions)
        self.clock: clock.Clock = (
            clock.SimulatedClock(self.db) if self.settings.clock == "simulated" else clock.SystemClock()
        )
        clock.install(self.clock)

    # ------------------------------------------------------------------------------- lifecycle

    def init_db(self) -> None:
        """Create or upgrade the schema (Alembic)."""
        upgrade(self.settings.database_url)
        if isinstance(self.clock, clock.SimulatedClock):
            self.clock.now()  # fixes the simulated "now" at first use, outside any other transaction

    @contextlib.contextmanager
    def transaction(self, write: bool | None = None) -> Iterator[Session]:
        """Open a session in a transaction: committed at the end, rolled back on any error.

        ``write`` (default: the intent set with ``intent``, if any) says what it is for:

        - ``True``: it reads and then writes (a web form handler that checks before it acts). It takes
          SQLite's write lock at once (``BEGIN IMMEDIATE``): a transaction that read first and asked for
          the lock later would be refused at once, whatever the busy timeout, when another writer got
          in between.
        - ``False``: it only reads. It takes no lock and may not write: PostgreSQL refuses its writes, and
          the engine refuses to start a run in it.
        - ``None``: the engine's own calls take the write lock when they start, as long as nothing was
          read before them in the transaction (every facade call that writes does so first).
        """
        if self.settings.replay:
            self.runtime.forget()  # every step as in a new process
        writes = _WRITE_INTENT.get() if write is None else write
        with self._sessions() as session, session.begin():
            session.info[runner.READ_ONLY] = writes is False
            if writes:
                runner.begin_write(session)
            elif writes is False and session.get_bind().dialect.name == "postgresql":
                session.execute(text("SET TRANSACTION READ ONLY"))
            yield session

    @staticmethod
    @contextlib.contextmanager
    def intent(write: bool | None) -> Iterator[None]:
        """Make ``write`` the default of every ``transaction()`` opened in this context (a web request
        that only reads opens read transactions)."""
        token = _WRITE_INTENT.set(write)
        try:
            yield
        finally:
            _WRITE_INTENT.reset(token)

    def close(self) -> None:
        self.db.dispose()

    @property
    def registry(self) -> ServiceRegistry:
        return self.runtime.registry

    # ----------------------------------------------------------------------------- definitions

    def deploy(self, session: Session, paths: Sequence[str | Path], actor: str | None = None) -> DeployView:
        return self.deploy_sources(session, specs.read_sources(paths), actor)

    def deploy_sources(
        self, session: Session, sources: list[specs.SourceFile], actor: str | None = None
    ) -> DeployView:
        runner.begin_write(session)
        result = specs.deploy(session, sources, self.registry, actor)
        return DeployView(
            result.deployment_id,
            [{"process_key": k, "version": v} for k, v in result.created],
            [{"process_key": k, "version": v} for k, v in result.unchanged],
        )

    def processes(self, session: Session) -> list[ProcessView]:
        rows = session.scalars(
            select(ProcessVersion).order_by(ProcessVersion.process_key, ProcessVersion.version)
        )
        views = []
        for v in rows:
            ids = [*v.file_ids.get("bpmn", []), *v.file_ids.get("dmn", []), *v.file_ids.get("form", [])]
            names = session.scalars(select(DefinitionFile.name).where(DefinitionFile.id.in_(ids))).all()
            views.append(ProcessView(v.process_key, v.version, v.name, v.deployed_at, sorted(names)))
        return views

    def diagram(self, session: Session, instance_id: int) -> str:
        """Return the BPMN XML of the file that defines the instance's process (for viewers)."""
        inst = self._instance(session, instance_id)
        version = self.runtime.specs.version(session, inst.process_version_id)
        for f in session.scalars(
            select(DefinitionFile).where(DefinitionFile.id.in_(version.file_ids["bpmn"]))
        ):
            if inst.process_key in f.provides.get("processes", []):
                return f.content
        raise NotFound(f"no diagram stored for {inst.process_key}")

    # ------------------------------------------------------------------------------- instances

    def start(
        self,
        session: Session,
        process_key: str,
        data: dict[str, Any] | None = None,
        business_key: str | None = None,
        actor: str | None = None,
        version: int | None = None,
    ) -> InstanceSummary:
        """Start the latest (or the given) version of ``process_key``; run it until it waits."""
        if data is not None and not isinstance(data, dict):
            raise InvalidInput("start data must be a JSON object", field="data")
        _bounded_input(data, "data")
        runner.begin_write(session)
        if version:
            found = session.scalar(_VERSION_ID, {"key": process_key, "version": version})
        else:
            found = session.scalar(_LATEST_VERSION_ID, {"key": process_key})
        pv = self.runtime.specs.version(session, found) if found is not None else None
        if pv is None:
            known = ", ".join(sorted(set(session.scalars(select(ProcessVersion.process_key))))) or "none"
            raise NotFound(
                f"no deployed process '{process_key}'"
                + (f" version {version}" if version else "")
                + f" (deployed: {known})"
            )
        if business_key is not None and queries.open_with_key(session, pv.process_key, business_key):
            raise Conflict(
                f"an open case of '{pv.process_key}' already has the business key '{business_key}'"
            )
        accepted = self._accept_start(session, pv, dict(data or {}), business_key)
        try:
            inst = runner.start(self.runtime, session, pv, accepted, business_key, actor)
        except IntegrityError as exc:
            if business_key is None or "business_key" not in str(exc.orig):
                raise
            # a racing start with the same key got there first
            raise Conflict(
                f"an open case of '{pv.process_key}' already has the business key '{business_key}'"
            ) from exc
        messages.drain_if_waiting(self.runtime, session, inst)
        return self._summary(session, inst)

    def start_form(self, session: Session, process_key: str) -> tuple[str | None, dict[str, Any] | None]:
        """The start form of the latest version of a process: (file name, JSON Schema), if it has one."""
        pv = session.scalars(
            select(ProcessVersion)
            .where(ProcessVersion.process_key == process_key)
            .order_by(ProcessVersion.version.desc())
            .limit(1)
        ).first()
        if pv is None:
            raise NotFound(f"no deployed process '{process_key}'")
        name = self.runtime.specs.blueprint(session, pv).start_properties.get("formJsonSchemaFilename")
        return (name, forms.load_form(self.runtime.specs, session, pv, name)) if name else (None, None)

    def task_form(self, session: Session, task_id: str) -> tuple[str | None, dict[str, Any] | None]:
        """The form of a user task: (file name, JSON Schema), or (None, None) when it has none."""
        row = session.get(UserTask, task_id)
        if row is None:
            raise NotFound(f"no task {task_id}")
        if not row.form:
            return None, None
        inst = self._instance(session, row.instance_id)
        version = self.runtime.specs.version(session, inst.process_version_id)
        return row.form, forms.load_form(self.runtime.specs, session, version, row.form)

    def _accept_start(
        self, session: Session, pv: ProcessVersion, data: dict[str, Any], business_key: str | None
    ) -> dict[str, Any]:
        """Apply the start event's form and validator: an invalid application starts nothing."""
        props = self.runtime.specs.blueprint(session, pv).start_properties
        form = props.get("formJsonSchemaFilename")
        if form:
            data = forms.accept_for_version(self.runtime.specs, session, pv, form, data)
        name = props.get("validator")
        if not name:
            return data
        validator = self.registry.validator(name)
        if validator is None:
            raise KmopError(f"start validator '{name}' is not registered")
        ctx = ServiceContext(
            idempotency_key=f"start:{pv.process_key}:{business_key}",
            instance_id=0,
            business_key=business_key,
            operator=name,
            attempt=1,
            now=clock.now(),
            session=session,
        )
        try:
            with session.begin_nested():
                return validator(ctx, data)
        except Exception as exc:
            error = forms.as_input_error(exc)
            if error is None:
                raise
            raise error from exc

    def complete(
        self, session: Session, task_id: str, data: dict[str, Any] | None = None, actor: str | None = None
    ) -> InstanceSummary:
        """Complete a ready user task with the fields of its form; exactly one of two racers wins."""
        if data is not None and not isinstance(data, dict):
            raise InvalidInput("task data must be a JSON object", field="data")
        _bounded_input(data, "data")
        runner.begin_write(session)
        row = session.get(UserTask, task_id)
        if row is None:
            raise NotFound(f"no task {task_id}")
        if row.status != "ready":
            raise Conflict(_done_message(row))
        if row.claimed_by is not None and actor is not None and row.claimed_by != actor:
            raise Claimed(task_id, row.claimed_by)
        instance_id = row.instance_id

        def action(run: runner.Run) -> None:
            session.refresh(row)
            task = projections.find_task(run.wf, task_id)
            if row.status != "ready":
                raise Conflict(_done_message(row))
            if row.claimed_by is not None and actor is not None and row.claimed_by != actor:
                raise Claimed(task_id, row.claimed_by)  # claimed while this call waited for the lock
            if task is None or task.state != TaskState.READY:
                raise Conflict(
                    f"task {task_id} ('{row.name}') is no longer open: a deadline passed or the case moved on"
                )
            accepted = forms.accept(self.runtime.specs, session, run.inst, row.form, data or {})
            task.data.update(accepted)
            try:
                task.run()
            except Exception as exc:  # the library says what is missing; say it as bad input
                field = _missing_output_item(task)
                if field is not None:
                    message = f"task '{row.name}' needs the field '{field}'"
                    raise InvalidInput(message, field=field) from exc
                reason = _reason(exc)
                raise InvalidInput(f"task '{row.name}' cannot be completed with this data: {reason}") from exc
            row.status, row.completed_by, row.completed_at = "completed", actor, run.now
            run.record("user_task_completed", row.element_id, name=row.name, data=state.to_plain(accepted))

        try:
            inst = runner.execute(self.runtime, session, instance_id, action, actor=actor)
        except Conflict as exc:
            session.refresh(row)
            if row.status != "ready":  # the other writer completed it: say so, about the task
                raise Conflict(_done_message(row)) from exc
            raise
        assert inst is not None
        messages.drain_if_waiting(self.runtime, session, inst)
        return self._summary(session, inst)

    def claim(self, session: Session, task_id: str, actor: str | None) -> TaskView:
        row = session.get(UserTask, task_id, with_for_update=True)
        if row is None:
            raise NotFound(f"no task {task_id}")
        if row.status != "ready":
            raise Conflict(_done_message(row))
        if actor is not None and row.claimed_by not in (None, actor):
            raise Claimed(task_id, row.claimed_by)
        row.claimed_by = actor
        session.flush()
        return self._task_view(session, row)

    def release(self, session: Session, task_id: str, actor: str | None, force: bool = False) -> TaskView:
        """Give a claimed task back; only the one who claimed it may, unless ``force`` (an operator)."""
        row = session.get(UserTask, task_id, with_for_update=True)
        if row is None:
            raise NotFound(f"no task {task_id}")
        if row.status != "ready":
            raise Conflict(_done_message(row))
        if row.claimed_by is not None and row.claimed_by != actor and not force:
            raise Forbidden(
                f"task {task_id} is claimed by {row.claimed_by}: only they or an operator may release it"
            )
        row.claimed_by = None
        session.flush()
        return self._task_view(session, row)

    def cancel(self, session: Session, instance_id: int, actor: str | None = None) -> InstanceSummary:
        runner.begin_write(session)

        def action(run: runner.Run) -> None:
            run.wf.cancel()
            run.record("cancelled", None)

        inst = runner.execute(self.runtime, session, instance_id, action, actor=actor)
        assert inst is not None
        inst.status = "cancelled"
        projections.clear(session, inst.id)
        for row in session.scalars(
            select(UserTask).where(UserTask.instance_id == inst.id, UserTask.status == "ready")
        ):
            row.status = "cancelled"
        return self._summary(session, inst)

    def set_suspended(
        self, session: Session, instance_id: int, suspended: bool, actor: str | None = None
    ) -> InstanceSummary:
        runner.begin_write(session)
        inst = runner.lock_instance(session, instance_id)
        if inst is None:
            raise NotFound(f"no process instance {instance_id}")
        if suspended and inst.status in runner.ENDED + ("suspended",):
            raise Conflict(f"instance {instance_id} is {inst.status}")
        if not suspended and inst.status != "suspended":
            raise Conflict(f"instance {instance_id} is not suspended")
        has_incident = session.scalar(
            select(func.count(Incident.id)).where(Incident.instance_id == inst.id, Incident.status == "open")
        )
        inst.status = "suspended" if suspended else ("error" if has_incident else "waiting")
        inst.lock_version += 1
        session.add(
            HistoryEntry(
                instance_id=inst.id,
                at=clock.now(),
                actor=actor,
                event="suspended" if suspended else "resumed",
                element_id=None,
                detail={},
            )
        )
        session.flush()
        return self._summary(session, inst)

    # ---------------------------------------------------------------------------------- events

    def message(
        self,
        session: Session,
        name: str,
        key: str | None = None,
        payload: dict[str, Any] | None = None,
        message_id: str | None = None,
        actor: str | None = None,
    ) -> MessageResult:
        runner.begin_write(session)
        return messages.send(self.runtime, session, name, key, payload, message_id, actor)

    def send_outbox(self) -> int:
        """Send queued e-mail over SMTP when ``KMOP_SMTP_HOST`` is set; return how many were sent."""
        from tasks import notify

        smtp = notify.SmtpSettings.from_env()
        if smtp is None:
            return 0
        with self.transaction() as session:
            return notify.send_pending(session, smtp, clock.now())

    def fire_due(self) -> int:
        """Wake every instance with a due timer or retry (own transactions); return how many."""
        return timers.fire_due(self.runtime, self.transaction)

    def advance_clock(self, target: datetime) -> int:
        return timers.advance_to(self.runtime, self.transaction, target)

    def retry(self, session: Session, incident_id: int, actor: str | None = None) -> InstanceSummary:
        """Run the failed task of an incident once more; a new failure opens a new incident."""
        runner.begin_write(session)
        incident = session.get(Incident, incident_id)
        if incident is None:
            raise NotFound(f"no incident {incident_id}")
        if incident.status != "open":
            raise Conflict(f"incident {incident_id} is already {incident.status}")

        def action(run: runner.Run) -> None:
            incident.status, incident.resolved_at, incident.resolved_by = "resolved", run.now, actor
            session.flush()
            run.manual_retry = True
            runner.retry_failed_tasks(run)

        inst = runner.execute(self.runtime, session, incident.instance_id, action, actor=actor)
        assert inst is not None
        return self._summary(session, inst)

    # --------------------------------------------------------------------------------- queries

    def instances(
        self,
        session: Session,
        status: str | None = None,
        process_key: str | None = None,
        limit: int = 200,
        *,
        version: int | None = None,
        waiting_at: str | None = None,
        overdue_at: datetime | None = None,
        attributes: dict[str, str] | None = None,
        business_keys: Collection[str] | None = None,
        unindexed: bool = False,
    ) -> list[InstanceSummary]:
        """Instances, newest first, every filter applied by the database.

        ``version``: of that version number; ``waiting_at``: waiting at that element (a ready user task,
        a timer or retry, a message); ``overdue_at``: with a ready task due before that moment or a
        wake-up due by then; ``attributes``: whose search fields (``register_search_field``) have these
        values; ``business_keys``: only these keys; ``unindexed``: only instances no run has indexed yet
        (from before kmop kept search fields).
        """
        return queries.find_instances(
            session,
            self.runtime.specs,
            status=status,
            process_key=process_key,
            limit=limit,
            version=version,
            waiting_at=waiting_at,
            overdue_at=overdue_at,
            attributes=attributes,
            business_keys=business_keys,
            unindexed=unindexed,
        )

    def lock(self, session: Session, instance_id: int) -> None:
        """Take the instance's write lock for the rest of the caller's transaction (runs of it wait), so that
        what the caller checks about the case still holds when it acts on it."""
        if runner.lock_instance(session, instance_id) is None:
            raise NotFound(f"no process instance {instance_id}")

    def reindex(self, session: Session, limit: int = 200) -> int:
        """Index the search fields of up to ``limit`` instances from before kmop kept them; how many."""
        runner.begin_write(session)
        query = select(ProcessInstance).where(ProcessInstance.search.is_(None)).order_by(ProcessInstance.id)
        query = query.limit(limit).with_for_update(skip_locked=True)  # a running instance indexes itself
        done = 0
        for inst in session.scalars(query.execution_options(populate_existing=True)).all():
            runner.reindex(self.runtime, session, inst)
            done += 1
        session.flush()
        return done

    def overdue(self, session: Session, now: datetime, instance_ids: Collection[int]) -> set[int]:
        """Which of these instances have a ready task past its due date or a wake-up due by ``now``."""
        return queries.overdue(session, now, instance_ids)

    def waiting_elements(self, session: Session) -> list[str]:
        """Every element some instance waits at now (for a filter's choices)."""
        return queries.waiting_elements(session)

    def show(self, session: Session, instance_id: int) -> InstanceDetail:
        inst = self._instance(session, instance_id)
        version = self.runtime.specs.version(session, inst.process_version_id)
        wf, _ = runner.load(self.runtime, session, inst)
        tasks = projections.all_tasks(wf)
        active = sorted(
            {
                projections.element_id(t)
                for t in tasks
                if t.state in (TaskState.READY, TaskState.WAITING, TaskState.STARTED, TaskState.ERROR)
                and getattr(t.task_spec, "bpmn_id", None)
            }
        )
        done = sorted(
            {
                projections.element_id(t)
                for t in tasks
                if t.state == TaskState.COMPLETED and getattr(t.task_spec, "bpmn_id", None)
            }
        )
        data = state.to_plain(projections.current_data(wf))
        history = session.scalars(
            select(HistoryEntry).where(HistoryEntry.instance_id == inst.id).order_by(HistoryEntry.id)
        )
        return InstanceDetail(
            id=inst.id,
            process_key=inst.process_key,
            version=version.version,
            business_key=inst.business_key,
            status=inst.status,
            created_at=inst.created_at,
            updated_at=inst.updated_at,
            ended_at=inst.ended_at,
            data=data,
            ready_tasks=self.tasks(session, instance_id=inst.id),
            timers=self.timers(session, instance_id=inst.id),
            subscriptions=[
                SubscriptionView(s.instance_id, s.element_id, s.message_name, s.correlation_key)
                for s in session.scalars(
                    select(MessageSubscription).where(MessageSubscription.instance_id == inst.id)
                )
            ],
            incidents=self.incidents(session, instance_id=inst.id, status=None),
            history=[HistoryView(h.at, h.actor, h.event, h.element_id, h.detail) for h in history],
            active_elements=active,
            completed_elements=done,
        )

    def tasks(
        self, session: Session, instance_id: int | None = None, lane: str | None = None, status: str = "ready"
    ) -> list[TaskView]:
        query = select(UserTask).where(UserTask.status == status).order_by(UserTask.created_at, UserTask.id)
        if instance_id is not None:
            query = query.where(UserTask.instance_id == instance_id)
        if lane is not None:
            query = query.where(UserTask.lane == lane)
        now = clock.now()  # once per list: the simulated clock is a database read
        return [self._task_view(session, row, now) for row in session.scalars(query)]

    def task_data(self, session: Session, task_id: str) -> dict[str, Any]:
        """The data a task holds (e.g. ``service`` for one declaration of a multi-instance task)."""
        row = session.get(UserTask, task_id)
        if row is None:
            raise NotFound(f"no task {task_id}")
        wf, _ = runner.load(self.runtime, session, self._instance(session, row.instance_id))
        task = projections.find_task(wf, task_id)
        return state.to_plain(dict(task.data)) if task is not None else {}

    def task(self, session: Session, task_id: str) -> TaskView:
        row = session.get(UserTask, task_id)
        if row is None:
            raise NotFound(f"no task {task_id}")
        return self._task_view(session, row)

    def timers(self, session: Session, instance_id: int | None = None) -> list[TimerView]:
        query = select(WakeUp).order_by(WakeUp.due_at, WakeUp.id)
        if instance_id is not None:
            query = query.where(WakeUp.instance_id == instance_id)
        return [
            TimerView(w.instance_id, w.task_id, w.element_id, w.kind, w.due_at)
            for w in session.scalars(query)
        ]

    def incidents(
        self, session: Session, instance_id: int | None = None, status: str | None = "open"
    ) -> list[IncidentView]:
        query = select(Incident).order_by(Incident.id)
        if instance_id is not None:
            query = query.where(Incident.instance_id == instance_id)
        if status is not None:
            query = query.where(Incident.status == status)
        return [
            IncidentView(
                i.id,
                i.instance_id,
                i.element_id,
                i.error_type,
                i.message,
                i.attempts,
                i.status,
                i.created_at,
                i.resolved_at,
            )
            for i in session.scalars(query)
        ]

    # --------------------------------------------------------------------------------- helpers

    def _instance(self, session: Session, instance_id: int) -> ProcessInstance:
        inst = session.get(ProcessInstance, instance_id)
        if inst is None:
            raise NotFound(f"no process instance {instance_id}")
        return inst

    def _summary(self, session: Session, inst: ProcessInstance) -> InstanceSummary:
        return queries.summaries(session, self.runtime.specs, [inst])[0]

    def _task_view(self, session: Session, row: UserTask, now: datetime | None = None) -> TaskView:
        inst = session.get(ProcessInstance, row.instance_id)
        assert inst is not None
        now = now or clock.now()
        return TaskView(
            row.id,
            row.instance_id,
            inst.process_key,
            inst.business_key,
            row.element_id,
            row.name,
            row.lane,
            row.form,
            row.status,
            row.created_at,
            row.due_at,
            bool(row.due_at and row.status == "ready" and row.due_at < now),
            row.claimed_by,
            row.completed_by,
            row.completed_at,
        )


def _bounded_input(value: Any, field: str) -> None:
    """Refuse input nested too deep to store and show (a JSON body of a thousand nested lists, say)."""
    try:
        check_depth(value)
    except NotStorable as exc:
        raise InvalidInput(f"the {field} {exc}", field=field) from None


def _missing_output_item(task: Any) -> str | None:
    """The output item a multi-instance child must set, when it did not set it."""
    parent_spec = task.parent.task_spec if task.parent is not None else None
    item = getattr(parent_spec, "output_item", None)
    if item is None or item.bpmn_id in task.data:
        return None
    return str(item.bpmn_id)


def _reason(exc: BaseException) -> str:
    inner = getattr(exc, "exception", None) or exc.__cause__
    text = str(exc) or type(exc).__name__
    return f"{text} ({inner})" if isinstance(inner, BaseException) and str(inner) not in text else text


def _done_message(row: UserTask) -> str:
    if row.status == "completed":
        who = f" by {row.completed_by}" if row.completed_by else ""
        when = f" at {row.completed_at.isoformat()}" if row.completed_at else ""
        return f"task {row.id} ('{row.name}') was already completed{who}{when}"
    return f"task {row.id} ('{row.name}') is {row.status}: it can no longer be completed"
