"""What the monitor shows, counted by the database: instances by status, where they wait now, how long they
stay at each element (median and p90), how old the waits at some elements are, what falls due soon, open
incidents by element and error, and counts per week or month. Nothing here loads an instance.

Percentiles are taken in SQL with window functions (``row_number`` and ``count`` over each group), which
SQLite and PostgreSQL both run, so the figures are the same on both databases. Weeks and months are
given as their edges (moments), so they follow the reader's calendar. The SQL helpers ``bucket``,
``count_by_period``, ``percentiles`` and ``seconds_between`` are public for the application's own counts.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Float, and_, case, cast, func, literal, or_, select, true
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


@dataclass(frozen=True)
class Scope:
    """Which instances: of one process (None: every process) and one of its versions (None: all)."""

    process_key: str | None = None
    version: int | None = None


@dataclass(frozen=True)
class Period:
    """From ``start`` (included) to ``end`` (not included), as a week or month of a chart; or, with
    ``closed_end``, after ``start`` up to and including ``end``, as an age band: "4 to 6 weeks old" began
    after now - 6 weeks and at or before now - 4 weeks (exactly 4 weeks old is no longer "under 4 weeks",
    as the 4-week reminder has fired). None: open on that side."""

    start: datetime | None = None
    end: datetime | None = None
    closed_end: bool = False


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
        conditions.append(column > period.start if period.closed_end else column >= period.start)
    if period.end is not None:
        conditions.append(column <= period.end if period.closed_end else column < period.end)
    return conditions


def bucket(column: Any, edges: Sequence[datetime]) -> ColumnElement[Any]:
    """The index ``i`` of the period ``edges[i]`` to ``edges[i + 1]`` that ``column`` falls in (NULL
    outside them all), as a SQL expression. The edges are moments, so weeks and months can follow the
    reader's calendar (Brussels midnight), which SQLite cannot compute itself."""
    return case(
        *((and_(column >= edges[i], column < edges[i + 1]), literal(i)) for i in range(len(edges) - 1)),
        else_=None,
    )


def bands(now: datetime, edges: Sequence[timedelta]) -> list[Period]:
    """The periods in which something began that is now younger than ``edges[0]``, between each two
    edges, and older than the last edge."""
    moments = [now - edge for edge in edges]
    return [
        Period(moments[0], None, closed_end=True),
        *(Period(moments[i + 1], moments[i], closed_end=True) for i in range(len(moments) - 1)),
        Period(None, moments[-1], closed_end=True),
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


def seconds_between(session: Session, start: Any, end: Any) -> ColumnElement[float]:
    """``end - start`` in seconds, as a SQL expression."""
    if dialect(session) == "postgresql":
        return cast(func.extract("epoch", end - start), Float)
    return (func.julianday(end) - func.julianday(start)) * 86400.0


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
    """Median and p90 of ``value`` per ``grp`` of a subquery with those two columns, by nearest rank (the
    smallest value with at least 50 % or 90 % of the values at or below it). PostgreSQL computes it with
    ``percentile_disc``; SQLite, which has none, with ``row_number`` and ``count`` over each group (ranks
    ceil(n / 2) and ceil(9n / 10)): the same values."""
    if dialect(session) == "postgresql":
        rows = session.execute(
            select(
                grouped.c.grp,
                func.percentile_disc(0.5).within_group(grouped.c.value),
                func.percentile_disc(0.9).within_group(grouped.c.value),
                func.count(),
            ).group_by(grouped.c.grp)
        )
        return {grp: Spread(float(median), float(p90), n) for grp, median, p90, n in rows}
    ranked = select(
        grouped.c.grp,
        grouped.c.value,
        func.row_number().over(partition_by=grouped.c.grp, order_by=grouped.c.value).label("rank"),
        func.count().over(partition_by=grouped.c.grp).label("n"),
    ).subquery()
    median_rank = (ranked.c.n + 1) // 2
    p90_rank = (ranked.c.n * 9 + 9) // 10
    found: dict[Any, dict[str, Any]] = {}
    for grp, value, rank, n, at_median, at_p90 in session.execute(
        select(ranked.c.grp, ranked.c.value, ranked.c.rank, ranked.c.n, median_rank, p90_rank).where(
            (ranked.c.rank == median_rank) | (ranked.c.rank == p90_rank)
        )
    ):
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
    session: Session, scope: Scope, edges: Sequence[datetime], statuses: Sequence[str] = ("completed",)
) -> list[Spread | None]:
    """How long instances took from start to end, per period (``bucket``) of their end."""
    ended = ProcessInstance.ended_at
    query = select(
        bucket(ended, edges).label("grp"),
        seconds_between(session, ProcessInstance.created_at, ended).label("value"),
    ).where(ended >= edges[0], ended < edges[-1], ProcessInstance.status.in_(statuses))
    query = _scoped(query, session, scope, ProcessInstance.process_key, ProcessInstance.process_version_id)
    found = percentiles(session, query.subquery())
    return [found.get(i) for i in range(len(edges) - 1)]


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


def count_by_period(session: Session, moments: Any, edges: Sequence[datetime]) -> list[int]:
    """How many rows of a subquery with a column ``at`` fall in each period (``bucket``)."""
    index = bucket(moments.c.at, edges)
    query = (
        select(index, func.count()).where(moments.c.at >= edges[0], moments.c.at < edges[-1]).group_by(index)
    )
    found = {int(i): n for i, n in session.execute(query)}
    return [found.get(i, 0) for i in range(len(edges) - 1)]


def started_by_period(session: Session, scope: Scope, edges: Sequence[datetime]) -> list[int]:
    """How many instances started in each period (``bucket``)."""
    query = select(ProcessInstance.created_at.label("at"))
    query = _scoped(query, session, scope, ProcessInstance.process_key, ProcessInstance.process_version_id)
    return count_by_period(session, query.subquery(), edges)


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
        members = (
            select(Incident.id, Incident.instance_id)
            .join(ProcessInstance, ProcessInstance.id == Incident.instance_id)
            .where(Incident.status == "open", Incident.element_id == element, Incident.error_type == error)
        )
        members = _scoped(
            members,
            session,
            Scope(key, scope.version),
            ProcessInstance.process_key,
            ProcessInstance.process_version_id,
        )
        ids = session.execute(members.order_by(Incident.id).limit(1000)).all()
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
