"""What the monitor shows, counted by the database: instances by status, where they wait now, how long they
stay at each element (median and p90), how old the waits at some elements are, what falls due soon, open
incidents by element and error, and counts per week or month. Nothing here loads an instance.

Percentiles are taken in SQL with window functions (``row_number`` and ``count`` over each group), which
SQLite and PostgreSQL both run, so the figures are the same on both databases. The SQL helpers
``period_start`` and ``seconds_between`` are public for the application's own counts.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Date, Float, and_, case, cast, func, literal, or_, select, true
from sqlalchemy.orm import Session
from sqlalchemy.sql import ColumnElement

from .models import (
    BufferedMessage,
    ElementStay,
    Incident,
    ProcessInstance,
    ProcessVersion,
    UserTask,
    WakeUp,
)

UNITS = ("week", "month")


@dataclass(frozen=True)
class Scope:
    """Which instances: of one process (None: every process) and one of its versions (None: all)."""

    process_key: str | None = None
    version: int | None = None


@dataclass(frozen=True)
class Period:
    """The moments after ``start`` up to and including ``end`` (None: open on that side). An age band is
    one: "4 to 6 weeks old" began after now - 6 weeks and at or before now - 4 weeks."""

    start: datetime | None = None
    end: datetime | None = None


@dataclass(frozen=True)
class TimerDue:
    """A timer at ``element`` (inside ``within``, the call activity or subprocess of the instance's own
    diagram it is in, or the element itself) due after ``after`` and by ``by``."""

    within: str
    element: str
    after: datetime
    by: datetime


def within(column: Any, period: Period) -> list[ColumnElement[bool]]:
    """SQL conditions: ``column`` in ``period``."""
    conditions = []
    if period.start is not None:
        conditions.append(column > period.start)
    if period.end is not None:
        conditions.append(column <= period.end)
    return conditions


def bands(now: datetime, edges: Sequence[timedelta]) -> list[Period]:
    """The periods in which something began that is now younger than ``edges[0]``, between each two
    edges, and older than the last edge."""
    moments = [now - edge for edge in edges]
    return [
        Period(moments[0], None),
        *(Period(moments[i + 1], moments[i]) for i in range(len(moments) - 1)),
        Period(None, moments[-1]),
    ]


@dataclass(frozen=True)
class Spread:
    """How long instances stayed somewhere: median and 90th percentile in seconds, over ``count`` stays."""

    median: float
    p90: float
    count: int


@dataclass(frozen=True)
class IncidentGroup:
    process_key: str
    element_id: str
    error_type: str
    count: int
    first_at: datetime
    last_at: datetime
    example: str  # the newest incident's message
    incidents: tuple[tuple[int, int], ...]  # (incident id, instance id), oldest first, at most 1,000


def dialect(session: Session) -> str:
    return session.get_bind().dialect.name


def period_start(session: Session, column: Any, unit: str) -> ColumnElement[Any]:
    """The first day (UTC) of the week (Monday) or month that ``column`` falls in, as a SQL expression."""
    if unit not in UNITS:
        raise ValueError(f"unknown period {unit!r}")
    if dialect(session) == "postgresql":
        return cast(func.date_trunc(unit, column), Date)
    if unit == "week":
        return func.date(column, "weekday 0", "-6 days")
    return func.date(column, "start of month")


def seconds_between(session: Session, start: Any, end: Any) -> ColumnElement[float]:
    """``end - start`` in seconds, as a SQL expression."""
    if dialect(session) == "postgresql":
        return cast(func.extract("epoch", end - start), Float)
    return (func.julianday(end) - func.julianday(start)) * 86400.0


def as_date(value: Any) -> date:
    """A ``period_start`` value as read back: a date on PostgreSQL, ``YYYY-MM-DD`` text on SQLite."""
    return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])


def _version_id(session: Session, scope: Scope) -> int | None:
    if scope.process_key is None or scope.version is None:
        return None
    found = session.scalar(
        select(ProcessVersion.id).where(
            ProcessVersion.process_key == scope.process_key, ProcessVersion.version == scope.version
        )
    )
    return found if found is not None else -1  # a version that does not exist counts nothing


def _scoped(query: Any, session: Session, scope: Scope, key: Any, version_id: Any) -> Any:
    if scope.process_key is not None:
        query = query.where(key == scope.process_key)
    wanted = _version_id(session, scope)
    if wanted is not None:
        query = query.where(version_id == wanted)
    return query


def status_counts(session: Session, scope: Scope) -> dict[str, int]:
    """How many instances have each status."""
    query = select(ProcessInstance.status, func.count()).group_by(ProcessInstance.status)
    query = _scoped(query, session, scope, ProcessInstance.process_key, ProcessInstance.process_version_id)
    return {status: count for status, count in session.execute(query)}


def waiting_now(session: Session, scope: Scope) -> dict[str, int]:
    """How many instances wait at each element of their own diagram now (a ready user task, a timer or a
    message; a wait inside a call activity or subprocess counts on that element)."""
    query = (
        select(ElementStay.top_element_id, func.count(func.distinct(ElementStay.instance_id)))
        .where(ElementStay.left_at.is_(None), ElementStay.kind != "boundary")
        .group_by(ElementStay.top_element_id)
    )
    query = _scoped(query, session, scope, ElementStay.process_key, ElementStay.process_version_id)
    return {element: count for element, count in session.execute(query)}


def percentiles(session: Session, grouped: Any) -> dict[Any, Spread]:
    """Median and p90 of ``value`` per ``grp`` of a subquery with those two columns (nearest rank)."""
    ranked = select(
        grouped.c.grp,
        grouped.c.value,
        func.row_number().over(partition_by=grouped.c.grp, order_by=grouped.c.value).label("rank"),
        func.count().over(partition_by=grouped.c.grp).label("n"),
    ).subquery()
    median_rank = (ranked.c.n + 1) // 2  # the nearest rank of 50 %
    p90_rank = (ranked.c.n * 9 + 9) // 10  # and of 90 %
    rows = session.execute(
        select(ranked.c.grp, ranked.c.value, ranked.c.rank, ranked.c.n, median_rank, p90_rank).where(
            (ranked.c.rank == median_rank) | (ranked.c.rank == p90_rank)
        )
    )
    found: dict[Any, dict[str, Any]] = {}
    for grp, value, rank, n, at_median, at_p90 in rows:
        entry = found.setdefault(grp, {"n": n})
        if rank == at_median:
            entry["median"] = float(value)
        if rank == at_p90:
            entry["p90"] = float(value)
    return {grp: Spread(e["median"], e["p90"], e["n"]) for grp, e in found.items()}


def stay_spread(session: Session, scope: Scope, since: datetime) -> dict[str, Spread]:
    """How long instances stayed at each element, over the stays that ended since ``since``."""
    query = select(ElementStay.element_id.label("grp"), ElementStay.seconds.label("value")).where(
        ElementStay.left_at >= since, ElementStay.seconds.is_not(None), ElementStay.kind != "boundary"
    )
    query = _scoped(query, session, scope, ElementStay.process_key, ElementStay.process_version_id)
    return percentiles(session, query.subquery())


def duration_by_period(
    session: Session, scope: Scope, unit: str, since: datetime, statuses: Sequence[str] = ("completed",)
) -> dict[date, Spread]:
    """How long instances took from start to end, per week or month of their end, since ``since``."""
    query = select(
        period_start(session, ProcessInstance.ended_at, unit).label("grp"),
        seconds_between(session, ProcessInstance.created_at, ProcessInstance.ended_at).label("value"),
    ).where(ProcessInstance.ended_at >= since, ProcessInstance.status.in_(statuses))
    query = _scoped(query, session, scope, ProcessInstance.process_key, ProcessInstance.process_version_id)
    return {as_date(grp): spread for grp, spread in percentiles(session, query.subquery()).items()}


def age_bands(
    session: Session, scope: Scope, element_ids: Sequence[str], edges: Sequence[timedelta], now: datetime
) -> list[int]:
    """How many instances waiting now at (or inside) one of ``element_ids`` have waited there less than
    ``edges[0]``, between each two edges, and longer than the last (``bands``)."""
    columns = [
        func.count(
            func.distinct(
                case((and_(true(), *within(ElementStay.entered_at, band)), ElementStay.instance_id))
            )
        )
        for band in bands(now, edges)
    ]
    query = select(*columns).where(
        ElementStay.left_at.is_(None),
        ElementStay.top_element_id.in_(element_ids),
        ElementStay.kind != "boundary",
    )
    query = _scoped(query, session, scope, ElementStay.process_key, ElementStay.process_version_id)
    return [int(n or 0) for n in session.execute(query).one()]


def timers_due(
    session: Session,
    scope: Scope,
    places: Sequence[tuple[str, str]],
    now: datetime,
    horizons: Sequence[timedelta],
) -> dict[tuple[str, str], list[int]]:
    """Per place (the element of the instance's own diagram a timer is in, and the timer's element): how
    many timers fall due after ``now`` within each horizon."""
    if not places:
        return {}
    columns = [func.count(case((WakeUp.due_at <= now + horizon, literal(1)))) for horizon in horizons]
    wanted = [
        and_(ElementStay.top_element_id == top, WakeUp.element_id == element) for top, element in places
    ]
    query = (
        select(ElementStay.top_element_id, WakeUp.element_id, *columns)
        .join(
            ElementStay,
            (ElementStay.instance_id == WakeUp.instance_id) & (ElementStay.task_id == WakeUp.task_id),
        )
        .where(WakeUp.kind == "timer", WakeUp.due_at > now, WakeUp.due_at <= now + max(horizons))
        .where(ElementStay.left_at.is_(None), or_(*wanted))
        .group_by(ElementStay.top_element_id, WakeUp.element_id)
    )
    query = _scoped(query, session, scope, ElementStay.process_key, ElementStay.process_version_id)
    found = {(top, element): [int(n) for n in counts] for top, element, *counts in session.execute(query)}
    return {place: found.get(place, [0] * len(horizons)) for place in places}


def started_by_period(session: Session, scope: Scope, unit: str, since: datetime) -> dict[date, int]:
    """How many instances started per week or month since ``since``."""
    bucket = period_start(session, ProcessInstance.created_at, unit)
    query = select(bucket, func.count()).where(ProcessInstance.created_at >= since).group_by(bucket)
    query = _scoped(query, session, scope, ProcessInstance.process_key, ProcessInstance.process_version_id)
    return {as_date(start): count for start, count in session.execute(query)}


def incident_groups(session: Session, scope: Scope, limit: int = 100) -> list[IncidentGroup]:
    """The open incidents grouped by process, element and kind of error, the largest group first."""
    query = (
        select(
            ProcessInstance.process_key,
            Incident.element_id,
            Incident.error_type,
            func.count(),
            func.min(Incident.created_at),
            func.max(Incident.created_at),
            func.max(Incident.id),
        )
        .join(ProcessInstance, ProcessInstance.id == Incident.instance_id)
        .where(Incident.status == "open")
        .group_by(ProcessInstance.process_key, Incident.element_id, Incident.error_type)
        .order_by(func.count().desc(), func.max(Incident.id).desc())
        .limit(limit)
    )
    query = _scoped(query, session, scope, ProcessInstance.process_key, ProcessInstance.process_version_id)
    groups = []
    for key, element, error, count, first, last, newest in session.execute(query).all():
        ids = session.execute(
            select(Incident.id, Incident.instance_id)
            .join(ProcessInstance, ProcessInstance.id == Incident.instance_id)
            .where(
                Incident.status == "open",
                Incident.element_id == element,
                Incident.error_type == error,
                ProcessInstance.process_key == key,
            )
            .order_by(Incident.id)
            .limit(1000)
        ).all()
        example = session.scalar(select(Incident.message).where(Incident.id == newest)) or ""
        pairs = tuple((incident, instance) for incident, instance in ids)
        groups.append(IncidentGroup(key, element, error, count, first, last, example, pairs))
    return groups


def open_incidents(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(Incident).where(Incident.status == "open")) or 0


def buffered_messages(session: Session, now: datetime) -> int:
    query = select(func.count()).select_from(BufferedMessage).where(BufferedMessage.expires_at > now)
    return session.scalar(query) or 0


def ready_tasks_by_element(session: Session) -> dict[tuple[str, str], int]:
    """How many user tasks are ready, per process and element."""
    query = (
        select(ProcessInstance.process_key, UserTask.element_id, func.count())
        .join(ProcessInstance, ProcessInstance.id == UserTask.instance_id)
        .where(UserTask.status == "ready")
        .group_by(ProcessInstance.process_key, UserTask.element_id)
    )
    return {(key, element): count for key, element, count in session.execute(query)}


def status_by_process(session: Session) -> dict[tuple[str, str], int]:
    """How many instances have each status, per process."""
    query = select(ProcessInstance.process_key, ProcessInstance.status, func.count()).group_by(
        ProcessInstance.process_key, ProcessInstance.status
    )
    return {(key, status): count for key, status, count in session.execute(query)}
