"""Receive an audit bureau's report (message ``audit_report`` of the data dictionary)."""

from __future__ import annotations

from typing import Any

from flask import jsonify
from flask.typing import ResponseReturnValue
from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.errors import Conflict, Forbidden
from engine.forms import as_input_error
from engine.models import MessageReceipt, ProcessInstance
from engine.runner import ENDED
from tasks.validation import validate_audit_report

from .. import access
from .core import AUDITOR, Caller, bp, caller, engine, json_body

MESSAGE = "audit_report"


@bp.post("/messages/audit_report")
def audit_report() -> ResponseReturnValue:
    """Deliver the report to the case it names; the same ``report_id`` again answers ``duplicate``."""
    who = caller()
    who.require(AUDITOR)
    payload = json_body()
    report = _validated(payload)
    with engine().transaction() as db:
        _check_report_id(db, str(report["report_id"]), str(report["application_id"]))
        if not who.is_staff:
            _check_bureau(db, who, str(report["application_id"]), str(report["report_id"]))
        result = engine().message(db, MESSAGE, None, payload, None, actor=who.username)
    return jsonify(result.to_dict()), 202 if result.status == "buffered" else 200


def _validated(payload: dict[str, Any]) -> dict[str, object]:
    """The report's fields, or 400 with every wrong field (before any case is looked at)."""
    try:
        return validate_audit_report(payload)
    except ValueError as exc:
        error = as_input_error(exc)
        if error is None:
            raise
        raise error from exc


def _check_report_id(db: Session, report_id: str, application_id: str) -> None:
    """409 when ``report_id`` was already accepted for another application.

    Report ids are one namespace for the engine: answering "duplicate" would drop this report silently,
    and name another bureau's case.
    """
    seen = db.get(MessageReceipt, report_id)
    if seen is not None and (seen.message_name != MESSAGE or seen.correlation_key != application_id):
        raise Conflict(
            f"report_id '{report_id}' was already used for another report; give this one its own id"
        )


def _check_bureau(db: Session, who: Caller, application_id: str, report_id: str) -> None:
    """403 unless an open case with this key waits for an audit report from the caller's bureau now.

    Checked under the case's lock, in the transaction that delivers the report, so a renewal request that
    names another bureau cannot slip in between. A report that arrives when the case does not wait for one
    is refused rather than buffered: delivered later, it would skip this check. An application that does
    not exist gets the same answer, so a bureau cannot probe for other bureaus' application ids.
    """
    query = select(ProcessInstance.id).where(
        ProcessInstance.business_key == application_id, ProcessInstance.status.not_in(ENDED)
    )
    if access.repeated_report(db, report_id, application_id):
        return  # the engine answers "duplicate"
    for instance_id in db.scalars(query).all():
        engine().lock(db, instance_id)
        if access.repeated_report(db, report_id, application_id):
            return  # the same report, delivered meanwhile by a request that held the lock
        if AUDITOR in who.roles and access.may_report(
            db, who.audit_bureau_code, engine().show(db, instance_id)
        ):
            return
    raise Forbidden(
        f"application '{application_id}' does not wait for an audit report from your bureau (a renewal "
        "audit needs the provider's renewal request naming your bureau)"
    )
