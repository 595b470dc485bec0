"""The queries part of the engine facade: instances, their details, tasks, timers and incidents."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import Any

from SpiffWorkflow.util.task import TaskState
from sqlalchemy import select
from sqlalchemy.orm import Session

from .. import clock, pages, projections, queries, runner, state
from ..errors import NotFound
from ..models import HistoryEntry, Incident, MessageSubscription, ProcessInstance, UserTask, WakeUp, is_id
from ..views import (
    HistoryView,
    IncidentView,
    InstanceDetail,
    InstanceSummary,
    SubscriptionView,
    TaskView,
    TimerView,
)
from .base import EngineBase


class QueriesMixin(EngineBase):
    """Read-only views of instances, tasks, timers and incidents."""

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

    def instance_count(self, session: Session, query: pages.InstanceQuery) -> int:
        return pages.instance_count(session, query)

    def instance_page(
        self,
        session: Session,
        query: pages.InstanceQuery,
        order: pages.Order = pages.NEWEST_FIRST,
        offset: int = 0,
        limit: int = 25,
    ) -> pages.Page[pages.InstanceRow]:
        """One page of the instances ``query`` finds, sorted, with how many there are in all; each row
        with its earliest due date and its search fields (``engine.pages``)."""
        return pages.instance_page(session, self.runtime.specs, query, order, offset, limit)

    def task_page(
        self,
        session: Session,
        query: pages.TaskQuery,
        order: pages.Order = pages.DUE_FIRST,
        offset: int = 0,
        limit: int = 25,
    ) -> pages.Page[pages.TaskRow]:
        """One page of the ready user tasks ``query`` finds, sorted, with how many there are in all; each
        row with its instance's search fields (``engine.pages``)."""
        return pages.task_page(session, query, order, offset, limit, clock.now())

    def user_tasks(self, session: Session) -> list[tuple[str | None, str]]:
        """(lane, name) of every user task of the deployed versions (for a list's filter choices)."""
        return pages.user_tasks(session, self.runtime.specs)

    def wait_elements(self, session: Session) -> list[str]:
        """Every element an instance of a deployed version can wait at (for a filter's choices;
        ``waiting_elements`` reads where every instance waits now)."""
        return pages.wait_elements(session, self.runtime.specs)

    def element_names(self, session: Session) -> dict[str, str]:
        """Every element's (and process's) name by its id, over the deployed versions."""
        return pages.element_names(session, self.runtime.specs)

    def process_versions(self, session: Session) -> list[tuple[str, int]]:
        """(process key, version) of every deployed version (for a list's filter choices)."""
        return pages.process_versions(session)

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
            process_name=version.name,
            element_names=pages.version_names(session, self.runtime.specs, inst.process_version_id),
        )

    def tasks(
        self, session: Session, instance_id: int | None = None, lane: str | None = None, status: str = "ready"
    ) -> list[TaskView]:
        query = (
            select(UserTask, ProcessInstance.process_key, ProcessInstance.business_key)
            .join(ProcessInstance, ProcessInstance.id == UserTask.instance_id)
            .where(UserTask.status == status)
            .order_by(UserTask.created_at, UserTask.id)
        )
        if instance_id is not None:
            if not is_id(instance_id):
                return []  # no instance has that id
            query = query.where(UserTask.instance_id == instance_id)
        if lane is not None:
            query = query.where(UserTask.lane == lane)
        now = clock.now()  # once per list: the simulated clock is a database read
        return [pages.task_view(row, key, case_key, now) for row, key, case_key in session.execute(query)]

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
