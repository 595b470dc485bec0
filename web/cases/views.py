"""Routes of the cases pages; every case is fetched through ``web.access.require_case``."""

from __future__ import annotations

import json
from typing import Any

from flask import Blueprint, Response, abort, flash, g, redirect, render_template, request, url_for

from engine import clock
from engine.errors import Conflict
from engine.views import InstanceDetail
from tasks import notify
from tasks.models import AuditBureau
from web import catalog, lists
from web.access import STAFF, require_case
from web.auth import engine, login_required, roles_required
from web.i18n import current_language, translate
from web.provider import story, wording

from . import listing, privacy
from .texts import INCIDENT_NL, KIND_NL, STATUS_NL

bp = Blueprint("cases", __name__, template_folder="templates")
bp.record_once(lists.init_app)


@bp.app_template_filter("case_status")
def case_status(status: str) -> str:
    return translate(STATUS_NL.get(status, status))


@bp.get("/")
@roles_required(*STAFF)
def index() -> Any:
    filters = listing.Filters.from_args(request.args)
    paging = listing.paging_of(request.args)
    with engine().transaction() as db:
        found = listing.list_cases(db, engine(), filters, paging, clock.now())
    return render_template(
        "cases/list.html", filters=filters, paging=paging, listing=found, statuses=listing.STATUSES
    )


@bp.get("/<int:instance_id>")
@login_required
def show(instance_id: int) -> Any:
    """The case in words (overview) or, for staff, as the engine keeps it (``?tab=technisch``)."""
    staff = bool(g.roles & STAFF)
    technical = staff and request.args.get("tab") == "technisch"
    with engine().transaction() as db:
        detail = require_case(db, engine(), g.person, g.roles, instance_id)
        personal = privacy.shows_personal_data(db, g.person, g.roles, detail.data)
        bureau = db.get(AuditBureau, str(detail.data.get("audit_bureau") or ""))
        bureaus = {bureau.code: bureau.name} if bureau is not None else {}
        # who acted is personal data too: only for those who may see the case's personal data
        people = story.people_names(db, [h.actor for h in detail.history]) if personal else {}
        mails = notify.on_case(db, detail.business_key) if detail.business_key and personal else []
    hidden = privacy.hidden_fields(personal, staff)
    mask = translate("afgeschermd")
    data = privacy.redact(detail.data, hidden, mask)
    history = [(h, privacy.redact(h.detail, hidden, mask)) for h in detail.history]
    names = detail.element_names
    return render_template(
        "cases/show.html",
        case=detail,
        staff=staff,
        technical=technical,
        personal=personal,
        process_name=translate(detail.process_name or detail.process_key),
        company=data.get("company_name") if personal else None,
        refused=refusal_reason(detail),
        waiting_at=_waiting_at(detail),
        shown=wording.case_data(data, bureaus, known_only=True),
        aspects=wording.aspects(),
        data=data,
        history=history,
        lines=story.lines(history, names, people, bureaus, staff),
        step=lambda element: story.step_name(names, element),
        lane=lambda value: translate(value) if value else "",
        mails=mails,
        incident_elements=_open_incident_elements(detail),
        now=clock.now(),
        kinds=KIND_NL,
        incident_states=INCIDENT_NL,
    )


def refusal_reason(detail: InstanceDetail) -> str | None:
    """The reason a completed case was refused (declaration or decision), or None."""
    reason = detail.data.get("refusal_reason")
    return str(reason) if detail.status == "completed" and reason else None


@bp.get("/<int:instance_id>/diagram.bpmn")
@login_required
def diagram(instance_id: int) -> Any:
    with engine().transaction() as db:
        require_case(db, engine(), g.person, g.roles, instance_id)
        xml = engine().diagram(db, instance_id)
    if current_language() != "nl":
        xml = catalog.translate_diagram(xml, translate)  # lanes and steps in the reader's language
    response = Response(xml, mimetype="application/xml")
    response.headers["Cache-Control"] = "private, no-store"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


@bp.post("/<int:instance_id>/incidents/<int:incident_id>/retry")
@roles_required(*STAFF)
def retry(instance_id: int, incident_id: int) -> Any:
    with engine().transaction() as db:
        detail = require_case(db, engine(), g.person, g.roles, instance_id)
        if incident_id not in {i.id for i in detail.incidents}:
            abort(404)
    try:
        with engine().transaction() as db:
            engine().retry(db, incident_id, actor=g.person.username)
    except Conflict:
        flash(translate("Dit incident is al afgehandeld."))
    else:
        flash(translate("Het incident is opnieuw geprobeerd."))
    return redirect(url_for("cases.show", instance_id=instance_id))


@bp.app_template_filter("case_json")
def case_json(value: Any) -> str:
    """A value as compact, readable JSON (for data fields and history details)."""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)


@bp.app_template_filter("case_json_pretty")
def case_json_pretty(value: Any) -> str:
    """A value as indented JSON (the technical tab's process data)."""
    return json.dumps(value, ensure_ascii=False, sort_keys=True, indent=2, default=str)


def _waiting_at(detail: InstanceDetail) -> list[str]:
    """Where the case stands: the names of the steps it waits at (not its timers), in words."""
    timers = {t.element_id for t in detail.timers}
    steps = [e for e in detail.active_elements if e not in timers]
    return [story.step_name(detail.element_names, e) for e in steps]


def _open_incident_elements(detail: InstanceDetail) -> list[str]:
    return sorted({i.element_id for i in detail.incidents if i.status == "open"})
