"""The workbench pages: the list of process models, a process's page (versions, draft, trail, running
cases), the editor and the JSON it talks to (draft, validation, operators, forms, timers, form preview),
deploying and discarding a draft, downloading a version and the visual diff of two versions."""

from __future__ import annotations

import io
import json
import zipfile
from typing import Any

from flask import Response, flash, g, jsonify, redirect, render_template, request, url_for
from flask_babel import force_locale

from engine import clock
from engine.errors import DeploymentError, InvalidInput, NotFound

from .. import formrender
from ..auth import engine, roles_required
from ..i18n import LANGUAGES, N_, long_datetime, translate
from . import bp

KIND_OF_FILE = {".bpmn": "bpmn", ".xml": "bpmn", ".dmn": "dmn", ".json": "form"}
ACTION_WORDS = {
    "deploy": N_("Gepubliceerd"),
    "migrate": N_("Dossiers gemigreerd"),
    "discard": N_("Ontwerp weggegooid"),
}
CHANGE_WORDS = {
    "name": N_("naam"),
    "timer.duration": N_("timer (duur)"),
    "timer.date": N_("timer (datum)"),
    "timer.cycle": N_("timer (herhaling)"),
    "condition": N_("voorwaarde"),
    "script": N_("script"),
    "operator": N_("operator"),
    "calledDecisionId": N_("beslissingstabel"),
    "calledElement": N_("opgeroepen proces"),
    "lane.nodes": N_("elementen in de lane"),
    "event": N_("soort gebeurtenis"),
    "property.formJsonSchemaFilename": N_("formulier"),
    "property.due": N_("termijn"),
    "messageRef": N_("bericht"),
}


def process_name(name: str | None, key: str) -> str:
    """A process's name in the reader's language (the diagrams' Dutch names have English in the catalog)."""
    return translate(name) if name else key


def _kind(name: str) -> str:
    lowered = name.lower()
    return next((kind for ext, kind in KIND_OF_FILE.items() if lowered.endswith(ext)), "other")


def _actor() -> str | None:
    person = getattr(g, "person", None)
    return getattr(person, "username", None)


def _problems(problems: list[Any]) -> list[dict[str, Any]]:
    return [{"file": p.file, "element": p.element, "message": p.message} for p in problems]


def version_number(raw: str | None, name: str) -> int:
    value = (raw or "").strip()
    if not value.isdecimal():
        raise InvalidInput(translate("Kies een geldige versie."), name)
    if len(value) > 12 or not 0 < int(value) < 2**31:  # no version can have that number
        raise NotFound(translate("Die versie bestaat niet."))
    return int(value)


# --------------------------------------------------------------------------------------------- the list


@bp.get("/")
@roles_required("analist")
def index() -> Any:
    """Every process model: name, latest version, when, running cases, whether a draft is open."""
    search = request.args.get("q", "").strip().lower()
    eng = engine()
    with eng.transaction(write=False) as db:
        models = eng.process_models(db)
    rows = [
        (model, process_name(model.name, model.process_key))
        for model in models
        if not search
        or search in model.process_key.lower()
        or search in (model.name or "").lower()
        or search in process_name(model.name, model.process_key).lower()
    ]
    return render_template("modeler/index.html", rows=rows, search=search)


# ------------------------------------------------------------------------------------ a process's page


@bp.get("/<key>")
@roles_required("analist")
def process(key: str) -> Any:
    """Versions (who, when, why), the draft, running cases per version and the audit trail."""
    eng = engine()
    with eng.transaction(write=False) as db:
        versions = eng.versions(db, key)  # NotFound: 404
        current = eng.draft(db, key)
        running = eng.running_versions(db, key)
        trail = [_trail_row(row) for row in eng.audit_trail(db, key)]
    return render_template(
        "modeler/process.html",
        key=key,
        process_name=process_name(versions[0].name, key),
        versions=versions,
        draft=current,
        running=running,
        trail=trail,
        latest=versions[0].version,
    )


