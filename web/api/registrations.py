"""Read the register of providers: the public data of every registration."""

from __future__ import annotations

from typing import Any

from flask import jsonify, request
from flask.typing import ResponseReturnValue
from sqlalchemy.orm import Session

from engine.errors import InvalidInput, NotFound
from tasks import register
from tasks.models import Registration

from .core import bp, engine

STATUSES = ("provisional", "conditional", "active", "stopped", "expired")
# The data dictionary's registry record; the application id and e-mail address stay internal.
PUBLIC_FIELDS = (
    "registration_number",
    "enterprise_number",
    "company_name",
    "service",
    "status",
    "valid_from",
    "valid_until",
    "current_period",
    "next_period",
    "history",
)


def public_record(db: Session, reg: Registration, with_history: bool) -> dict[str, Any]:
    record = register.as_record(db, reg, with_history=with_history)
    return {name: record[name] for name in PUBLIC_FIELDS if name in record}


@bp.get("/registrations")
def registrations() -> ResponseReturnValue:
    status = request.args.get("status") or None
    if status is not None and status not in STATUSES:
        raise InvalidInput(f"status must be one of {', '.join(STATUSES)}", "status")
    with engine().transaction() as db:
        found = [public_record(db, reg, False) for reg in register.all_registrations(db, status)]
    return jsonify(registrations=found)


@bp.get("/registrations/<number>")
def registration(number: str) -> ResponseReturnValue:
    with engine().transaction() as db:
        reg = register.find(db, number)
        if reg is None:
            raise NotFound(f"no registration with number '{number}'")
        record = public_record(db, reg, True)
    return jsonify(record)
