"""Make, list and revoke one's own API keys; a new key is shown once and never stored in clear."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, flash, g, redirect, render_template, request, url_for

from engine import clock
from tasks import invitations, people

from ..auth import engine, login_required
from ..i18n import translate

bp = Blueprint("account", __name__, template_folder="templates")
MAX_LABEL = 200
MAX_TOKENS = 20


@bp.route("/sleutels", methods=["GET", "POST"])
@login_required
def tokens() -> Any:
    created: str | None = None
    error: str | None = None
    label = ""
    with engine().transaction() as db:
        if request.method == "POST":
            label = str(request.form.get("label", "")).strip()
            count = len(people.tokens_of(db, g.person))
            if not label:
                error = translate("Omschrijving: is verplicht.")
            elif len(label) > MAX_LABEL:
                error = translate("Omschrijving: is te lang (hoogstens %d tekens).") % MAX_LABEL
            elif count >= MAX_TOKENS:
                error = translate("U hebt al %d sleutels; trek er eerst een in.") % count
            else:
                created = people.issue_token(db, g.person, label, clock.now())
        rows = [
            {"id": t.id, "label": t.label, "created_at": t.created_at, "last_used_at": t.last_used_at}
            for t in people.tokens_of(db, g.person)
        ]
    response = render_template(
        "account/tokens.html", rows=rows, created=created, error=error, label="" if created else label
    )
    status = 400 if error else 200
    return response, status, {"Cache-Control": "no-store"}


@bp.post("/sleutels/<int:token_id>/intrekken")
@login_required
def revoke(token_id: int) -> Any:
    with engine().transaction() as db:
        mine = {t.id: t.label for t in people.tokens_of(db, g.person)}
        if token_id not in mine:
            abort(404)
        if request.form.get("confirmed") != "1":
            return render_template(
                "confirm.html",
                title=translate("Sleutel intrekken"),
                question=translate(
                    "Wat de sleutel '%s' gebruikt, krijgt daarna geen toegang meer. Intrekken?"
                )
                % mine[token_id],
                yes=translate("Ja, intrekken"),
                fields={},
                back=url_for("account.tokens"),
            )
        if not people.revoke_token(db, g.person, token_id):
            abort(404)
    flash(translate("De sleutel '%s' is ingetrokken.") % mine[token_id])
    return redirect(url_for("account.tokens"))


INVITATION_PROBLEMS = {
    "unknown": "Deze uitnodiging bestaat niet (meer). Vraag uw lokale beheerder om een nieuwe.",
    "used": "Deze uitnodiging werd al gebruikt. Meld u aan met uw e-mailadres en wachtwoord.",
    "expired": "Deze uitnodiging is verlopen. Vraag uw lokale beheerder om een nieuwe.",
}


@bp.route("/uitnodiging/<token>", methods=["GET", "POST"])
def invitation(token: str) -> Any:
    """An invited colleague chooses a password; the account is then active and the link used up."""
    error: str | None = None
    with engine().transaction() as db:
        try:
            _, person = invitations.pending(db, token, clock.now())
            name, username = person.name, person.username
            if request.method == "POST":
                password = str(request.form.get("password", ""))
                if password != str(request.form.get("password_again", "")):
                    error = translate("De twee wachtwoorden verschillen.")
                else:
                    invitations.accept(db, token, password, clock.now())
        except invitations.InvitationError as exc:
            if exc.reason == "password":
                error = translate("Wachtwoord: minstens %d tekens.") % invitations.MIN_PASSWORD
            else:
                db.rollback()
                problem = translate(INVITATION_PROBLEMS[exc.reason])
                status = 404 if exc.reason == "unknown" else 410
                return render_template("error.html", title="Uitnodiging", text=problem), status
        if error:
            db.rollback()
    if request.method == "POST" and not error:
        flash(translate("Uw wachtwoord is ingesteld. Meld u aan met %s.") % username)
        return redirect(url_for("auth.login"))
    page = render_template("account/invitation.html", name=name, username=username, error=error)
    return page, 400 if error else 200, {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}
