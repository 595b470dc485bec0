"""A local administrator grants and revokes the provider profile, for its own organisation only."""

from __future__ import annotations

from typing import Any

from flask import abort, flash, g, redirect, render_template, request, url_for

from tasks import people
from tasks.models import Person

from ..access import organisation_of
from ..auth import engine, now, roles_required
from ..i18n import translate
from . import bp

ROLE_WORDS = {
    "dienstverlener": "dienstverlener",
    "lokale_beheerder": "lokale beheerder",
    "auditbureau": "auditbureau",
    "vlaio": "VLAIO",
    "analist": "analist",
    "beheerder": "beheerder",
}


@bp.get("/gebruikers")
@roles_required("lokale_beheerder")
def users() -> Any:
    with engine().transaction() as db:
        admin = db.get(Person, g.person.id)
        assert admin is not None
        org_name = organisation_of(db, admin).name
        rows = [
            {
                "id": p.id,
                "name": p.name,
                "username": p.username,
                "roles": sorted(ROLE_WORDS.get(r, r) for r in people.roles_of(db, p)),
                "provider": people.PROVIDER_PROFILE in people.roles_of(db, p),
            }
            for p in people.colleagues(db, admin)
        ]
    return render_template("provider/users.html", rows=rows, org_name=org_name)


@bp.post("/gebruikers/<int:person_id>")
@roles_required("lokale_beheerder")
def set_right(person_id: int) -> Any:
    action = request.form.get("action")
    if action not in ("grant", "revoke"):
        abort(400)
    with engine().transaction() as db:
        admin = db.get(Person, g.person.id)
        person = db.get(Person, person_id)
        if admin is None or person is None:
            abort(404)
        name = person.name
        try:
            if action == "grant":
                people.grant_provider_profile(db, admin, person, now())
            elif request.form.get("confirmed") != "1":  # checked first, then asked: are you sure?
                people.check_local_admin(db, admin, person)
                return render_template(
                    "confirm.html",
                    title=translate("Recht intrekken"),
                    question=translate(
                        "%s zal geen aanvragen en taken van uw organisatie meer behandelen. Het profiel "
                        "dienstverlener intrekken?"
                    )
                    % name,
                    yes=translate("Ja, intrekken"),
                    fields={"action": "revoke"},
                    back=url_for("provider.users"),
                )
            else:
                people.revoke_provider_profile(db, admin, person)
        except people.RightsError:
            abort(403)
    if action == "grant":
        flash(translate("%s kreeg het profiel dienstverlener.") % name)
    else:
        flash(translate("%s heeft het profiel dienstverlener niet meer.") % name)
    return redirect(url_for("provider.users"))
