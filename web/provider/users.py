"""A local administrator grants and revokes the provider profile, and invites colleagues, for its own
organisation only."""

from __future__ import annotations

from typing import Any

from flask import abort, flash, g, redirect, render_template, request, url_for

from tasks import certificate, invitations, people
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
        waiting = invitations.open_invitations(db, admin, now())
        rows = [
            {
                "id": p.id,
                "name": p.name,
                "username": p.username,
                "roles": sorted(ROLE_WORDS.get(r, r) for r in people.roles_of(db, p)),
                "provider": people.PROVIDER_PROFILE in people.roles_of(db, p),
                "invited_until": waiting.get(p.id),
            }
            for p in people.colleagues(db, admin)
        ]
    return render_template("provider/users.html", rows=rows, org_name=org_name, form={}, errors={})


INVITE_ERRORS = {
    "name": ("name", "Naam: is verplicht (hoogstens 200 tekens)."),
    "email": ("email", "E-mailadres: is geen geldig e-mailadres."),
    "exists": ("email", "E-mailadres: er bestaat al een account met dit e-mailadres."),
}


@bp.route("/gebruikers/uitnodigen", methods=["GET", "POST"])
@roles_required("lokale_beheerder")
def invite() -> Any:
    """Invite a colleague: an account for a name and e-mail address, with or without the provider
    profile, activated when the person sets a password through the e-mailed link."""
    form = {k: request.form.get(k, "") for k in ("name", "email", "provider")}
    if request.method == "POST":
        with engine().transaction() as db:
            admin = db.get(Person, g.person.id)
            assert admin is not None
            try:
                invitations.invite(
                    db,
                    admin,
                    name=form["name"],
                    email=form["email"],
                    provider_profile=form["provider"] == "1",
                    # on the public site's address (KMOP_PUBLIC_URL), else the host asked
                    link=lambda token: (
                        certificate.public_url(request.host_url) + url_for("account.invitation", token=token)
                    ),
                    now=now(),
                )
            except invitations.InvitationError as exc:
                field, message = INVITE_ERRORS[exc.reason]
                db.rollback()
                return render_template(
                    "provider/invite.html", form=form, errors={field: translate(message)}
                ), 400
            except people.RightsError:
                abort(403)
        flash(
            translate("%s is uitgenodigd; de uitnodiging staat in de e-mail naar %s.")
            % (form["name"].strip(), form["email"].strip().lower())
        )
        return redirect(url_for("provider.users"))
    return render_template("provider/invite.html", form=form, errors={})


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
