"""Keep the register of providers: numbers, statuses, validity, and the history of every change.

A registration runs in periods of 5 years; a renewal adds a period that follows on the current one. The
row keeps the latest period (the one the registration runs to) and, after a renewal, the one before it:
until the renewed period starts, that one is current and the renewed one is next (``periods``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine import clock

from . import dates
from .models import NumberSequence, Registration, RegistrationChange

RUNNING = ("provisional", "conditional", "active")
PREFIXES = {"training": "DV.O", "advice": "DV.A"}  # DV.A is unconfirmed (domain.md)
SERVICE_NL = {"training": "opleiding", "advice": "advies"}
STATUS_NL = {
    "provisional": "voorlopig",
    "conditional": "voorwaardelijk",
    "active": "actief",
    "stopped": "stopgezet",
    "expired": "verlopen",
}


@dataclass(frozen=True)
class Period:
    """A period of validity: from its first day up to its end date."""

    valid_from: date
    valid_until: date

    def as_dict(self) -> dict[str, str]:
        return {"valid_from": self.valid_from.isoformat(), "valid_until": self.valid_until.isoformat()}


@dataclass(frozen=True)
class Periods:
    """The period a registration is in on a day, and the renewed period that follows it, if any."""

    current: Period
    next: Period | None


def periods(reg: Registration, today: date) -> Periods:
    """The registration's current period on ``today`` and, after a renewal ahead of time, the next one.

    A stopped or expired registration has no next period: a renewed period that had not started never
    will.
    """
    latest = Period(reg.valid_from, reg.valid_until)
    if reg.previous_from is None or reg.previous_until is None or today >= reg.valid_from:
        return Periods(latest, None)
    previous = Period(reg.previous_from, reg.previous_until)
    return Periods(previous, latest if reg.status in RUNNING else None)


def next_number(session: Session, service: str) -> str:
    """Hand out the next number for ``service`` (``DV.O000001``); the sequence row is locked meanwhile."""
    prefix = PREFIXES[service]
    row = session.scalars(
        select(NumberSequence).where(NumberSequence.prefix == prefix).with_for_update()
    ).one_or_none()
    if row is None:
        row = NumberSequence(prefix=prefix, last=0)
        session.add(row)
    row.last += 1
    session.flush()
    return f"{prefix}{row.last:06d}"


def create(
    session: Session,
    *,
    application_id: str,
    enterprise_number: str,
    company_name: str,
    email: str,
    service: str,
    status: str,
    valid_from: date,
    valid_until: date,
    follow_up_deadline: date | None,
    now: datetime,
    reason: str,
    source: str,
) -> Registration:
    reg = Registration(
        number=next_number(session, service),
        application_id=application_id,
        enterprise_number=enterprise_number,
        company_name=company_name,
        email=email,
        service=service,
        status=status,
        valid_from=valid_from,
        valid_until=valid_until,
        follow_up_deadline=follow_up_deadline,
        created_at=now,
        updated_at=now,
    )
    session.add(reg)
    session.flush()
    _record(session, reg, now, valid_from, reason, source)
    return reg


def change(
    session: Session,
    reg: Registration,
    *,
    now: datetime,
    on_date: date,
    reason: str,
    source: str,
    status: str | None = None,
    valid_from: date | None = None,
    valid_until: date | None = None,
    condition_met: bool = False,
) -> bool:
    """Apply one change and record it; a change already recorded under ``source`` is not applied again.
    ``condition_met``: the follow-up audit's deadline is over and done with (cleared)."""
    seen = session.scalar(
        select(RegistrationChange.id).where(
            RegistrationChange.registration_id == reg.id, RegistrationChange.source == source
        )
    )
    if seen is not None:
        return False
    reg.status = status or reg.status
    if valid_from is not None and valid_from > reg.valid_from:  # a renewal: a new period follows this one
        reg.previous_from, reg.previous_until = reg.valid_from, reg.valid_until
    reg.valid_from = valid_from or reg.valid_from
    reg.valid_until = valid_until or reg.valid_until
    if condition_met:
        reg.follow_up_deadline = None
    reg.updated_at = now
    _record(session, reg, now, on_date, reason, source)
    return True


