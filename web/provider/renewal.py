"""Start a renewal: the provider names the audit bureau for the renewal audit (message ``renewal_requested``).

The renewal process (``bpmn/renewal.bpmn``) waits for the renewal audit from the registration until its
end date; a request made here records the bureau, confirms it by e-mail, and lets that bureau's auditors
see the case and deliver the report. A new request replaces an open one (another bureau).
"""

from __future__ import annotations

from typing import Any

from flask import flash, g, redirect, render_template, request, url_for
from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.errors import Conflict, InvalidInput, MessageNotDelivered
from tasks import register, renewal
from tasks.models import AuditBureau

from .. import formrender
from ..access import require_case, waits_for_renewal_audit
from ..auth import engine, roles_required
from ..i18n import translate
from . import bp, casework

MESSAGE = "renewal_requested"
DESCRIPTION = (
    "Een verlenging vraagt een nieuwe, volledige audit, aangerekend aan het standaardtarief van "
    "EUR 150 per uur."
)
NOT_WAITING = (
    "Voor dit dossier kan nu geen verlenging aangevraagd worden: er is geen lopende registratie die op een "
    "verlengingsaudit wacht."
)


def schema_of(db: Session) -> dict[str, Any]:
    """The request form: the appointed bureaus (from the table) and the estimated hours."""
    bureaus = list(db.scalars(select(AuditBureau).where(AuditBureau.active).order_by(AuditBureau.name)))
    return {
        "title": "Verlenging aanvragen",
        "description": DESCRIPTION,
        "type": "object",
        "properties": {
            "audit_bureau": {
                "type": "string",
                "title": "Auditbureau",
                "enum": [b.code for b in bureaus],
                "enumNames": [b.name for b in bureaus],
            },
            "audit_hours": {
                "type": "integer",
                "title": "Geschat aantal uren",
                "minimum": 1,
                "maximum": renewal.MAX_HOURS,
            },
        },
        "required": ["audit_bureau", "audit_hours"],
        "x-labels-en": {"audit_bureau": "Audit bureau", "audit_hours": "Estimated hours"},
    }


@bp.route("/aanvragen/<int:instance_id>/verlenging", methods=["GET", "POST"])
@roles_required("dienstverlener")
def request_renewal(instance_id: int) -> Any:
    eng = engine()
    with eng.transaction() as db:
        detail = require_case(db, eng, g.person, g.roles, instance_id)
        schema = schema_of(db)
        current = renewal.open_request(db, detail.business_key or "")
        bureau = db.get(AuditBureau, current.audit_bureau) if current is not None else None
        bureau_name = bureau.name if bureau is not None else None
        regs = [
            r for r in register.of_application(db, detail.business_key or "") if r.status in register.RUNNING
        ]
        ends = min((r.valid_until for r in regs), default=None)
    waiting = waits_for_renewal_audit(detail) and ends is not None
    errors: dict[str, str] = {}
    if request.method == "POST":
        if not waiting:
            raise Conflict(translate(NOT_WAITING))
        data = formrender.parse(schema, request.form)
        values = formrender.values(schema, request.form)
        errors = formrender.check(schema, data)
        if not errors:
            actor = g.person.username
            payload = {"application_id": detail.business_key, **data, "requested_by": actor}
            try:
                sent = casework.attempt(eng, lambda db: eng.message(db, MESSAGE, None, payload, actor=actor))
            except MessageNotDelivered:
                raise Conflict(translate(NOT_WAITING)) from None
            if isinstance(sent, InvalidInput):
                errors = formrender.messages(sent, schema)
            else:
                flash(
                    translate("Uw aanvraag tot verlenging is bezorgd; u krijgt een bevestiging per e-mail.")
                )
                return redirect(url_for("provider.case", instance_id=instance_id))
    else:
        chosen = current.audit_bureau if current is not None else detail.data.get("audit_bureau")
        hours = current.audit_hours if current is not None else detail.data.get("audit_hours")
        values = formrender.initial(schema, {"audit_bureau": chosen, "audit_hours": hours})
    return render_template(
        "provider/renewal.html",
        detail=detail,
        schema=schema,
        fields=formrender.fields(schema),
        values=values,
        errors=errors,
        waiting=waiting,
        ends=ends,
        current=current,
        bureau_name=bureau_name,
    ), (400 if errors else 200)
