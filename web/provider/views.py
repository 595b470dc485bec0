"""What a provider sees: its applications, its registrations with their certificates, one case."""

from __future__ import annotations

from typing import Any

from flask import Response, abort, g, render_template
from sqlalchemy import select
from sqlalchemy.orm import Session

from tasks import certificate, register, renewal
from tasks.models import AuditBureau, Registration
from tasks.validation import format_enterprise_number

from ..access import organisation_of, require_case, visible_cases, waits_for_renewal_audit
from ..auth import engine, roles_required
from ..i18n import translate
from . import bp, casework

VIEWERS = ("dienstverlener", "lokale_beheerder")


def registrations_of(db: Session, enterprise_number: str | None) -> list[Registration]:
    if not enterprise_number:
        return []
    query = (
        select(Registration)
        .where(Registration.enterprise_number == enterprise_number)
        .order_by(Registration.number)
    )
    return list(db.scalars(query))


NO_CERTIFICATE = (
    "De registratie %s is %s: er is geen geldig attest meer. Een kmo kan u voor deze dienst niet meer met "
    "de kmo-portefeuille betalen."
)


def _registration_rows(regs: list[Registration]) -> list[dict[str, Any]]:
    return [
        {
            "number": r.number,
            "application_id": r.application_id,
            "service": casework.word(casework.SERVICES, r.service),
            "status": casework.word(casework.REGISTRATION_STATUS, r.status),
            "running": r.status in register.RUNNING,
            "valid_from": r.valid_from,
            "valid_until": r.valid_until,
        }
        for r in regs
    ]


@bp.get("/")
@roles_required(*VIEWERS)
def index() -> Any:
    eng = engine()
    with eng.transaction() as db:
        org = organisation_of(db, g.person)
        details = visible_cases(db, eng, g.person, g.roles)
        # application → case, for the cases whose registration waits for a renewal audit
        renewable = {d.business_key: d.id for d in details if waits_for_renewal_audit(d)}
        cases = [
            {
                "id": d.id,
                "key": d.business_key,
                "company": d.data.get("company_name"),
                "services": [casework.word(casework.SERVICES, s) for s in d.data.get("services") or []],
                "phase": casework.phase(d),
                "status": casework.word(casework.CASE_STATUS, d.status),
                "created_at": d.created_at,
                "updated_at": d.updated_at,
            }
            for d in details
        ]
        tasks = [t for t in eng.tasks(db, lane="Dienstverlener") if t.instance_id in {c["id"] for c in cases}]
        regs = _registration_rows(registrations_of(db, org.enterprise_number))
        org_name = org.name
    return render_template(
        "provider/index.html",
        cases=cases,
        tasks=tasks,
        registrations=regs,
        org_name=org_name,
        may_apply="dienstverlener" in g.roles,
        renewable=renewable if "dienstverlener" in g.roles else {},
    )


@bp.get("/aanvragen/<int:instance_id>")
@roles_required(*VIEWERS)
def case(instance_id: int) -> Any:
    eng = engine()
    with eng.transaction() as db:
        detail = require_case(db, eng, g.person, g.roles, instance_id)
        regs = _registration_rows(register.of_application(db, detail.business_key or ""))
        request = renewal.open_request(db, detail.business_key or "")
        requested = None
        if request is not None:
            bureau = db.get(AuditBureau, request.audit_bureau)
            requested = (request.requested_at, bureau.name if bureau is not None else request.audit_bureau)
    data = detail.data
    summary = [
        ("Naam van de onderneming", data.get("company_name")),
        ("Ondernemingsnummer", format_enterprise_number(str(data.get("enterprise_number") or ""))),
        ("E-mailadres", data.get("email")),
        ("Diensten", ", ".join(casework.word(casework.SERVICES, s) for s in data.get("services") or [])),
        ("Auditbureau", data.get("audit_bureau")),
    ]
    return render_template(
        "provider/case.html",
        detail=detail,
        phase=casework.phase(detail),
        status=casework.word(casework.CASE_STATUS, detail.status),
        summary=summary,
        registrations=regs,
        tasks=[t for t in detail.ready_tasks if t.lane == "Dienstverlener"],
        may_act="dienstverlener" in g.roles,
        renewable=(
            {detail.business_key: detail.id}
            if "dienstverlener" in g.roles and waits_for_renewal_audit(detail)
            else {}
        ),
        requested=requested,
    )


@bp.get("/registraties/<number>/attest.pdf")
@roles_required(*VIEWERS)
def certificate_pdf(number: str) -> Any:
    with engine().transaction() as db:
        reg = register.find(db, number)
        if reg is None:
            abort(404)
        org = organisation_of(db, g.person)
        if not org.enterprise_number or reg.enterprise_number != org.enterprise_number:
            abort(403)
        if reg.status not in register.RUNNING:  # a stopped or expired registration has no valid certificate
            status = casework.word(casework.REGISTRATION_STATUS, reg.status).lower()
            text = translate(NO_CERTIFICATE) % (reg.number, status)
            return render_template("error.html", code=410, title="Geen geldig attest", text=text), 410
        cert = certificate.latest(db, reg)
        if cert is None:
            abort(404)
        pdf, filename = bytes(cert.pdf), f"attest-{reg.number}.pdf"
    return Response(
        pdf,
        mimetype="application/pdf",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
