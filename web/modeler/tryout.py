"""Try a draft before deploying it (``/modeler/<key>/try``, role ``analist``): a scratch database with its
own simulated clock (``engine.tryout``). Fill the start form, complete tasks, send messages and jump the
clock; the page shows the path taken on the diagram and the data after each step. Every action is a plain
form POST followed by a redirect; a refused one shows the page again with the reason beside its form."""

from __future__ import annotations

import json
from datetime import date, datetime
from pathlib import Path
from typing import Any

from flask import Response, abort, current_app, flash, g, redirect, render_template, request, url_for

from engine import drafts
from engine.errors import DeploymentError, KmopError, NotFound
from engine.models import ModelDraft
from engine.tryout import BadDuration, Tryout, TryoutState, discard, draft_sources

from .. import formrender
from ..auth import engine, roles_required
from ..i18n import BRUSSELS, N_, long_date, translate
from . import bp
from .views import process_name

ROOT_SETTING = "KMOP_TRYOUT_DIR"  # app.config: where try-outs are kept (default: instance/tryouts)
DEFAULT_DURATION = "P4W"
DEFAULT_BUSINESS_KEY = "PROEF-1"
BUSINESS_KEY_FIELD = "tryout_business_key"
DURATION_TEXTS = {
    "format": N_(
        "'%s' is geen geldige duur. Schrijf een ISO 8601-duur, bijvoorbeeld P4W (4 weken), "
        "P3D (3 dagen), P1M (1 maand) of PT2H (2 uur)."
    ),
    "zero": N_("'%s' is geen duur: zet de klok minstens een seconde vooruit, bijvoorbeeld P4W."),
    "too_long": N_("'%s' is te lang: zet de klok hoogstens 20 jaar tegelijk vooruit."),
}


def _root() -> Path:
    configured = current_app.config.get(ROOT_SETTING)
    return Path(configured) if configured else Path(current_app.instance_path) / "tryouts"


def _current(key: str) -> Tryout | None:
    found = Tryout.find(g.person.username, key, _root())
    if found is None:
        return None
    try:
        return Tryout.open(found, engine(), _root())
    except NotFound:
        return None


def _required(key: str) -> Tryout:
    current = _current(key)
    if current is None:
        flash(translate("Er loopt geen proef meer van dit proces; begin een nieuwe."))
        abort(redirect(url_for("modeler.tryout", key=key)))
    return current


# -------------------------------------------------------------------------------------------- pages


@bp.get("/<key>/try")
@roles_required("analist")
def tryout(key: str) -> Any:
    """The current try-out of the draft of ``key``, or the button that starts one."""
    return _page(key)


def _page(key: str, errors: dict[str, Any] | None = None, values: dict[str, Any] | None = None) -> Any:
    eng = engine()
    with eng.transaction(write=False) as db:
        pv = drafts.latest(db, key)  # NotFound (404) for a process that was never deployed
        has_draft = db.get(ModelDraft, key) is not None
    errors, values = errors or {}, values or {}
    current = _current(key)
    state = None
    if current is not None:
        with current:
            state = current.state()
    return render_template(
        "modeler/tryout.html",
        key=key,
        process_name=process_name(pv.name, key),
        has_draft=has_draft,
        state=state,
        view=_view(state, values, errors) if state is not None else None,
        errors=errors,
        values=values,
        default_duration=DEFAULT_DURATION,
        moment=moment_text,
        worded=worded,
    ), (400 if errors else 200)


def _view(state: TryoutState, values: dict[str, Any], errors: dict[str, Any]) -> dict[str, Any]:
    """What the template shows, worded: start form, task forms, steps."""
    start_name, start_schema = state.start_form
    start_schema = start_schema or {"type": "object", "properties": {}}
    tasks = []
    for task in state.tasks:
        schema = task.schema or {"type": "object", "properties": {}}
        tasks.append(
            {
                "task": task,
                "fields": formrender.fields(schema),
                "shown": values.get(f"task:{task.id}") or formrender.initial(schema, {}),
                "problems": errors.get(f"task:{task.id}") or {},
            }
        )
    awaited = sorted({m.name for m in state.messages})
    return {
        "start_fields": formrender.fields(start_schema),
        "start_form": start_name,
        "start_values": values.get("start") or formrender.initial(start_schema, {}),
        "start_errors": errors.get("start") or {},
        "tasks": tasks,
        "awaited": awaited,
        "steps": [_step_view(step, previous) for step, previous in _pairs(state)],
        "done": sorted(set(state.completed) | set(state.path)),
        "active": [w.element_id for w in state.waiting],
        "incident_elements": [i.element_id for i in state.incidents],
    }


