"""Renewal requests: the provider asks to renew and names the audit bureau that will do the renewal audit.

The request arrives as the ``renewal_requested`` message while the renewal process waits for its audit
(``bpmn/renewal.bpmn``); the diagram's ``record_renewal_request`` service keeps it in a table, because
who may deliver the renewal audit is a question the portals ask of the database, not of process data
(a later branch of the process may still carry the bureau of the first audit). A newer request
supersedes an open one; a renewal or an expiry closes it.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from engine.services import MessageContract, ServiceContext

from . import register
from .models import AuditBureau, RenewalRequest
from .validation import FieldError, ValidationErrors

MAX_HOURS = 80
LABELS = {
    "application_id": ("Aanvraag", "Application"),
    "audit_bureau": ("Auditbureau", "Audit bureau"),
    "audit_hours": ("Geschat aantal uren", "Estimated hours"),
    "requested_by": ("Aangevraagd door", "Requested by"),
}


def _error(field: str, what_nl: str, what_en: str) -> FieldError:
    nl, en = LABELS[field]
    return FieldError(field, f"{nl}: {what_nl}", f"{en}: {what_en}")


def validate_request(payload: Mapping[str, Any]) -> dict[str, Any]:
    """The ``renewal_requested`` message's fields, normalized, or ValidationErrors naming each bad field.

    Returns exactly ``application_id``, ``audit_bureau`` (a code), ``audit_hours`` (1 to 80) and
    ``requested_by`` (a username, or None).
    """
    errors: dict[str, FieldError] = {}
    result: dict[str, Any] = {}
    for name in ("application_id", "audit_bureau"):
        value = payload.get(name)
        if not isinstance(value, str) or not value.strip():
            errors[name] = _error(name, "is verplicht.", "is required.")
        else:
            result[name] = value.strip()
    hours = payload.get("audit_hours")
    if isinstance(hours, str) and hours.strip().isdecimal() and len(hours.strip()) < 10:
        hours = int(hours.strip())
    if hours is None or hours == "":
        errors["audit_hours"] = _error("audit_hours", "is verplicht.", "is required.")
    elif isinstance(hours, bool) or not isinstance(hours, int) or not 1 <= hours <= MAX_HOURS:
        errors["audit_hours"] = _error(
            "audit_hours",
            f"moet een geheel getal van 1 tot {MAX_HOURS} zijn.",
            f"must be a whole number from 1 to {MAX_HOURS}.",
        )
    else:
        result["audit_hours"] = hours
    by = payload.get("requested_by")
    result["requested_by"] = by.strip() if isinstance(by, str) and by.strip() else None
    if errors:
        raise ValidationErrors(errors)
    return result


def check_request(ctx: ServiceContext, payload: dict[str, Any]) -> dict[str, Any]:
    """What only the database knows: the bureau is an appointed one, and the application has a running
    registration (an expired one cannot be renewed: the provider applies again)."""
    errors: dict[str, FieldError] = {}
    bureau = ctx.session.get(AuditBureau, payload["audit_bureau"])
    if bureau is None or not bureau.active:
        errors["audit_bureau"] = _error(
            "audit_bureau", "is geen erkend auditbureau.", "is not an appointed audit bureau."
        )
    running = [
        r
        for r in register.of_application(ctx.session, payload["application_id"])
        if r.status in register.RUNNING
    ]
    if not running:
        errors["application_id"] = _error(
            "application_id",
            "heeft geen lopende registratie om te verlengen; na de einddatum dient u een nieuwe aanvraag in.",
            "has no running registration to renew; after the end date, apply again.",
        )
    if errors:
        raise ValidationErrors(errors)
    return payload


def contract() -> MessageContract:
    """The ``renewal_requested`` message: keyed by application, never buffered (a request for a case that
    does not wait for a renewal is refused at once rather than delivered weeks later)."""
    return MessageContract(
        name="renewal_requested",
        validate=validate_request,
        check=check_request,
        key_field="application_id",
        refuse_unknown_key=True,
        buffer=False,
    )


def record_renewal_request(
    ctx: ServiceContext, application_id: str, audit_bureau: str, audit_hours: int, requested_by: str | None
) -> dict[str, Any]:
    """Keep the request (superseding an open one) and return it for the process data."""
    existing = ctx.session.scalar(
        select(RenewalRequest).where(RenewalRequest.idempotency_key == ctx.idempotency_key)
    )
    if existing is not None:
        return as_dict(existing)
    running = [
        r for r in register.of_application(ctx.session, application_id) if r.status in register.RUNNING
    ]
    if not running:
        raise LookupError(f"no running registration for application {application_id}")
    close(ctx.session, application_id, "superseded", ctx.now)
    request = RenewalRequest(
        application_id=application_id,
        audit_bureau=audit_bureau,
        audit_hours=int(audit_hours),
        requested_by=requested_by,
        requested_at=ctx.now,
        registration_ends=min(r.valid_until for r in running),
        status="open",
        idempotency_key=ctx.idempotency_key,
    )
    ctx.session.add(request)
    ctx.session.flush()
    return as_dict(request)


def as_dict(request: RenewalRequest) -> dict[str, Any]:
    return {
        "id": request.id,
        "application_id": request.application_id,
        "audit_bureau": request.audit_bureau,
        "audit_hours": request.audit_hours,
        "audit_cost_estimate": request.audit_hours * 150,
        "requested_by": request.requested_by,
        "requested_at": request.requested_at.isoformat(),
        "registration_ends": request.registration_ends.isoformat(),
        "status": request.status,
    }


def close(session: Session, application_id: str, status: str, now: datetime) -> int:
    """Close the application's open request (``superseded``, ``renewed``, ``expired`` or ``stopped``)."""
    result = session.execute(
        update(RenewalRequest)
        .where(RenewalRequest.application_id == application_id, RenewalRequest.status == "open")
        .values(status=status, closed_at=now)
    )
    return int(getattr(result, "rowcount", 0) or 0)


def open_request(session: Session, application_id: str) -> RenewalRequest | None:
    """The application's open renewal request, if any."""
    query = (
        select(RenewalRequest)
        .where(RenewalRequest.application_id == application_id, RenewalRequest.status == "open")
        .order_by(RenewalRequest.id.desc())
        .limit(1)
    )
    return session.scalar(query)


# A bureau sees a case for a renewal while it is asked to audit it, and after it renewed it; not once the
# provider chose another bureau or the registration ended without its report.
VISIBLE = ("open", "renewed")


def requested_of(session: Session, application_id: str, audit_bureau: str) -> bool:
    """True when ``audit_bureau`` is asked to do the application's renewal audit, or did it."""
    query = select(RenewalRequest.id).where(
        RenewalRequest.application_id == application_id,
        RenewalRequest.audit_bureau == audit_bureau,
        RenewalRequest.status.in_(VISIBLE),
    )
    return session.scalar(query.limit(1)) is not None


def history(session: Session, application_id: str) -> list[RenewalRequest]:
    """Every renewal request of the application, oldest first."""
    query = select(RenewalRequest).where(RenewalRequest.application_id == application_id)
    return list(session.scalars(query.order_by(RenewalRequest.id)))


def applications_of_bureau(session: Session, audit_bureau: str) -> list[str]:
    """The applications whose renewal audit ``audit_bureau`` is asked to do, or did."""
    query = select(RenewalRequest.application_id).where(
        RenewalRequest.audit_bureau == audit_bureau, RenewalRequest.status.in_(VISIBLE)
    )
    return sorted(set(session.scalars(query)))