def _trail_row(row: Any) -> dict[str, Any]:
    detail = row.detail or {}
    words: list[str] = []
    if row.action == "deploy":
        made = ", ".join(f"{c['process_key']} v{c['version']}" for c in detail.get("created", []))
        if made:
            words.append(translate("nieuwe versie: %(made)s") % {"made": made})
        counts = {
            "added": len(detail.get("added", [])),
            "removed": len(detail.get("removed", [])),
            "changed": len(detail.get("changed", [])),
        }
        words.append(
            translate("%(added)s toegevoegd, %(removed)s verwijderd, %(changed)s gewijzigd") % counts
        )
    elif row.action == "migrate":
        words.append(
            translate("van versie %(old)s naar %(new)s: %(moved)s verplaatst, %(refused)s geweigerd")
            % {
                "old": detail.get("from"),
                "new": detail.get("to"),
                "moved": len(detail.get("moved", [])),
                "refused": len(detail.get("refused", {})),
            }
        )
    return {
        "at": row.at,
        "actor": row.actor or "-",
        "action": translate(ACTION_WORDS.get(row.action, row.action)),
        "reason": row.reason or "",
        "what": "; ".join(words),
        "moved": detail.get("moved", []) if row.action == "migrate" else [],
        "refused": detail.get("refused", {}) if row.action == "migrate" else {},
        "diff": (detail.get("from_version"), (detail.get("created") or [{}])[0].get("version"))
        if row.action == "deploy"
        else None,
    }


# ------------------------------------------------------------------------------------------ the editor


@bp.get("/<key>/edit")
@roles_required("analist")
def edit(key: str) -> Any:
    eng = engine()
    with eng.transaction(write=False) as db:
        current = eng.draft(db, key)  # NotFound: 404
    urls = {
        "draft": url_for("modeler.draft_json", key=key),
        "validate": url_for("modeler.validate_json", key=key),
        "deploy": url_for("modeler.deploy", key=key),
        "discard": url_for("modeler.discard", key=key),
        "operators": url_for("modeler.operators_json"),
        "forms": url_for("modeler.forms_json", key=key),
        "timer": url_for("modeler.timer_json"),
        "form_preview": url_for("modeler.form_preview_json"),
        "try": url_for("modeler.tryout", key=key),
        "process": url_for("modeler.process", key=key),
    }
    return render_template(
        "modeler/editor.html",
        process_key=key,
        process_name=process_name(current.name, key),
        base_version=current.base_version,
        saved=current.saved,
        urls=urls,
    )


def _draft_answer(current: Any, problems: list[Any]) -> dict[str, Any]:
    return {
        "process_key": current.process_key,
        "name": current.name,
        "base_version": current.base_version,
        "saved": current.saved,
        "updated_at_text": long_datetime(current.updated_at) if current.updated_at else None,
        "updated_by": current.updated_by,
        "main": current.main,
        "files": [{"name": f.name, "kind": _kind(f.name), "content": f.content} for f in current.files],
        "problems": _problems(problems),
    }


@bp.get("/<key>/draft.json")
@roles_required("analist")
def draft_json(key: str) -> Any:
    eng = engine()
    with eng.transaction(write=False) as db:
        current = eng.draft(db, key)
        problems = eng.validate_sources(db, [{"name": f.name, "content": f.content} for f in current.files])
    return jsonify(_draft_answer(current, problems))


def _files_from_body() -> Any:
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or not isinstance(body.get("files"), list):
        raise InvalidInput(
            translate('Stuur de bestanden van het ontwerp als JSON: {"files": [...]}.'), "files"
        )
    return body["files"]


@bp.put("/<key>/draft.json")
@roles_required("analist")
def draft_save(key: str) -> Any:
    """Autosave: keep the files as the draft (never seen by a running case) and say what is wrong."""
    files = _files_from_body()
    eng = engine()
    with eng.transaction(write=True) as db:
        problems = eng.save_draft(db, key, files, _actor())
    return jsonify(
        {"saved": True, "saved_at_text": long_datetime(clock.now()), "problems": _problems(problems)}
    )


