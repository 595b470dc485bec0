"""Make, list and revoke one's own API keys; a new key is shown once and never stored in clear."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, flash, g, redirect, render_template, request, url_for

from engine import clock
from tasks import people

from ..auth import engine, login_required
from ..i18n import translate

bp = Blueprint("account", __name__, template_folder="templates")
MAX_LABEL = 200
MAX_TOKENS = 20

EN: dict[str, str] = {
    "API-sleutels": "API keys",
    "Met een API-sleutel roept een systeem van uw organisatie de kmop-API aan in uw naam, met uw rechten "
    "(bijvoorbeeld het rapportagesysteem van een auditbureau).": "With an API key a system of your "
    "organisation calls the kmop API in your name, with your rights (for example an audit bureau's "
    "reporting system).",
    "Nieuwe sleutel": "New key",
    "Omschrijving": "Description",
    "Waarvoor dient de sleutel, bv. 'rapportagesysteem'.": "What the key is for, e.g. 'reporting system'.",
    "Sleutel aanmaken": "Create the key",
    "Uw nieuwe sleutel": "Your new key",
    "Kopieer de sleutel nu: hij wordt maar één keer getoond en nergens leesbaar bewaard.": "Copy the key "
    "now: it is shown only once and is not kept anywhere in readable form.",
    "Gebruik: stuur de kop Authorization: Bearer <sleutel> mee; de API is beschreven in": "Use: send the "
    "header Authorization: Bearer <key>; the API is described in",
    "Uw sleutels": "Your keys",
    "Aangemaakt": "Created",
    "Laatst gebruikt": "Last used",
    "nooit": "never",
    "Intrekken": "Revoke",
    "U hebt geen API-sleutels.": "You have no API keys.",
    "De sleutel '%s' is ingetrokken.": "The key '%s' has been revoked.",
    "Omschrijving: is verplicht.": "Description: is required.",
    "Omschrijving: is te lang (hoogstens %d tekens).": "Description: is too long (at most %d characters).",
    "U hebt al %d sleutels; trek er eerst een in.": "You already have %d keys; revoke one first.",
    "Sleutel intrekken": "Revoke the key",
    "Wat de sleutel '%s' gebruikt, krijgt daarna geen toegang meer. Intrekken?": "Whatever uses the key "
    "'%s' loses its access. Revoke it?",
    "Ja, intrekken": "Yes, revoke",
    "Annuleren": "Cancel",
}


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
