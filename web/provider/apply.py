"""Apply, and complete the provider's own tasks (sign a declaration per service, choose the bureau)."""

from __future__ import annotations

from typing import Any

from flask import abort, flash, g, redirect, render_template, request, url_for

from engine.errors import InvalidInput, NotFound
from tasks.keys import new_application_key
from tasks.validation import format_enterprise_number

from .. import formrender
from ..access import organisation_of, require_case
from ..auth import engine, now, roles_required
from ..i18n import translate
from . import bp, casework

PROVIDER_LANE = "Dienstverlener"


@bp.route("/aanvragen/nieuw", methods=["GET", "POST"])
@roles_required("dienstverlener")
def apply() -> Any:
    eng = engine()
    with eng.transaction() as db:
        org = organisation_of(db, g.person)
        enterprise_number, org_name = org.enterprise_number, org.name
        _, schema = eng.start_form(db, "registration")
    if not enterprise_number or schema is None:
        abort(403)
    fixed = format_enterprise_number(enterprise_number)
    errors: dict[str, str] = {}
    if request.method == "POST":
        data = {**formrender.parse(schema, request.form), "enterprise_number": enterprise_number}
        values = {**formrender.values(schema, request.form), "enterprise_number": fixed}
        errors = formrender.check(schema, data)
        if not errors:
            actor = g.person.username
            keys: list[str] = []

            def start(db: Any) -> Any:
                keys.append(new_application_key(db, now()))
                return eng.start(db, "registration", data, business_key=keys[-1], actor=actor)

            started = casework.attempt(eng, start)
            if isinstance(started, InvalidInput):
                errors = formrender.messages(started, schema)
            else:
                flash(translate("Uw aanvraag %s is ingediend.") % keys[-1])
                return redirect(url_for("provider.case", instance_id=started.id))
    else:
        values = formrender.initial(
            schema,
            {
                "enterprise_number": fixed,
                "company_name": org_name,
                "email": g.person.email,
                "provider_type": "private",
            },
        )
    return render_template(
        "provider/apply.html",
        schema=schema,
        fields=formrender.fields(schema, readonly=("enterprise_number",)),
        values=values,
        errors=errors,
    ), (400 if errors else 200)


@bp.route("/taken/<task_id>", methods=["GET", "POST"])
@roles_required("dienstverlener")
def task(task_id: str) -> Any:
    eng = engine()
    with eng.transaction() as db:
        try:
            view = eng.task(db, task_id)
        except NotFound:
            abort(404)
        if view.lane != PROVIDER_LANE:
            abort(403)
        detail = require_case(db, eng, g.person, g.roles, view.instance_id)
        if view.status != "ready":
            flash(translate("Deze taak is al afgerond of niet meer open."))
            return redirect(url_for("provider.case", instance_id=view.instance_id))
        _, schema = eng.task_form(db, task_id)
        service = casework.task_input(eng, db, task_id).get("service")
    schema = schema or {"type": "object", "properties": {}}
    errors: dict[str, str] = {}
    if request.method == "POST":
        values, errors, done = casework.complete_form(eng, schema, request.form, view, g.person.username)
        if done:
            flash(translate("De taak is afgerond."))
            return redirect(url_for("provider.case", instance_id=view.instance_id))
    else:
        values = formrender.initial(schema, {"declared_by": g.person.name})
    return render_template(
        "provider/task.html",
        view=view,
        detail=detail,
        schema=schema,
        service=casework.word(casework.SERVICES, service) if service else None,
        fields=formrender.fields(schema),
        values=values,
        errors=errors,
    ), (400 if errors else 200)
