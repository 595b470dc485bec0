"""The complaint pages: the list (each party its own), filing a complaint, one complaint, and its tasks.

Who acts on a task follows its lane: the provider (role ``dienstverlener``) of the complaint's company,
the auditors of the bureau the complaint is addressed to, and for the supervisory committee agency staff
with the role ``vlaio``. The escalation of a late answer is in the agency's own lane and inbox. Every
complaint is fetched through ``web.access.require_case`` (404 unknown, 403 not yours).
"""

from __future__ import annotations

from typing import Any

from flask import abort, flash, g, redirect, render_template, request, url_for
from sqlalchemy.orm import Session

from engine.errors import InvalidInput, NotFound
from engine.views import InstanceDetail, TaskView
from tasks import complaints
from tasks.validation import format_enterprise_number

from .. import formrender
from ..access import STAFF, organisation_of, require_case, visible_cases
from ..auth import engine, now, roles_required
from ..formrender import Field, Option
from ..i18n import translate
from ..provider import casework
from . import bp

PROVIDER_SIDE = {"dienstverlener", "lokale_beheerder"}
VIEWERS = (*sorted(PROVIDER_SIDE), "auditbureau", *sorted(STAFF))
COMMITTEE_LANE = "Toezichtscomité (VLAIO, Departement WSE, VDAB)"
AGENCY_LANE = "VLAIO (agentschap)"
# The role that acts in each lane of bpmn/complaint.bpmn (the agency lane is the agency inbox's).
LANE_ROLES = {"Dienstverlener": "dienstverlener", "Auditbureau": "auditbureau", COMMITTEE_LANE: "vlaio"}
FIXED = ("enterprise_number", "company_name")  # shown, not typed: they are the organisation's
CHOSEN = ("about_application", "audit_bureau")  # chosen together, as one audit


def acts_on(db: Session, detail: InstanceDetail, task: TaskView) -> bool:
    """True when the person logged in may complete this complaint task (``require_case`` passed)."""
    role = LANE_ROLES.get(task.lane or "")
    if role is None or role not in g.roles:
        return False
    org = organisation_of(db, g.person)
    if role == "dienstverlener":
        return bool(org.enterprise_number) and detail.data.get("enterprise_number") == org.enterprise_number
    if role == "auditbureau":
        return bool(org.audit_bureau_code) and detail.data.get("audit_bureau") == org.audit_bureau_code
    return True


@bp.get("/")
@roles_required(*VIEWERS)
def index() -> Any:
    eng = engine()
    with eng.transaction() as db:
        org = organisation_of(db, g.person)
        details = visible_cases(db, eng, g.person, g.roles, process_key=complaints.PROCESS)
        names = complaints.bureau_names(db)
        rows = [complaints.describe(d, names) for d in details]
        todo = [(t, d) for d in details for t in d.ready_tasks if acts_on(db, d, t)]
        may_file = "dienstverlener" in g.roles and bool(org.enterprise_number)
    if g.roles & STAFF:
        title = translate("Alle klachten")
    elif "auditbureau" in g.roles and org.audit_bureau_code:
        title = translate("Klachten aan %s") % org.name
    else:
        title = translate("Mijn klachten")
    return render_template(
        "complaints/index.html", title=title, rows=rows, todo=todo, may_file=may_file, org_name=org.name
    )


def _audit_field(audits: list[complaints.Audit]) -> Field:
    options = tuple(
        Option(
            f"{a.application_id}|{a.audit_bureau}",
            translate("%s, audit door %s") % (a.application_id, a.bureau_name),
        )
        for a in audits
    )
    return Field("audit", translate("Over welke audit?"), "select", required=True, options=options)


