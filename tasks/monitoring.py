"""What the team lead watches in the kmo-portefeuille procedures, for the monitor: the applications waiting
for their audit report against the 4-6 week turnaround, the deadlines coming up (the end of a starter's
2-year provisional period, a conditional registration's follow-up deadline, a registration's end date and
its renewal reminders), how long an application takes to a decision, and the outcomes per week or month.

Counts only, from SQL: the deadlines are the timers the follow-up diagrams wait at, so every figure is one
filter of the case list away from the cases behind it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import func, select, union_all
from sqlalchemy.orm import Session

from engine import monitor
from engine.models import InstanceAttribute, ProcessInstance

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


def deadlines_due(session: Session, now: datetime) -> dict[Deadline, list[int]]:
    """How many of each deadline fall within 30, 90 and 365 days from ``now``."""
    places = [(d.within, d.element) for d in DEADLINES]
    found = monitor.timers_due(session, monitor.Scope(PROCESS), places, now, HORIZONS)
    return {d: found[(d.within, d.element)] for d in DEADLINES}


def _refused(since: datetime) -> Any:
    """The registration cases ended with a refusal since ``since``: their id and end."""
    return (
        select(ProcessInstance.id, ProcessInstance.created_at, ProcessInstance.ended_at)
        .join(InstanceAttribute, InstanceAttribute.instance_id == ProcessInstance.id)
        .where(
            ProcessInstance.process_key == PROCESS,
            ProcessInstance.status == "completed",
            ProcessInstance.ended_at >= since,
            InstanceAttribute.name == "refusal_reason",
        )
    )


def _registered(since: datetime) -> Any:
    """The registration cases whose application was granted since ``since``: the first registration of the
    application (one per service) is the decision."""
    return (
        select(
            ProcessInstance.id,
            ProcessInstance.created_at,
            func.min(Registration.created_at).label("decided_at"),
        )
        .join(Registration, Registration.application_id == ProcessInstance.business_key)
        .where(ProcessInstance.process_key == PROCESS)
        .group_by(ProcessInstance.id, ProcessInstance.created_at)
        .having(func.min(Registration.created_at) >= since)
    )


def decision_time(session: Session, unit: str, since: datetime) -> dict[date, monitor.Spread]:
    """How long an application took to its decision (registered or refused), median and p90 per week or
    month of the decision, since ``since``."""
    refused = _refused(since).subquery()
    registered = _registered(since).subquery()
    decisions = union_all(
        select(refused.c.created_at.label("started"), refused.c.ended_at.label("decided")),
        select(registered.c.created_at.label("started"), registered.c.decided_at.label("decided")),
    ).subquery()
    grouped = select(
        monitor.period_start(session, decisions.c.decided, unit).label("grp"),
        monitor.seconds_between(session, decisions.c.started, decisions.c.decided).label("value"),
    ).subquery()
    return {monitor.as_date(g): spread for g, spread in monitor.percentiles(session, grouped).items()}


def outcomes(session: Session, unit: str, since: datetime) -> dict[str, dict[date, int]]:
    """Per week or month since ``since``: applications started, registered, refused, and registrations
    expired."""
    scope = monitor.Scope(PROCESS)
    counted: dict[str, dict[date, int]] = {"started": monitor.started_by_period(session, scope, unit, since)}
    registered = _registered(since).subquery()
    refused = _refused(since).subquery()
    expired = select(RegistrationChange.at.label("at")).where(
        RegistrationChange.status == "expired", RegistrationChange.at >= since
    )
    for name, moments in (
        ("registered", select(registered.c.decided_at.label("at"))),
        ("refused", select(refused.c.ended_at.label("at"))),
        ("expired", expired),
    ):
        rows = moments.subquery()
        bucket = monitor.period_start(session, rows.c.at, unit)
        query = select(bucket, func.count()).group_by(bucket)
        counted[name] = {monitor.as_date(start): n for start, n in session.execute(query)}
    return counted
