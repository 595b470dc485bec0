"""Search the running registrations by company name, enterprise number or registration number."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import or_, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from tasks.models import Registration
from tasks.register import RUNNING
from tasks.validation import FieldError, format_enterprise_number

LIMIT = 500


@dataclass(frozen=True)
class Entry:
    number: str
    company_name: str
    enterprise_number: str  # shown as 0xxx.xxx.xxx
    service: str
    status: str
    valid_until: date


def _compact(text: str) -> str:
    """``text`` without spaces, dots and dashes, in capitals."""
    return "".join(ch for ch in text if not ch.isspace() and ch not in ".-").upper()


def enterprise_digits(text: str) -> str | None:
    """The 10 digits of an enterprise number typed in any format (``BE 0566.988.259``), else None."""
    compact = _compact(text)
    compact = compact.removeprefix("BE")
    if compact.isdigit() and len(compact) in (9, 10):
        return compact.zfill(10)  # an old 9-digit number gets its leading 0
    return None


def _conditions(query: str) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = [Registration.company_name.icontains(query, autoescape=True)]
    digits = enterprise_digits(query)
    if digits:
        conditions.append(Registration.enterprise_number == digits)
    compact = _compact(query)
    if compact.startswith("DV") and len(compact) > 2:  # DV.O236716, dv o 236716, DVO236716
        conditions.append(Registration.number == f"DV.{compact[2:]}")
    return conditions


def search(db: Session, query: str = "") -> list[Entry]:
    """Running registrations (provisional, conditional, active) matching ``query``; all when empty."""
    statement = select(Registration).where(Registration.status.in_(RUNNING))
    query = query.strip()
    if query:
        statement = statement.where(or_(*_conditions(query)))
    statement = statement.order_by(Registration.company_name, Registration.number).limit(LIMIT)
    return [_entry(reg) for reg in db.scalars(statement)]


def _entry(reg: Registration) -> Entry:
    try:
        shown = format_enterprise_number(reg.enterprise_number)
    except FieldError:
        shown = reg.enterprise_number
    return Entry(reg.number, reg.company_name, shown, reg.service, reg.status, reg.valid_until)