def _pairs(state: TryoutState) -> list[tuple[Any, dict[str, Any]]]:
    pairs: list[tuple[Any, dict[str, Any]]] = []
    previous: dict[str, Any] = {}
    for step in state.steps:
        pairs.append((step, previous))
        previous = step.data
    return pairs


EVENT_WORDS = {
    "started": N_("gestart"),
    "task_completed": N_("afgerond"),
    "user_task_completed": N_("taak afgerond"),
    "timer_fired": N_("timer afgegaan"),
    "message_received": N_("bericht ontvangen"),
    "message_sent": N_("bericht verstuurd"),
    "service_failed": N_("dienst mislukt"),
    "task_failed": N_("stap mislukt"),
    "incident_opened": N_("incident geopend"),
    "retried": N_("opnieuw geprobeerd"),
}


KEY_WORD = N_("sleutel")  # "(sleutel APP-1)" after a start or a message


def _step_view(step: Any, previous: dict[str, Any]) -> dict[str, Any]:
    detail = step.detail
    if step.kind == "start":
        what = translate("Gestart met het startformulier")
        if detail.get("business_key"):
            what += f" ({translate(KEY_WORD)} {detail['business_key']})"
    elif step.kind == "complete":
        what = translate("Taak '%s' afgerond") % translate(detail.get("task", ""))
    elif step.kind == "message":
        what = translate("Bericht '%s' verstuurd") % detail.get("name", "")
        if detail.get("key"):
            what += f" ({translate(KEY_WORD)} {detail['key']})"
    else:
        what = translate("Klok %(duration)s vooruitgezet, tot %(to)s") % {
            "duration": detail.get("duration", ""),
            "to": moment_text(detail.get("to")),
        }
    events = [
        {
            "name": translate(e.get("name") or e.get("element_id") or ""),
            "what": translate(EVENT_WORDS[e["event"]]),
        }
        for e in step.events
        if e.get("event") in EVENT_WORDS and e.get("event") != "started"
    ]
    changed = {k: v for k, v in step.data.items() if previous.get(k, _NOTHING) != v}
    return {
        "kind": step.kind,
        "what": what,
        "at": step.at,
        "events": events,
        "changed": changed,
        "data": step.data,
        "raw": json.dumps(step.data, indent=2, ensure_ascii=False, sort_keys=True, default=str),
    }


_NOTHING = object()


# ------------------------------------------------------------------------------------------ actions


@bp.post("/<key>/try")
@roles_required("analist")
def tryout_create(key: str) -> Any:
    """Start a new try-out of the draft (or of the latest version), replacing this analyst's previous one."""
    eng = engine()
    try:
        with eng.transaction(write=False) as db:
            drafts.latest(db, key)
            sources = draft_sources(db, key)
            Tryout.create(eng, db, key, sources, owner=g.person.username, root=_root())
    except DeploymentError as exc:
        return _page(key, errors={"create": [str(p) for p in exc.problems]})
    flash(translate("Een nieuwe proef staat klaar, met een eigen gesimuleerde klok."))
    return redirect(url_for("modeler.tryout", key=key))


@bp.post("/<key>/try/start")
@roles_required("analist")
def tryout_start(key: str) -> Any:
    with _required(key) as current:
        schema = current.state().start_form[1] or {"type": "object", "properties": {}}
        data = formrender.parse(schema, request.form)
        values = formrender.values(schema, request.form)
        business_key = request.form.get(BUSINESS_KEY_FIELD, "").strip()
        values[BUSINESS_KEY_FIELD] = business_key
        errors = formrender.check(schema, data)
        if not errors:
            try:
                current.start(data, business_key or None, actor=g.person.username)
            except KmopError as exc:
                errors = formrender.messages(exc, schema)
    if errors:
        return _page(key, errors={"start": errors}, values={"start": values})
    return redirect(url_for("modeler.tryout", key=key) + "#try-tasks")


