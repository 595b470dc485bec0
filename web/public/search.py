"""Search the running registrations by company name, enterprise number or registration number."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from tasks.models import Registration
from tasks.register import RUNNING
from tasks.validation import FieldError, format_enterprise_number
from web.lists import PAGE_SIZE, enterprise_digits, registration_number


@dataclass(frozen=True)
class Entry:
    number: str
    company_name: str
    enterprise_number: str  # shown as 0xxx.xxx.xxx
    service: str
    status: str
    valid_until: date


SORTS = ("name", "number", "enterprise", "service", "status", "valid_until")


def _columns() -> dict[str, Any]:
    return {
        "name": Registration.company_name,
        "number": Registration.number,
        "enterprise": Registration.enterprise_number,
        "service": Registration.service,
        "status": Registration.status,
        "valid_until": Registration.valid_until,
    }


def _conditions(query: str) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = [Registration.company_name.icontains(query, autoescape=True)]
    digits = enterprise_digits(query)
    if digits:
        conditions.append(Registration.enterprise_number == digits)
    number = registration_number(query)
    if number:  # DV.O236716, dv o 236716, DVO236716
        conditions.append(Registration.number == number)
    return conditions


@dataclass(frozen=True)
class Found:
    entries: list[Entry]
    total: int  # matching registrations in all pages
    offset: int  # of the first entry shown (a page past the end shows the last page)


def search(
    db: Session,
    query: str = "",
    sort: str = "name",
    descending: bool = False,
    offset: int = 0,
    limit: int = PAGE_SIZE,
) -> Found:
    """One page of the running registrations (provisional, conditional, active) matching ``query`` (all
    when empty), sorted by ``sort`` (one of ``SORTS``), then by name and number."""
    where: list[ColumnElement[bool]] = [Registration.status.in_(RUNNING)]
    query = query.strip()
    if query:
        where.append(or_(*_conditions(query)))
    total = db.scalar(select(func.count()).select_from(Registration).where(*where)) or 0
    offset = min(max(0, offset) // limit * limit, max(0, (total - 1) // limit * limit))
    columns = _columns()
    keys = [columns.get(sort, Registration.company_name), Registration.company_name, Registration.number]
    ordered = [k.desc() if descending else k.asc() for k in keys]
    statement = select(Registration).where(*where).order_by(*ordered).offset(offset).limit(limit)
    return Found([_entry(reg) for reg in db.scalars(statement)], total, offset)


def _entry(reg: Registration) -> Entry:
    try:
        shown = format_enterprise_number(reg.enterprise_number)
    except FieldError:
        shown = reg.enterprise_number
    return Entry(reg.number, reg.company_name, shown, reg.service, reg.status, reg.valid_until)
