"""The instances part of the engine facade: start, complete, claim, release, cancel, suspend, lock."""

from __future__ import annotations

from typing import Any

from SpiffWorkflow.util.task import TaskState
from sqlalchemy import bindparam, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from .. import clock, forms, messages, projections, queries, runner, state
from ..errors import Claimed, Conflict, Forbidden, InvalidInput, KmopError, NotFound
from ..models import HistoryEntry, Incident, ProcessInstance, ProcessVersion, UserTask
from ..script_host import NotStorable, check_depth
from ..services import ServiceContext
from ..views import InstanceSummary, TaskView
from .base import EngineBase

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


class InstancesMixin(EngineBase):
    """Commands on process instances and their user tasks."""

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
        inst.due_at = None
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