@bp.post("/<key>/try/tasks/<task_id>")
@roles_required("analist")
def tryout_complete(key: str, task_id: str) -> Any:
    with _required(key) as current:
        task = next((t for t in current.state().tasks if t.id == task_id), None)
        if task is None:
            flash(translate("Deze taak is al afgerond of niet meer open."))
            return redirect(url_for("modeler.tryout", key=key))
        schema = task.schema or {"type": "object", "properties": {}}
        data = formrender.parse(schema, request.form)
        values = formrender.values(schema, request.form)
        errors = formrender.check(schema, data)
        if not errors:
            try:
                current.complete(task_id, data, actor=g.person.username)
            except KmopError as exc:
                errors = formrender.messages(exc, schema)
    if errors:
        return _page(key, errors={f"task:{task_id}": errors}, values={f"task:{task_id}": values})
    return redirect(url_for("modeler.tryout", key=key) + "#try-steps")


@bp.post("/<key>/try/message")
@roles_required("analist")
def tryout_message(key: str) -> Any:
    name = request.form.get("name", "").strip()
    correlation = request.form.get("key", "").strip()
    raw = request.form.get("payload", "").strip() or "{}"
    values = {"message": {"name": name, "key": correlation, "payload": raw}}
    try:
        payload = json.loads(raw)
    except ValueError as exc:
        text = translate("De inhoud is geen geldige JSON: %s") % exc
        return _page(key, errors={"message": text}, values=values)
    if not isinstance(payload, dict):
        return _page(
            key, errors={"message": translate("De inhoud moet een JSON-object zijn: {...}")}, values=values
        )
    if not name:
        return _page(key, errors={"message": translate("Kies het bericht dat u wilt sturen.")}, values=values)
    with _required(key) as current:
        try:
            status = current.message(name, correlation or None, payload, actor=g.person.username)
        except KmopError as exc:
            words = formrender.messages(exc)
            return _page(key, errors={"message": "; ".join(words.values())}, values=values)
    if status == "buffered":
        flash(translate("Niemand wacht nu op dit bericht: het wordt bewaard tot een stap erop wacht."))
    return redirect(url_for("modeler.tryout", key=key) + "#try-steps")


@bp.post("/<key>/try/advance")
@roles_required("analist")
def tryout_advance(key: str) -> Any:
    duration = request.form.get("duration", "")
    with _required(key) as current:
        try:
            current.advance(duration)
        except BadDuration as exc:
            text = translate(DURATION_TEXTS[exc.reason]) % duration.strip()
            return _page(key, errors={"advance": text}, values={"duration": duration})
    return redirect(url_for("modeler.tryout", key=key) + "#try-steps")


@bp.post("/<key>/try/discard")
@roles_required("analist")
def tryout_discard(key: str) -> Any:
    found = Tryout.find(g.person.username, key, _root())
    if found is not None:
        discard(found, _root())
        flash(translate("De proef is verwijderd."))
    return redirect(url_for("modeler.tryout", key=key))


@bp.get("/<key>/try/diagram.xml")
@roles_required("analist")
def tryout_diagram(key: str) -> Any:
    current = _current(key)
    if current is None:
        abort(404)
    with current:
        xml = current.diagram()
    return Response(xml, mimetype="application/xml")


# ------------------------------------------------------------------------------------------- words


def moment_text(value: datetime | str | None) -> str:
    """A moment as people say it: ``5 december 2026 om 03:00`` (Brussels time)."""
    if value is None or value == "":
        return "-"
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    local = value.astimezone(BRUSSELS)
    return translate("%(date)s om %(time)s") % {"date": long_date(local), "time": local.strftime("%H:%M")}


def worded(value: Any) -> str:
    """A data value for people: dates in words, yes/no, lists joined; nested objects as JSON."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return translate("ja") if value else translate("nee")
    if isinstance(value, str):
        return _date_words(value) or value
    if isinstance(value, list) and all(not isinstance(v, dict | list) for v in value):
        return ", ".join(worded(v) for v in value) or "-"
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, default=str)
    return str(value)


def _date_words(text: str) -> str | None:
    if len(text) == 10 and text[4] == "-" and text[7] == "-":
        try:
            return long_date(date.fromisoformat(text))
        except ValueError:
            return None
    if len(text) >= 19 and text[10] == "T":
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            return None
        return moment_text(moment) if moment.tzinfo else long_date(moment)
    return None
