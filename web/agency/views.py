"""The agency's inbox (filters, claim, release) and a task's form beside its case."""

from __future__ import annotations

from typing import Any

from flask import abort, flash, g, redirect, render_template, request, url_for

from engine.errors import Claimed, Conflict, Forbidden, InvalidInput, NotFound
from engine.views import TaskView
from tasks.models import AuditBureau

from .. import formrender
from ..access import require_case
from ..auth import engine, roles_required
from ..i18n import translate
from ..provider import casework, wording
from . import bp

STAFF = ("vlaio", "beheerder")
AGENCY_LANE = "VLAIO (agentschap)"
ALL = "alle"


def _filtered(tasks: list[TaskView], process: str, name: str, overdue: bool) -> list[TaskView]:
    return [
        t
        for t in tasks
        if (not process or t.process_key == process)
        and (not name or t.name == name)
        and (not overdue or t.overdue)
    ]


@bp.get("/")
@roles_required(*STAFF)
def inbox() -> Any:
    lane = request.args.get("lane", AGENCY_LANE)
    process = request.args.get("process", "")
    name = request.args.get("name", "")
    overdue = request.args.get("overdue") == "1"
    with engine().transaction() as db:
        every = engine().tasks(db)
    lanes = sorted({t.lane for t in every if t.lane} | {AGENCY_LANE})
    in_lane = [t for t in every if lane == ALL or t.lane == lane]
    tasks = _filtered(in_lane, process, name, overdue)
    tasks.sort(key=lambda t: (not t.overdue, t.due_at is None, t.due_at or t.created_at, t.created_at))
    return render_template(
        "agency/inbox.html",
        tasks=tasks,
        lanes=lanes,
        processes=sorted({t.process_key for t in every}),
        names=sorted({t.name for t in in_lane}),
        chosen={"lane": lane, "process": process, "name": name, "overdue": overdue},
        me=g.person.username,
    )


def _back() -> Any:
    target = request.form.get("next") or ""
    if target.startswith("/") and not target.startswith("//"):
        return redirect(target)
    return redirect(url_for("agency.inbox"))


@bp.post("/taken/<task_id>/opnemen")
@roles_required(*STAFF)
def claim(task_id: str) -> Any:
    try:
        with engine().transaction() as db:
            engine().claim(db, task_id, g.person.username)
    except NotFound:
        abort(404)
    except Conflict as exc:
        flash(_conflict_text(exc))
        return _back()
    flash(translate("U hebt de taak opgenomen."))
    return _back()


@bp.post("/taken/<task_id>/vrijgeven")
@roles_required(*STAFF)
def release(task_id: str) -> Any:
    try:
        with engine().transaction() as db:
            # only the one who claimed it (or an operator) gives it back: the engine checks
            engine().release(db, task_id, g.person.username, force="beheerder" in g.roles)
    except NotFound:
        abort(404)
    except Forbidden:
        abort(403)
    except Conflict as exc:
        flash(_conflict_text(exc))
        return _back()
    flash(translate("De taak is vrijgegeven."))
    return _back()


def _conflict_text(exc: Conflict) -> str:
    if isinstance(exc, Claimed):
        return translate("Deze taak is opgenomen door %s.") % exc.claimed_by
    return translate("Deze taak is al afgerond of niet meer open.")


@bp.route("/taken/<task_id>", methods=["GET", "POST"])
@roles_required(*STAFF)
def task(task_id: str) -> Any:
    eng = engine()
    with eng.transaction() as db:
        try:
            view = eng.task(db, task_id)
        except NotFound:
            abort(404)
        detail = require_case(db, eng, g.person, g.roles, view.instance_id)
        _, schema = eng.task_form(db, task_id)
        bureau = db.get(AuditBureau, str(detail.data.get("audit_bureau") or ""))
        bureaus = {bureau.code: bureau.name} if bureau is not None else {}
    schema = schema or {"type": "object", "properties": {}}
    ours = view.lane in (AGENCY_LANE, None)
    errors: dict[str, str] = {}
    values = formrender.initial(schema, {})
    status = 200
    if request.method == "POST":
        if not ours:
            abort(403)
        values = formrender.values(schema, request.form)
        data = formrender.parse(schema, request.form)
        errors = formrender.check(schema, data)
        if view.claimed_by not in (None, g.person.username):
            errors[""] = translate("Deze taak is opgenomen door %s.") % view.claimed_by
            status = 409
        if not errors:
            actor = g.person.username
            done = casework.attempt(eng, lambda db: eng.complete(db, task_id, data, actor=actor))
            if isinstance(done, InvalidInput):
                errors = formrender.messages(done, schema)
            else:
                flash(translate("De taak is afgerond."))
                return redirect(url_for("agency.inbox"))
        status = status if status != 200 else 400
    return render_template(
        "agency/task.html",
        view=view,
        detail=detail,
        phase=casework.phase(detail),
        status=casework.word(casework.CASE_STATUS, detail.status),
        data=wording.case_data(detail.data, bureaus, hide=set(schema.get("properties", {}))),
        aspects=wording.aspects(),
        schema=schema,
        fields=formrender.fields(schema),
        values=values,
        errors=errors,
        ours=ours and view.status == "ready",
        me=g.person.username,
    ), status
