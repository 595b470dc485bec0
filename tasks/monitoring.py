"""What the team lead watches in the kmo-portefeuille procedures, for the monitor: the applications waiting
for their audit report against the 4-6 week turnaround, the deadlines coming up (the end of a starter's
2-year provisional period, a conditional registration's follow-up deadline, a registration's end date and
its renewal reminders), how long an application takes to a decision, and the outcomes per week or month.

Counts only, from SQL: the deadlines are the timers the follow-up diagrams wait at, so every figure is one
filter of the case list away from the cases behind it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import case, func, literal, select, union_all
from sqlalchemy.orm import Session

from engine import monitor
from engine.models import InstanceAttribute, ProcessInstance, ProcessVersion

from .models import Registration, RegistrationChange

PROCESS = "registration"
AUDIT_REPORT_WAIT = ("wait_report",)  # the receive task an application waits at for its audit report
TURNAROUND = (timedelta(weeks=4), timedelta(weeks=6))  # domain.md: the bureau reports within 4-6 weeks
HORIZONS = (timedelta(days=30), timedelta(days=90), timedelta(days=365))
OUTCOMES = ("started", "registered", "refused", "expired")


@dataclass(frozen=True)
class Deadline:
    """A kind of deadline: the timer ``element`` inside ``within`` (a call activity of ``registration``)."""

    code: str
    within: str
    element: str


DEADLINES = (
    Deadline("starter_end", "starter_follow_up", "deadline_passed"),
    Deadline("conditional_deadline", "conditional_follow_up", "deadline_passed"),
    Deadline("registration_end", "renewal", "end_date"),
    Deadline("renewal_first_reminder", "renewal", "six_months_before"),
    Deadline("renewal_second_reminder", "renewal", "three_months_before"),
)


def deadlines_due(session: Session, scope: monitor.Scope, now: datetime) -> dict[Deadline, list[int]]:
    """How many of each deadline (of the cases of the scope's version) fall within 30, 90 and 365 days."""
    places = [(d.within, d.element) for d in DEADLINES]
    found = monitor.timers_due(session, scope, places, now, HORIZONS)
    return {d: found[(d.within, d.element)] for d in DEADLINES}


def _of(scope: monitor.Scope) -> list[Any]:
    """The registration cases of the scope's version (all versions when it names none)."""
    conditions: list[Any] = [ProcessInstance.process_key == PROCESS]
    if scope.version is not None:
        versions = select(ProcessVersion.id).where(
            ProcessVersion.process_key == PROCESS, ProcessVersion.version == scope.version
        )
        conditions.append(ProcessInstance.process_version_id.in_(versions))
    return conditions


def _refused(scope: monitor.Scope, since: datetime) -> Any:
    """The registration cases ended with a refusal since ``since``: their id, start and end."""
    return (
        select(ProcessInstance.id, ProcessInstance.created_at, ProcessInstance.ended_at)
        .join(InstanceAttribute, InstanceAttribute.instance_id == ProcessInstance.id)
        .where(
            *_of(scope),
            ProcessInstance.status == "completed",
            ProcessInstance.ended_at >= since,
            InstanceAttribute.name == "refusal_reason",
        )
    )


def _registered(scope: monitor.Scope, since: datetime) -> Any:
    """The registration cases whose application was granted since ``since``: their id, start and the
    decision, which is when the application's registrations (one per service, all made by the same
    ``register`` step) were created. The registrations since ``since`` are found first (an index on their
    creation), then their cases."""
    granted = (
        select(Registration.application_id, func.min(Registration.created_at).label("decided_at"))
        .where(Registration.created_at >= since)
        .group_by(Registration.application_id)
        .subquery()
    )
    return (
        select(ProcessInstance.id, ProcessInstance.created_at, granted.c.decided_at)
        .join(granted, granted.c.application_id == ProcessInstance.business_key)
        .where(*_of(scope))
    )


@dataclass(frozen=True)
class Decisions:
    """Per period (``monitor.bucket``): how long applications took to their decision (median and p90), and
    how many were registered and refused."""

    spreads: list[monitor.Spread | None]
    registered: list[int]
    refused: list[int]


def decisions(session: Session, scope: monitor.Scope, edges: Sequence[datetime]) -> Decisions:
    """The decisions (registered or refused) of the applications, per period of the decision. On
    PostgreSQL one aggregate over the period's decisions gives all three figures."""
    refused = _refused(scope, edges[0]).subquery()
    registered = _registered(scope, edges[0]).subquery()
    made = union_all(
        select(literal("refused").label("kind"), refused.c.created_at.label("started"),
               refused.c.ended_at.label("decided")),
        select(literal("registered").label("kind"), registered.c.created_at.label("started"),
               registered.c.decided_at.label("decided")),
    ).subquery()  # fmt: skip
    grp = monitor.bucket(made.c.decided, edges).label("grp")
    value = monitor.seconds_between(session, made.c.started, made.c.decided)
    periods = range(len(edges) - 1)
    if monitor.dialect(session) == "postgresql":
        query = (
            select(
                grp,
                func.percentile_disc(0.5).within_group(value),
                func.percentile_disc(0.9).within_group(value),
                func.count(),
                func.count(case((made.c.kind == "registered", literal(1)))),
            )
            .where(made.c.decided < edges[-1])
            .group_by(grp)
        )
        found = {int(i): (median, p90, n, granted) for i, median, p90, n, granted in session.execute(query)}
        return Decisions(
            [
                monitor.Spread(float(f[0]), float(f[1]), f[2]) if (f := found.get(i)) else None
                for i in periods
            ],
            [found[i][3] if i in found else 0 for i in periods],
            [found[i][2] - found[i][3] if i in found else 0 for i in periods],
        )
    spreads = monitor.percentiles(session, select(grp, value.label("value")).subquery())
    return Decisions(
        [spreads.get(i) for i in periods],
        monitor.count_by_period(session, select(registered.c.decided_at.label("at")).subquery(), edges),
        monitor.count_by_period(session, select(refused.c.ended_at.label("at")).subquery(), edges),
    )


def outcomes(
    session: Session, scope: monitor.Scope, edges: Sequence[datetime], decided: Decisions | None = None
) -> dict[str, list[int]]:
    """Per period (``monitor.bucket``): applications started, registered and refused (from ``decided`` when
    it has them, for the same periods), and registrations expired (of any version: a registration
    outlives the version its case ran on)."""
    decided = decided or decisions(session, scope, edges)
    expired = select(RegistrationChange.at.label("at")).where(RegistrationChange.status == "expired")
    started = select(ProcessInstance.created_at.label("at")).where(*_of(scope))
    return {
        "started": monitor.count_by_period(session, started.subquery(), edges),
        "registered": decided.registered,
        "refused": decided.refused,
        "expired": monitor.count_by_period(session, expired.subquery(), edges),
    }
