"""Routes of the cases pages; every case is fetched through ``web.access.require_case``."""

from __future__ import annotations

import json
from typing import Any

from flask import Blueprint, Response, abort, flash, g, redirect, render_template, request, url_for

from engine import clock
from engine.errors import Conflict
from engine.views import InstanceDetail
from web.access import STAFF, require_case
from web.auth import engine, login_required, roles_required
from web.i18n import translate

from . import listing, privacy
from .texts import EVENT_NL, INCIDENT_NL, KIND_NL, STATUS_NL

bp = Blueprint("cases", __name__, template_folder="templates")


@bp.app_template_filter("case_status")
def case_status(status: str) -> str:
    return translate(STATUS_NL.get(status, status))


@bp.app_template_filter("case_event")
def case_event(event: str) -> str:
    return translate(EVENT_NL.get(event, event))


@bp.get("/")
@roles_required(*STAFF)
def index() -> Any:
    filters = listing.Filters.from_args(request.args)
    with engine().transaction() as db:
        found = listing.list_cases(db, engine(), filters, clock.now())
    return render_template("cases/list.html", filters=filters, listing=found, statuses=listing.STATUSES)


@bp.get("/<int:instance_id>")
@login_required
def show(instance_id: int) -> Any:
    with engine().transaction() as db:
        detail = require_case(db, engine(), g.person, g.roles, instance_id)
        personal = privacy.shows_personal_data(db, g.person, g.roles, detail.data)
    staff = bool(g.roles & STAFF)
    hidden = privacy.hidden_fields(personal, staff)
    mask = translate("afgeschermd")
    return render_template(
        "cases/show.html",
        case=detail,
        staff=staff,
        personal=personal,
        data=privacy.redact(detail.data, hidden, mask),
        history=[(h, privacy.redact(h.detail, hidden, mask)) for h in detail.history],
        incident_elements=_open_incident_elements(detail),
        now=clock.now(),
        kinds=KIND_NL,
        incident_states=INCIDENT_NL,
    )


@bp.get("/<int:instance_id>/diagram.bpmn")
@login_required
def diagram(instance_id: int) -> Any:
    with engine().transaction() as db:
        require_case(db, engine(), g.person, g.roles, instance_id)
        xml = engine().diagram(db, instance_id)
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


def _open_incident_elements(detail: InstanceDetail) -> list[str]:
    return sorted({i.element_id for i in detail.incidents if i.status == "open"})