@bp.post("/<key>/validate.json")
@roles_required("analist")
def validate_json(key: str) -> Any:
    """The problems of these files, as ``kmop deploy`` would print them; nothing is stored."""
    files = _files_from_body()
    eng = engine()
    with eng.transaction(write=False) as db:
        eng.draft(db, key)  # 404 for an unknown process
        problems = eng.validate_sources(db, files)
    return jsonify({"problems": _problems(problems)})


@bp.post("/<key>/deploy")
@roles_required("analist")
def deploy(key: str) -> Any:
    """Deploy the saved draft as a new version with the analyst's reason; refused while a problem remains."""
    reason = request.form.get("reason", "").strip()
    if not reason:
        flash(translate("Zeg waarom u deze versie publiceert: de reden komt in het logboek."))
        return redirect(url_for("modeler.edit", key=key))
    eng = engine()
    try:
        with eng.transaction(write=True) as db:
            result = eng.deploy_draft(db, key, reason, _actor())
    except DeploymentError as exc:
        flash(translate("Niet gepubliceerd: er blijven problemen (%(n)s).") % {"n": len(exc.problems)})
        return redirect(url_for("modeler.edit", key=key))
    made = [c for c in result.created if c["process_key"] == key]
    if made:
        flash(translate("Versie %(n)s is gepubliceerd.") % {"n": made[0]["version"]})
    else:
        flash(translate("Niets gewijzigd: er is geen nieuwe versie gemaakt."))
    return redirect(url_for("modeler.process", key=key))


@bp.post("/<key>/discard")
@roles_required("analist")
def discard(key: str) -> Any:
    eng = engine()
    with eng.transaction(write=True) as db:
        gone = eng.discard_draft(db, key, _actor())
    flash(translate("Het ontwerp is weggegooid.") if gone else translate("Er was geen ontwerp."))
    return redirect(url_for("modeler.process", key=key))


# ------------------------------------------------------------------------- what the properties panel asks


@bp.get("/api/operators.json")
@roles_required("analist")
def operators_json() -> Any:
    return jsonify(engine().operators())


@bp.get("/api/forms.json")
@roles_required("analist")
def forms_json() -> Any:
    key = request.args.get("key", "").strip()
    if not key:
        raise InvalidInput(translate("Zeg van welk proces u de formulieren wilt."), "key")
    eng = engine()
    with eng.transaction(write=False) as db:
        current = eng.draft(db, key)
    return jsonify({"forms": sorted(f.name for f in current.files if _kind(f.name) == "form")})


@bp.post("/api/timer.json")
@roles_required("analist")
def timer_json() -> Any:
    """When a timer with this expression fires if it starts now (the engine's clock, simulated or not)."""
    body = request.get_json(silent=True) or {}
    kind, expression = str(body.get("kind", "")), str(body.get("expression", ""))
    now = clock.now()
    problem, moment = engine().timer_moment(kind, expression)
    if problem:
        return jsonify({"ok": False, "message": problem})
    return jsonify(
        {
            "ok": True,
            "now_text": long_datetime(now),
            "moment": moment.isoformat() if moment else None,
            "moment_text": long_datetime(moment)
            if moment
            else translate("een moment dat van de gegevens van het dossier afhangt"),
        }
    )


