"""Log people in and out, know who is asking, and check their roles on every route."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)

from engine import clock
from tasks import people
from tasks.models import Person

from .i18n import LANGUAGES, translate

bp = Blueprint("auth", __name__)
F = TypeVar("F", bound=Callable[..., Any])


def engine() -> Any:
    return current_app.extensions["kmop"]


def load_person() -> None:
    """Before each request: who is logged in, with which roles (None when nobody)."""
    g.person, g.roles = None, set()
    person_id = session.get("person_id")
    if person_id is None or request.endpoint in ("static", "health"):
        return
    with engine().transaction() as db:
        person = db.get(Person, person_id)
        if person is None or not person.active or session.get("version") != person.session_version:
            session.clear()  # gone, blocked, or logged out since this cookie was issued
            return
        g.roles = people.roles_of(db, person)
        db.expunge(person)
    g.person = person
    g.lang = session.get("lang") or person.language


def login_required(view: F) -> F:
    @wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        if g.person is None:
            return redirect(url_for("auth.login", next=request.path))
        return view(*args, **kwargs)

    return wrapped  # type: ignore[return-value]


def roles_required(*roles: str) -> Callable[[F], F]:
    """Allow the view to people holding at least one of ``roles`` (403 for everyone else)."""

    def decorate(view: F) -> F:
        @wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            if g.person is None:
                return redirect(url_for("auth.login", next=request.path))
            if not g.roles.intersection(roles):
                abort(403)
            return view(*args, **kwargs)

        return wrapped  # type: ignore[return-value]

    return decorate


@bp.route("/login", methods=["GET", "POST"])
def login() -> Any:
    error = None
    if request.method == "POST":
        with engine().transaction() as db:
            person = people.authenticate(
                db, request.form.get("username", ""), request.form.get("password", "")
            )
            if person is not None:
                session.clear()
                session["person_id"] = person.id
                session["version"] = person.session_version
                session["lang"] = session.get("lang") or person.language
                target = request.args.get("next") or url_for("home")
                return redirect(target if target.startswith("/") and not target.startswith("//") else "/")
        error = translate("Onbekende gebruikersnaam of fout wachtwoord.")
    return render_template("auth/login.html", error=error, username=request.form.get("username", ""))


@bp.post("/logout")
def logout() -> Any:
    """End the session on the server too: a copy of the cookie made before no longer logs anyone in."""
    if g.person is not None:
        with engine().transaction() as db:
            person = db.get(Person, g.person.id)
            if person is not None:
                person.session_version += 1
    session.clear()
    flash(translate("U bent afgemeld."))
    return redirect(url_for("auth.login"))


@bp.post("/language/<lang>")
def language(lang: str) -> Any:
    if lang not in LANGUAGES:
        abort(404)
    session["lang"] = lang
    target = request.form.get("next") or "/"
    return redirect(target if target.startswith("/") and not target.startswith("//") else "/")


def now() -> Any:
    return clock.now()