@bp.route("/nieuw", methods=["GET", "POST"])
@roles_required("dienstverlener")
def new() -> Any:
    eng = engine()
    with eng.transaction() as db:
        org = organisation_of(db, g.person)
        number, org_name = org.enterprise_number, org.name
        _, schema = eng.start_form(db, complaints.PROCESS)
        audits = complaints.audits_of(db, number) if number else []
    if not number or schema is None:
        abort(403)
    audit = _audit_field(audits)
    shown = [f for f in formrender.fields(schema, readonly=FIXED) if f.name not in CHOSEN]
    fields = [*shown[: len(FIXED)], audit, *shown[len(FIXED) :]]
    fixed = {"enterprise_number": format_enterprise_number(number), "company_name": org_name}
    errors: dict[str, str] = {}
    values: dict[str, Any] = formrender.initial(schema, {**fixed, "email": g.person.email})
    if request.method == "POST" and audits:
        chosen = str(request.form.get("audit", ""))
        about, _, bureau = chosen.partition("|")
        data = {**formrender.parse(schema, request.form), **fixed, "enterprise_number": number}
        data.update(about_application=about, audit_bureau=bureau)
        values = {**formrender.values(schema, request.form), **fixed, "audit": chosen}
        errors = formrender.check(schema, data)
        for name in CHOSEN:  # said of the one field that chooses both
            if name in errors:
                errors.setdefault("audit", f"{audit.label}: {translate('kies een van de mogelijkheden.')}")
                errors.pop(name)
        if not errors:
            actor, keys = g.person.username, []

            def start(db: Session) -> Any:
                keys.append(complaints.new_complaint_key(db, now()))
                return eng.start(db, complaints.PROCESS, data, business_key=keys[-1], actor=actor)

            started = casework.attempt(eng, start)
            if isinstance(started, InvalidInput):
                errors = formrender.messages(started, schema)
                if "about_application" in errors:
                    errors["audit"] = errors.pop("about_application")
            else:
                names = {a.audit_bureau: a.bureau_name for a in audits}
                flash(translate("Uw klacht %s is ingediend bij %s.") % (keys[-1], names.get(bureau, bureau)))
                return redirect(url_for("complaints.show", instance_id=started.id))
    return render_template(
        "complaints/new.html", schema=schema, fields=fields, values=values, errors=errors, audits=audits
    ), (400 if errors else 200)


def _moments(detail: InstanceDetail) -> dict[str, Any]:
    """When the bureau answered and the committee decided (from the case's history)."""
    done = {h.element_id: h.at for h in detail.history if h.event == "user_task_completed" and h.element_id}
    due = {t.element_id: t for t in detail.ready_tasks}
    return {
        "answered_at": done.get("answer_complaint"),
        "appealed_at": done.get("consider_appeal"),
        "decided_at": done.get("decide_appeal"),
        "answer_task": due.get("answer_complaint"),
        "appeal_task": due.get("consider_appeal"),
        "decision_task": due.get("decide_appeal"),
        "escalation_task": due.get("follow_up_late_answer"),
        "escalated": "follow_up_late_answer" in detail.completed_elements,
    }


@bp.get("/<int:instance_id>")
@roles_required(*VIEWERS)
def show(instance_id: int) -> Any:
    eng = engine()
    with eng.transaction() as db:
        detail = require_case(db, eng, g.person, g.roles, instance_id)
        if detail.process_key != complaints.PROCESS:
            abort(404)
        complaint = complaints.describe(detail, complaints.bureau_names(db))
        provider_address = detail.data.get("email")
        mails = [
            {
                "at": m.created_at,
                "subject": m.subject,
                "to": translate("Dienstverlener")
                if m.to_address == provider_address
                else translate("Auditbureau"),
            }
            for m in complaints.mails_of(db, complaint.key)
        ]
        todo = [t for t in detail.ready_tasks if acts_on(db, detail, t)]
    return render_template(
        "complaints/show.html",
        detail=detail,
        data=complaints.facts(detail),
        complaint=complaint,
        mails=mails,
        todo=todo,
        moments=_moments(detail),
        staff=bool(g.roles & STAFF),
    )


@bp.route("/<int:instance_id>/taken/<task_id>", methods=["GET", "POST"])
@roles_required(*VIEWERS)
def task(instance_id: int, task_id: str) -> Any:
    eng = engine()
    with eng.transaction() as db:
        try:
            view = eng.task(db, task_id)
        except NotFound:
            abort(404)
        if view.instance_id != instance_id:
            abort(404)
        detail = require_case(db, eng, g.person, g.roles, instance_id)
        if not acts_on(db, detail, view):
            abort(403)
        _, schema = eng.task_form(db, task_id)
        complaint = complaints.describe(detail, complaints.bureau_names(db))
    if view.status != "ready":
        flash(translate("Deze taak is al afgerond of niet meer open."))
        return redirect(url_for("complaints.show", instance_id=instance_id))
    schema = schema or {"type": "object", "properties": {}}
    errors: dict[str, str] = {}
    values = formrender.initial(schema, {})
    if request.method == "POST":
        values, errors, done = casework.complete_form(eng, schema, request.form, view, g.person.username)
        if done:
            flash(translate("De taak is afgerond."))
            return redirect(url_for("complaints.show", instance_id=instance_id))
    return render_template(
        "complaints/task.html",
        view=view,
        detail=detail,
        data=complaints.facts(detail),
        complaint=complaint,
        schema=schema,
        fields=formrender.fields(schema),
        values=values,
        errors=errors,
    ), (400 if errors else 200)
