"""The agency's inbox (filters, claim, release) and a task's form beside its case."""

from __future__ import annotations

from typing import Any

from flask import abort, flash, g, redirect, render_template, request, url_for

from engine import clock
from engine.errors import Claimed, Conflict, Forbidden, NotFound
from engine.pages import TaskQuery
from tasks.models import AuditBureau

from .. import formrender, lists
from ..access import require_case
from ..auth import engine, roles_required
from ..i18n import translate
from ..provider import casework, story, wording
from . import bp

STAFF = ("vlaio", "beheerder")
AGENCY_LANE = "VLAIO (agentschap)"
ALL = "alle"
SORTS = ("due", "key", "company", "name", "lane", "process", "created", "claimed_by")
# the engine's names of the sorts that differ
ORDERS = {"company": f"field:{lists.COMPANY}"}

bp.record_once(lists.init_app)


@bp.get("/")
@roles_required(*STAFF)
def inbox() -> Any:
    lane = request.args.get("lane", AGENCY_LANE)
    process = request.args.get("process", "")
    name = request.args.get("name", "")
    overdue = request.args.get("overdue") == "1"
    paging = lists.Paging.from_args(request.args, SORTS, "due")
    eng = engine()
    with eng.transaction() as db:
        now = clock.now()
        query = TaskQuery(
            lane=None if lane == ALL else lane,
            process_key=process or None,
            name=name or None,
            overdue_at=now if overdue else None,
            match=lists.understand(db, paging.text),
        )
        page = eng.task_page(db, query, paging.order(ORDERS.get(paging.sort)), paging.offset, lists.PAGE_SIZE)
        kinds = eng.user_tasks(db)
        processes = sorted({key for key, _ in eng.process_versions(db)})
        process_names = {p.process_key: p.name or p.process_key for p in eng.processes(db)}
    lanes = sorted({lane for lane, _ in kinds if lane} | {AGENCY_LANE})
    names = sorted({n for task_lane, n in kinds if lane == ALL or task_lane == lane} | ({name} - {""}))
    return render_template(
        "agency/inbox.html",
        rows=page.rows,
        pager=lists.pager(page.offset, len(page.rows), page.total),
        paging=paging,
        lanes=lanes,
        processes=processes,
        process_names=process_names,
        names=names,
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
        people = story.people_names(db, [h.actor for h in detail.history])
    history = story.lines(
        [(h, h.detail) for h in detail.history], detail.element_names, people, bureaus, True
    )
    schema = schema or {"type": "object", "properties": {}}
    ours = view.lane in (AGENCY_LANE, None)
    errors: dict[str, str] = {}
    values = formrender.initial(schema, {})
    status = 200
    if request.method == "POST":
        if not ours:
            abort(403)
        values, errors, done = casework.complete_form(eng, schema, request.form, view, g.person.username)
        if done:
            flash(translate("De taak is afgerond."))
            return redirect(url_for("agency.inbox"))
        status = 409 if view.claimed_by not in (None, g.person.username) else 400
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
        history=history,
        step=lambda element: story.step_name(detail.element_names, element),
    ), status
