"""Routes of the monitor. Reading is for agency staff and operators (``STAFF``); so is retrying incidents
and resending e-mails, as on a case's own page. Every action answers with a redirect back to the same view
of the dashboard and a message saying what happened."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from flask import Response, abort, flash, g, redirect, render_template, request, url_for

from engine import clock
from engine.errors import Conflict, KmopError, NotFound
from engine.models import is_id
from engine.monitor import Scope
from tasks import monitoring, notify
from web import catalog
from web.access import STAFF
from web.auth import engine, roles_required
from web.i18n import current_language, translate

from . import bp, dashboard

RETRY_LIMIT = 1000  # incidents retried by one click on a group (each in its own transaction)


@bp.app_template_filter("duration")
def duration(seconds: float | None) -> str:
    return dashboard.duration(seconds)


@bp.app_template_filter("month_name")
def month_name(start: Any) -> str:
    """``december 2026`` for the month that starts at ``start`` (midnight in Brussels)."""
    from babel.dates import format_date

    from web.i18n import BRUSSELS

    return format_date(start.astimezone(BRUSSELS).date(), "LLLL yyyy", locale=current_language())


def _scope(args: Any, keys: list[str]) -> Scope:
    """The process and version asked for. ``registration`` by default and for a process that is not
    deployed; ``process=`` (empty) for all processes. A version that is not a number counts as all
    versions; a number that is no version of the process is a 404 (``index``)."""
    default = monitoring.PROCESS if monitoring.PROCESS in keys else (keys[0] if keys else None)
    wanted = args.get("process")
    key = None if wanted == "" else (wanted if wanted in keys else default)
    version = (args.get("version") or "").strip()
    number = int(version) if key and version.isdecimal() and len(version) < 12 else None
    return Scope(key, number)


def _choice(args: Any, name: str, allowed: Any, default: Any) -> Any:
    value = args.get(name, "")
    for option in allowed:
        if str(option) == value:
            return option
    return default


@bp.get("/")
@roles_required(*STAFF)
def index() -> Any:
    with engine().transaction() as db:
        keys = sorted({key for key, _ in engine().process_versions(db)})
        scope = _scope(request.args, keys)
        period = _choice(request.args, "period", dashboard.PERIODS, 90)
        unit = _choice(request.args, "unit", dashboard.UNITS, "month")
        board = dashboard.gather(db, engine(), scope, clock.now(), period, unit)
    if scope.process_key and scope.version is not None and scope.version not in board.versions:
        abort(404)
    template = "monitor/_figures.html" if request.args.get("partial") == "1" else "monitor/index.html"
    data = dashboard.client_data(board)
    response = Response(render_template(template, board=board, back_to=_here(), data=data))
    response.headers["Cache-Control"] = "private, no-store"
    return response


@bp.get("/trends")
@roles_required(*STAFF)
def trends() -> Any:
    """The slower panels (time to decision, the chart): loaded by the page after its own figures, or as a
    page of their own without JavaScript."""
    with engine().transaction() as db:
        keys = sorted({key for key, _ in engine().process_versions(db)})
        scope = _scope(request.args, keys)
        unit = _choice(request.args, "unit", dashboard.UNITS, "month")
        if not dashboard.shows_registration(scope):
            abort(404)
        shown = dashboard.trends(db, scope, clock.now(), unit)
    partial = request.args.get("partial") == "1"
    page = render_template("monitor/_trends.html" if partial else "monitor/trends.html", trends=shown)
    response = Response(page)
    response.headers["Cache-Control"] = "private, no-store"
    return response


@bp.get("/diagram/<key>.bpmn")
@roles_required(*STAFF)
def diagram(key: str) -> Any:
    """The BPMN XML of a process at a version (its latest by default), in the reader's language."""
    with engine().transaction() as db:
        versions = sorted(v for k, v in engine().process_versions(db) if k == key)
        if not versions:
            abort(404)
        raw = request.args.get("version", "")
        version = int(raw) if raw.isdecimal() and len(raw) < 12 and is_id(int(raw)) else versions[-1]
        if version not in versions:
            abort(404)
        _name, xml = engine().version_diagram(db, key, version)
    if current_language() != "nl":
        xml = catalog.translate_diagram(xml, translate)
    response = Response(xml, mimetype="application/xml")
    response.headers["Cache-Control"] = "private, no-store"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


def _here() -> str:
    """This view of the dashboard (its filters), to come back to after an action."""
    kept = {
        k: v
        for k, v in request.args.items()
        if k in ("process", "version", "period", "unit") and len(v) < 200
    }
    return url_for("monitor.index") + (f"?{urlencode(kept)}" if kept else "")


def _back() -> Any:
    back = request.form.get("back", "")
    if not back.startswith(url_for("monitor.index")) or "//" in back or "\\" in back:
        back = url_for("monitor.index")
    return redirect(back)


@bp.post("/incidents/<int:incident_id>/retry")
@roles_required(*STAFF)
def retry(incident_id: int) -> Any:
    try:
        with engine().transaction() as db:
            engine().retry(db, incident_id, actor=g.person.username)
    except NotFound:
        abort(404)
    except Conflict:
        flash(translate("Dit incident is al afgehandeld."))
    else:
        flash(translate("Het incident is opnieuw geprobeerd."))
    return _back()


@bp.post("/incidents/retry-group")
@roles_required(*STAFF)
def retry_group() -> Any:
    """Retry every open incident of one group (process, element, error; of one version when the dashboard
    showed one), each in its own transaction."""
    key, element, error = (request.form.get(name, "").strip() for name in ("process", "element", "error"))
    if not (key and element and error):
        flash(translate("Kies een groep incidenten om opnieuw te proberen."), "error")
        return _back()
    version = request.form.get("version", "").strip()
    scope = Scope(key, int(version) if version.isdecimal() and len(version) < 12 else None)
    with engine().transaction() as db:
        groups = engine().incident_groups(db, scope)
    found = next((gr for gr in groups if gr.element_id == element and gr.error_type == error), None)
    if found is None:
        flash(translate("Deze groep heeft geen open incidenten meer."))
        return _back()
    retried = failed = 0
    for incident_id, _instance in found.incidents[:RETRY_LIMIT]:
        try:
            with engine().transaction() as db:
                engine().retry(db, incident_id, actor=g.person.username)
            retried += 1
        except KmopError:  # handled meanwhile, or the instance is busy: it stays in the list
            failed += 1
    message = translate("Opnieuw geprobeerd: %(retried)s.") % {"retried": retried}
    if failed:
        busy = translate("Niet opnieuw geprobeerd (intussen afgehandeld of bezet): %(failed)s.")
        message += " " + busy % {"failed": failed}
    flash(message)
    return _back()


@bp.post("/mails/<int:message_id>/resend")
@roles_required(*STAFF)
def resend(message_id: int) -> Any:
    try:
        with engine().transaction() as db:
            sent = notify.resend(db, message_id, clock.now())
    except LookupError:
        abort(404)
    except RuntimeError:
        flash(translate("Er is geen mailserver ingesteld: de e-mail blijft bewaard."), "error")
        return _back()
    if sent:
        flash(translate("De e-mail is verstuurd."))
    else:
        flash(translate("De e-mail kon opnieuw niet verstuurd worden; de fout staat erbij."), "error")
    return _back()
