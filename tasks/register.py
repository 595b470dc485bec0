"""Keep the register of providers: numbers, statuses, validity, and the history of every change."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

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
) -> bool:
    """Apply one change and record it; a change already recorded under ``source`` is not applied again."""
    seen = session.scalar(
        select(RegistrationChange.id).where(
            RegistrationChange.registration_id == reg.id, RegistrationChange.source == source
        )
    )
    if seen is not None:
        return False
    reg.status = status or reg.status
    reg.valid_from = valid_from or reg.valid_from
    reg.valid_until = valid_until or reg.valid_until
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


def as_record(session: Session, reg: Registration, with_history: bool = True) -> dict[str, Any]:
    """A registry record as the data dictionary defines it."""
    record: dict[str, Any] = {
        "registration_number": reg.number,
        "enterprise_number": reg.enterprise_number,
        "company_name": reg.company_name,
        "service": reg.service,
        "status": reg.status,
        "valid_from": reg.valid_from.isoformat(),
        "valid_until": reg.valid_until.isoformat(),
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
