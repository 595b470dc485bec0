"""What a provider sees: its applications, its registrations with their certificates, one case."""

from __future__ import annotations

from typing import Any

from flask import Response, abort, g, render_template, request
from sqlalchemy import select
from sqlalchemy.orm import Session

from engine import clock
from engine.pages import InstanceQuery, Match, TaskQuery
from tasks import certificate, dates, notify, register, renewal
from tasks.models import AuditBureau, Registration

from .. import lists
from ..access import organisation_of, require_case, waits_for_renewal_audit
from ..auth import engine, roles_required
from ..i18n import translate
from . import bp, casework, story, wording

VIEWERS = ("dienstverlener", "lokale_beheerder")
PROVIDER_LANE = "Dienstverlener"


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
    today = dates.today(clock.now())
    return [
        {
            "number": r.number,
            "application_id": r.application_id,
            "service": casework.word(casework.SERVICES, r.service),
            "status": casework.word(casework.REGISTRATION_STATUS, r.status),
            "running": r.status in register.RUNNING,
            "valid_from": r.valid_from,
            "valid_until": r.valid_until,
            "current_period": register.periods(r, today).current,
            "next_period": register.periods(r, today).next,
        }
        for r in regs
    ]


SORTS = ("id", "key", "company", "status", "created", "updated", "due")
ORDERS = {"company": f"field:{lists.COMPANY}"}  # the engine's names of the sorts that differ
APPLICATION = "registration"  # the process of an application (bpmn/registration.bpmn)
OWN_TASKS = 50  # the provider's open tasks listed at most (the soonest due first)

bp.record_once(lists.init_app)


@bp.get("/")
@roles_required(*VIEWERS)
def index() -> Any:
    eng = engine()
    paging = lists.Paging.from_args(request.args, SORTS, "id", descending=True)
    with eng.transaction() as db:
        org = organisation_of(db, g.person)
        # the organisation's cases, found by their search field (none without an enterprise number)
        scope = (
            (Match(attributes={"enterprise_number": org.enterprise_number}),) if org.enterprise_number else ()
        )
        # applications only: complaints are listed on their own page (/klachten/)
        query = InstanceQuery(process_key=APPLICATION, match=lists.understand(db, paging.text), scope=scope)
        page = eng.instance_page(
            db, query, paging.order(ORDERS.get(paging.sort)), paging.offset, lists.PAGE_SIZE
        )
        details = [eng.show(db, row.case.id) for row in page.rows]  # the page's cases only
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
                "due_at": row.due_at,
                "overdue": row.due_at is not None and row.due_at < clock.now(),
            }
            for d, row in zip(details, page.rows, strict=True)
        ]
        tasks = eng.task_page(db, TaskQuery(lane=PROVIDER_LANE, scope=scope), limit=OWN_TASKS).rows
        regs = _registration_rows(registrations_of(db, org.enterprise_number))
        org_name = org.name
    return render_template(
        "provider/index.html",
        cases=cases,
        paging=paging,
        pager=lists.pager(page.offset, len(page.rows), page.total),
        tasks=[row.task for row in tasks],
        registrations=regs,
        org_name=org_name,
        may_apply="dienstverlener" in g.roles,
        renewable=renewable if "dienstverlener" in g.roles else {},
    )


# What the provider's case page leaves out: the agency's internal working data.
PROVIDER_HIDDEN = {"eligibility", "audit_summary", "decision", "declaration_accepted"}


def _for_provider(detail: dict[str, Any]) -> dict[str, Any]:
    """A history entry's detail without technical errors and the agency's internal working data."""
    kept = {k: v for k, v in detail.items() if k != "error"}
    for key in ("data", "changed"):
        if isinstance(kept.get(key), dict):
            kept[key] = {k: v for k, v in kept[key].items() if k not in PROVIDER_HIDDEN}
    return kept


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
        chosen = db.get(AuditBureau, str(detail.data.get("audit_bureau") or ""))
        bureaus = {chosen.code: chosen.name} if chosen is not None else {}
        people = story.people_names(db, [h.actor for h in detail.history])
        mails = notify.on_case(db, detail.business_key) if detail.business_key else []
    history = [(h, _for_provider(h.detail)) for h in detail.history]
    return render_template(
        "provider/case.html",
        detail=detail,
        phase=casework.phase(detail),
        status=casework.word(casework.CASE_STATUS, detail.status),
        refusal=detail.data.get("refusal_reason") if detail.status == "completed" else None,
        shown=wording.case_data(detail.data, bureaus, hide=PROVIDER_HIDDEN, known_only=True),
        aspects=wording.aspects(),
        lines=story.lines(history, detail.element_names, people, bureaus, staff=False),
        mails=mails,
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
        # rendered as it stands today (status, periods), not the copy kept when it was issued
        pdf, filename = certificate.current(reg, clock.now(), request.host_url), f"attest-{reg.number}.pdf"
    return Response(
        pdf,
        mimetype="application/pdf",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
