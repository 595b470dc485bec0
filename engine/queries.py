"""Read the engine's tables for lists: instances by status, process, version, the element they wait at,
overdue, search fields or business keys (every filter in SQL), and their summaries in a few queries."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, or_, select, union_all
from sqlalchemy.orm import Session

from . import runner
from .models import (
    OPEN_WITH_KEY,
    ElementStay,
    InstanceAttribute,
    MessageSubscription,
    ProcessInstance,
    ProcessVersion,
    UserTask,
    WakeUp,
)
from .specs import SpecCache
from .views import InstanceSummary


def find_instances(
    session: Session,
    specs: SpecCache,
    *,
    status: str | None,
    process_key: str | None,
    limit: int,
    version: int | None,
    waiting_at: str | None,
    overdue_at: datetime | None,
    attributes: dict[str, str] | None,
    business_keys: Collection[str] | None,
    unindexed: bool,
) -> list[InstanceSummary]:
    """The newest ``limit`` instances that match every filter given (see ``Engine.instances``)."""
    query = select(ProcessInstance).order_by(ProcessInstance.id.desc()).limit(limit)
    if status:
        query = query.where(ProcessInstance.status == status)
    if process_key:
        query = query.where(ProcessInstance.process_key == process_key)
    if version is not None:
        versions = select(ProcessVersion.id).where(ProcessVersion.version == version)
        query = query.where(ProcessInstance.process_version_id.in_(versions))
    if waiting_at:
        query = query.where(ProcessInstance.id.in_(waiting_at_element(waiting_at)))
    if overdue_at is not None:
        query = query.where(ProcessInstance.id.in_(_overdue(overdue_at)))
    for name, value in (attributes or {}).items():
        matching = select(InstanceAttribute.instance_id).where(
            InstanceAttribute.name == name, InstanceAttribute.value == value
        )
        query = query.where(ProcessInstance.id.in_(matching))
    if business_keys is not None:
        query = query.where(ProcessInstance.business_key.in_(list(business_keys)))
    if unindexed:
        query = query.where(ProcessInstance.search.is_(None))
    return summaries(session, specs, list(session.scalars(query)))


def summaries(session: Session, specs: SpecCache, insts: list[ProcessInstance]) -> list[InstanceSummary]:
    """Summaries with where each instance waits: from its last run when known, else three queries for the
    whole list (ready user tasks, wake-ups, message subscriptions)."""
    known = {inst.id: w.elements for inst in insts if (w := runner.waiting_of(inst)) is not None}
    unknown = [inst.id for inst in insts if inst.id not in known]
    waiting: dict[int, set[str]] = {i: set() for i in unknown}
    if unknown:
        for instance_id, element in session.execute(_waiting_rows(unknown)):
            waiting[instance_id].add(element)
    return [
        InstanceSummary(
            inst.id,
            inst.process_key,
            specs.version(session, inst.process_version_id).version,
            inst.business_key,
            inst.status,
            inst.created_at,
            inst.updated_at,
            inst.ended_at,
            known[inst.id] if inst.id in known else sorted(waiting[inst.id]),
        )
        for inst in insts
    ]


def overdue(session: Session, now: datetime, instance_ids: Collection[int]) -> set[int]:
    """Which of these instances have a ready task past its due date or a wake-up due by ``now``."""
    if not instance_ids:
        return set()
    return set(session.scalars(_overdue(now, list(instance_ids))))


def waiting_elements(session: Session) -> list[str]:
    """Every element some instance waits at now."""
    rows = _waiting_rows().subquery()
    return sorted(session.scalars(select(rows.c.element_id).distinct()))


# Core, not ORM: asked before every start with a business key (an API start always has one).
_OPEN_WITH_KEY = (
    select(ProcessInstance.__table__.c.id)
    .where(
        ProcessInstance.__table__.c.process_key == bindparam("process_key"),
        ProcessInstance.__table__.c.business_key == bindparam("business_key"),
        OPEN_WITH_KEY,  # the unique index's own condition (literal SQL: nothing to expand at every call)
    )
    .limit(1)
)


def open_with_key(session: Session, process_key: str, business_key: str) -> bool:
    """True when an instance of ``process_key`` with this business key has not ended."""
    session.flush()  # as the ORM's autoflush would: a case cancelled in this transaction has ended
    found = session.connection().execute(
        _OPEN_WITH_KEY, {"process_key": process_key, "business_key": business_key}
    )
    return found.first() is not None


def _waiting_rows(instance_ids: list[int] | None = None) -> Any:
    """(instance id, element id) of everything that waits: ready user tasks, wake-ups, subscriptions."""
    parts = []
    for table, condition in (
        (UserTask, UserTask.status == "ready"),
        (WakeUp, None),
        (MessageSubscription, None),
    ):
        part = select(table.instance_id.label("instance_id"), table.element_id.label("element_id"))
        if condition is not None:
            part = part.where(condition)
        if instance_ids is not None:
            part = part.where(table.instance_id.in_(instance_ids))
        parts.append(part)
    return union_all(*parts)


def waiting_at_element(*element_ids: str) -> Any:
    """Ids of the instances waiting at one of ``element_ids``, or inside one (a call activity or subprocess
    with a wait in it): their open stays (``projections.sync`` keeps one per ready user task, timer and
    message wait), and their service tasks waiting to be retried."""
    return union_all(
        select(ElementStay.instance_id).where(
            ElementStay.left_at.is_(None),
            or_(ElementStay.top_element_id.in_(element_ids), ElementStay.element_id.in_(element_ids)),
        ),
        select(WakeUp.instance_id).where(WakeUp.kind == "retry", WakeUp.element_id.in_(element_ids)),
    )


def timers_due(timer: Any) -> Any:
    """Ids of the instances with a timer at ``timer.element`` inside ``timer.within`` due in
    (``timer.after``, ``timer.by``] (a ``pages.TimerDue``)."""
    return (
        select(WakeUp.instance_id)
        .join(
            ElementStay,
            (ElementStay.instance_id == WakeUp.instance_id) & (ElementStay.task_id == WakeUp.task_id),
        )
        .where(
            WakeUp.kind == "timer",
            WakeUp.element_id == timer.element,
            WakeUp.due_at > timer.after,
            WakeUp.due_at <= timer.by,  # as monitor.timers_due counts them
            ElementStay.left_at.is_(None),
            ElementStay.top_element_id == timer.within,
        )
    )


def _overdue(now: datetime, instance_ids: list[int] | None = None) -> Any:
    """Ids of the instances with a ready task past its due date, or a wake-up due by ``now``."""
    tasks = select(UserTask.instance_id).where(UserTask.status == "ready", UserTask.due_at < now)
    wake_ups = select(WakeUp.instance_id).where(WakeUp.due_at <= now)
    if instance_ids is not None:
        tasks = tasks.where(UserTask.instance_id.in_(instance_ids))
        wake_ups = wake_ups.where(WakeUp.instance_id.in_(instance_ids))
    return union_all(tasks, wake_ups)
