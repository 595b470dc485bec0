"""Log people in and out, know who is asking, and check their roles on every route.

A session ends on log-out (on the server too: ``person.session_version``), after
``Settings.session_idle_minutes`` without a request, and ``Settings.session_max_hours`` after its log-in.
Both lifetimes are measured in real time (``time.time``), not by ``engine.clock``: the simulated clock
jumps months in a demo, and would end every session with it, or keep one open for years when set back.
``app.config["KMOP_SESSION_CLOCK"]`` (a function giving seconds) lets tests move that time on.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from flask import (
    Blueprint,
    Flask,
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

from .i18n import LANGUAGES, N_, translate

bp = Blueprint("auth", __name__)
F = TypeVar("F", bound=Callable[..., Any])
SESSION_CLOCK = "KMOP_SESSION_CLOCK"
# Answered without asking the database who is logged in: /healthz must answer with the database away.
WITHOUT_PERSON = ("static", "ops.healthz", "ops.readyz")
IDLE = N_("U was %d minuten niet actief: uw sessie is beëindigd. Meld u opnieuw aan.")
TOO_LONG = N_("U was langer dan %d uur aangemeld: uw sessie is beëindigd. Meld u opnieuw aan.")


def init_app(app: Flask) -> None:
    app.before_request(load_person)
    app.register_blueprint(bp)


def engine() -> Any:
    return current_app.extensions["kmop"]


def session_time() -> float:
    """Seconds since the epoch, in real time: the clock of session lifetimes."""
    return float(current_app.config.get(SESSION_CLOCK, time.time)())


def load_person() -> None:
    """Before each request: who is logged in, with which roles (None when nobody)."""
    g.person, g.roles = None, set()
    person_id = session.get("person_id")
    if person_id is None or request.endpoint in WITHOUT_PERSON or request.blueprint == "api":
        return  # the API takes a token only, never the cookie (web.api.core)
    if not _still_alive():
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


def _still_alive() -> bool:
    """Whether the session is within both lifetimes (it then counts this request); else end it."""
    settings = engine().settings
    now = session_time()
    started, seen = session.get("login_at"), session.get("seen_at")
    if not isinstance(started, int | float) or not isinstance(seen, int | float):
        reason = translate(TOO_LONG) % settings.session_max_hours  # a session from before lifetimes
    elif now - seen > settings.session_idle_minutes * 60:
        reason = translate(IDLE) % settings.session_idle_minutes
    elif now - started > settings.session_max_hours * 3600:
        reason = translate(TOO_LONG) % settings.session_max_hours
    else:
        session["seen_at"] = now
        return True
    lang = session.get("lang")
    session.clear()
    if lang:
        session["lang"] = lang
    flash(reason)
    return False


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
                lang = session.get("lang")  # a language chosen before log-in stays
                session.clear()
                session["person_id"] = person.id
                session["version"] = person.session_version
                session["lang"] = lang or person.language
                session["login_at"] = session["seen_at"] = session_time()
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