def _record(
    session: Session, reg: Registration, now: datetime, on_date: date, reason: str, source: str
) -> None:
    session.add(
        RegistrationChange(
            registration_id=reg.id,
            at=now,
            on_date=on_date,
            status=reg.status,
            valid_from=reg.valid_from,
            valid_until=reg.valid_until,
            reason=reason,
            source=source,
        )
    )
    session.flush()


def of_application(session: Session, application_id: str) -> list[Registration]:
    query = (
        select(Registration).where(Registration.application_id == application_id).order_by(Registration.id)
    )
    return list(session.scalars(query))


def running_for(session: Session, enterprise_number: str, service: str) -> Registration | None:
    return session.scalars(
        select(Registration).where(
            Registration.enterprise_number == enterprise_number,
            Registration.service == service,
            Registration.status.in_(RUNNING),
        )
    ).first()


def find(session: Session, number: str) -> Registration | None:
    return session.scalars(select(Registration).where(Registration.number == number.strip().upper())).first()


def all_registrations(session: Session, status: str | None = None) -> list[Registration]:
    query = select(Registration).order_by(Registration.number)
    if status:
        query = query.where(Registration.status == status)
    return list(session.scalars(query))


def history(session: Session, reg: Registration) -> list[RegistrationChange]:
    query = (
        select(RegistrationChange)
        .where(RegistrationChange.registration_id == reg.id)
        .order_by(RegistrationChange.id)
    )
    return list(session.scalars(query))


def as_record(
    session: Session, reg: Registration, with_history: bool = True, today: date | None = None
) -> dict[str, Any]:
    """A registry record as the data dictionary defines it, with the current period on ``today`` (default:
    the clock's) and the next period (``None`` unless renewed ahead of time); ``valid_from`` and
    ``valid_until`` are the latest period, the one the registration runs to."""
    now = periods(reg, today or dates.today(clock.now()))
    record: dict[str, Any] = {
        "registration_number": reg.number,
        "enterprise_number": reg.enterprise_number,
        "company_name": reg.company_name,
        "service": reg.service,
        "status": reg.status,
        "valid_from": reg.valid_from.isoformat(),
        "valid_until": reg.valid_until.isoformat(),
        "current_period": now.current.as_dict(),
        "next_period": now.next.as_dict() if now.next else None,
        "application_id": reg.application_id,
    }
    if reg.follow_up_deadline:
        record["follow_up_deadline"] = reg.follow_up_deadline.isoformat()
    if with_history:
        record["history"] = [
            {
                "date": c.on_date.isoformat(),
                "at": c.at.isoformat(),
                "status": c.status,
                "valid_from": c.valid_from.isoformat(),
                "valid_until": c.valid_until.isoformat(),
                "reason": c.reason,
            }
            for c in history(session, reg)
        ]
    return record


@dataclass(frozen=True)
class Deadline:
    """A date a registration must be acted on by: its end, or its follow-up audit's deadline."""

    on: date
    kind: str  # ends | follow_up
    registration: Registration


def coming_deadlines(
    session: Session, today: date, until: date, enterprise_number: str | None = None, limit: int = 20
) -> list[Deadline]:
    """The deadlines of running registrations from ``today`` up to ``until`` (of one enterprise, or all),
    soonest first: the end of a provisional, conditional or active period, and a follow-up audit's
    deadline."""
    running = Registration.status.in_(("provisional", "conditional", "active"))
    own = [Registration.enterprise_number == enterprise_number] if enterprise_number else []
    ends = select(Registration).where(
        running, Registration.valid_until >= today, Registration.valid_until <= until, *own
    )
    follow = select(Registration).where(
        running,
        Registration.follow_up_deadline.is_not(None),
        Registration.follow_up_deadline >= today,
        Registration.follow_up_deadline <= until,
        *own,
    )
    ends = ends.order_by(Registration.valid_until, Registration.number)
    follow = follow.order_by(Registration.follow_up_deadline, Registration.number)
    found = [Deadline(r.valid_until, "ends", r) for r in session.scalars(ends.limit(limit))]
    found += [
        Deadline(r.follow_up_deadline, "follow_up", r)
        for r in session.scalars(follow.limit(limit))
        if r.follow_up_deadline is not None
    ]
    return sorted(found, key=lambda d: (d.on, d.registration.number))[:limit]
