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

from sqlalchemy import func, select, union_all
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


def decision_time(
    session: Session, scope: monitor.Scope, edges: Sequence[datetime]
) -> list[monitor.Spread | None]:
    """How long an application took to its decision (registered or refused), median and p90 per period
    (``monitor.bucket``) of the decision."""
    refused = _refused(scope, edges[0]).subquery()
    registered = _registered(scope, edges[0]).subquery()
    decisions = union_all(
        select(refused.c.created_at.label("started"), refused.c.ended_at.label("decided")),
        select(registered.c.created_at.label("started"), registered.c.decided_at.label("decided")),
    ).subquery()
    grouped = select(
        monitor.bucket(decisions.c.decided, edges).label("grp"),
        monitor.seconds_between(session, decisions.c.started, decisions.c.decided).label("value"),
    ).where(decisions.c.decided < edges[-1])
    found = monitor.percentiles(session, grouped.subquery())
    return [found.get(i) for i in range(len(edges) - 1)]


def outcomes(session: Session, scope: monitor.Scope, edges: Sequence[datetime]) -> dict[str, list[int]]:
    """Per period (``monitor.bucket``): applications started, registered and refused, and registrations
    expired (of any version: a registration outlives the version its case ran on)."""
    since = edges[0]
    expired = select(RegistrationChange.at.label("at")).where(RegistrationChange.status == "expired")
    moments = {
        "started": select(ProcessInstance.created_at.label("at")).where(*_of(scope)),
        "registered": select(_registered(scope, since).subquery().c.decided_at.label("at")),
        "refused": select(_refused(scope, since).subquery().c.ended_at.label("at")),
        "expired": expired,
    }
    return {
        name: monitor.count_by_period(session, query.subquery(), edges) for name, query in moments.items()
    }