@bp.post("/api/form-preview.json")
@roles_required("analist")
def form_preview_json() -> Any:
    """The form as staff will see it, drawn by kmop's own form renderer, in Dutch or English."""
    body = request.get_json(silent=True) or {}
    lang = body.get("lang") if body.get("lang") in LANGUAGES else "nl"
    try:
        schema = json.loads(str(body.get("schema", "")))
    except ValueError as exc:
        return jsonify({"error": f"{translate('Geen geldige JSON')}: {exc}"})
    if not isinstance(schema, dict) or not isinstance(schema.get("properties", {}), dict):
        return jsonify({"error": translate("Een formulier is een JSON-object met 'properties'.")})
    previous = getattr(g, "lang", None)
    g.lang = lang
    try:
        with force_locale(lang):
            fields = formrender.fields(schema)
            html = render_template(
                "modeler/form_preview.html", fields=fields, values=formrender.initial(schema, {})
            )
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        return jsonify({"error": translate("Dit formulier kan niet getoond worden: %(e)s") % {"e": exc}})
    finally:
        g.lang = previous
    return jsonify({"html": html})


# ------------------------------------------------------------------------------------ versions and diff


@bp.get("/<key>/versions/<int:number>/download")
@roles_required("analist")
def download(key: str, number: int) -> Any:
    """Every file of one version in a zip (the diagram, the processes it calls, tables and forms)."""
    eng = engine()
    with eng.transaction(write=False) as db:
        files = eng.version_sources(db, key, number)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for f in files:
            archive.writestr(f.name, f.content)
    return Response(
        buffer.getvalue(),
        mimetype="application/zip",
        headers={"Content-Disposition": f'attachment; filename="{key}-v{number}.zip"'},
    )


@bp.get("/<key>/versions/<int:number>/diagram.xml")
@roles_required("analist")
def diagram_xml(key: str, number: int) -> Any:
    eng = engine()
    with eng.transaction(write=False) as db:
        _, xml = eng.version_diagram(db, key, number)
    return Response(xml, mimetype="application/xml")


def _diff_of(key: str) -> tuple[int, int, list[Any], Any]:
    """(from, to, every version, their diff): the versions asked for, else the latest and the one before."""
    eng = engine()
    with eng.transaction(write=False) as db:
        versions = eng.versions(db, key)
        old, new = _diff_choice(versions)
        return old, new, versions, eng.model_diff(db, key, old, new)


def _diff_choice(versions: list[Any]) -> tuple[int, int]:
    numbers = [v.version for v in versions]
    if len(numbers) < 2 and "from" not in request.args:
        raise NotFound(translate("Dit proces heeft maar één versie: er is niets te vergelijken."))
    new = version_number(request.args.get("to"), "to") if request.args.get("to") else numbers[0]
    old = (
        version_number(request.args.get("from"), "from")
        if request.args.get("from")
        else next((n for n in numbers if n < new), numbers[-1])
    )
    return old, new


def _change_rows(diff: Any) -> list[dict[str, Any]]:
    rows = []
    for state, ids in (("added", diff.added), ("removed", diff.removed), ("changed", list(diff.changed))):
        for eid in ids:
            rows.append(
                {
                    "id": eid,
                    "state": state,
                    "name": diff.names.get(eid) or eid,
                    "kind": diff.kinds.get(eid, ""),
                    "changes": [
                        {
                            "property": translate(CHANGE_WORDS[c["property"]])
                            if c["property"] in CHANGE_WORDS
                            else c["property"],
                            "old": c.get("old"),
                            "new": c.get("new"),
                        }
                        for c in diff.changed.get(eid, [])
                    ],
                }
            )
    return rows


@bp.get("/<key>/diff")
@roles_required("analist")
def diff(key: str) -> Any:
    """Two versions side by side: added, removed and changed elements coloured, what changed listed."""
    old, new, versions, changes = _diff_of(key)
    return render_template(
        "modeler/diff.html",
        key=key,
        process_name=process_name(versions[0].name, key),
        versions=versions,
        old=old,
        new=new,
        rows=_change_rows(changes),
        diff=changes.as_dict(),
    )


@bp.get("/<key>/diff.json")
@roles_required("analist")
def diff_json(key: str) -> Any:
    old, new, _, changes = _diff_of(key)
    return jsonify({"from": old, "to": new, **changes.as_dict()})
