"""Serve kmop in the browser: one Flask application, one blueprint per audience."""

from __future__ import annotations

import importlib
import importlib.util
import os
import secrets
from pathlib import Path
from typing import Any

from flask import Flask, Response, abort, g, jsonify, render_template, request
from flask_wtf.csrf import CSRFProtect
from werkzeug.exceptions import HTTPException
from werkzeug.routing import IntegerConverter, Map

from engine import logs
from engine.api import Engine
from engine.config import PROJECT_ROOT, Settings
from engine.errors import KmopError
from engine.models import MAX_ID
from tasks.registry import default_registry

from . import auth, home, i18n
from .access import STAFF
from .ops import time_requests

csrf = CSRFProtect()
# One blueprint package per audience, each with ``init_app(app)`` (registers its routes and texts).
AUDIENCES = (
    "provider",
    "bureau",
    "agency",
    "cases",
    "public",
    "api",
    "account",
    "complaints",
    "modeler",
    "monitor",
    "ops",
)


def _secret_key() -> str:
    """The secret from ``KMOP_SECRET_KEY``, else one made once and kept in the instance folder."""
    if os.environ.get("KMOP_SECRET_KEY"):
        return os.environ["KMOP_SECRET_KEY"]
    path = PROJECT_ROOT / "instance" / "secret_key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_hex(32))
        path.chmod(0o600)
    return path.read_text().strip()


class RowId(IntegerConverter):
    """``<int:…>`` in a route: a whole number from 1 to the largest id a row can have; any other
    number matches no route (404), where it would otherwise fail in PostgreSQL."""

    def __init__(self, url_map: Map, fixed_digits: int = 0, min: int = 1, max: int = MAX_ID) -> None:
        super().__init__(url_map, fixed_digits=fixed_digits, min=min, max=max)


def create_app(test_config: dict[str, Any] | None = None, engine: Engine | None = None) -> Flask:
    """Build the application; ``engine`` lets tests and ``kmop serve`` hand in their own."""
    app = Flask(__name__, instance_path=str(PROJECT_ROOT / "instance"))
    app.url_map.converters["int"] = RowId  # before any route: an id no row can have is a 404
    app.config.from_mapping(
        SECRET_KEY=None,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        WTF_CSRF_TIME_LIMIT=None,
        MAX_CONTENT_LENGTH=2 * 1024 * 1024,
    )
    if test_config:
        app.config.update(test_config)
    if not app.config["SECRET_KEY"]:
        app.config["SECRET_KEY"] = _secret_key()
    app.extensions["kmop"] = kmop = engine or Engine(Settings.from_env(), default_registry())
    logs.configure(kmop.settings.log_format, kmop.settings.log_level)  # under gunicorn: nobody else does
    time_requests(app)  # the clock of every request starts before anything else reads it
    app.before_request(_refuse_nul)  # first: nothing reads a request with a NUL byte
    i18n.init_app(app)
    _read_only_gets(app)
    csrf.init_app(app)
    auth.init_app(app)
    for name in AUDIENCES:
        if importlib.util.find_spec(f"web.{name}") is not None:  # each audience is its own package
            importlib.import_module(f"web.{name}").init_app(app)
    _templates(app)
    _errors(app)
    app.after_request(_security_headers)

    home.init_app(app)
    return app


READING = ("GET", "HEAD", "OPTIONS")


def _read_only_gets(app: Flask) -> None:
    """A request that only reads opens read transactions: no lock taken, nothing written (PostgreSQL
    refuses a write); every other request's transactions take the write lock up front."""

    @app.before_request
    def set_intent() -> None:
        g.kmop_intent = Engine.intent(request.method not in READING)
        g.kmop_intent.__enter__()

    @app.teardown_request
    def reset_intent(_exc: BaseException | None) -> None:
        intent = g.pop("kmop_intent", None)
        if intent is not None:
            intent.__exit__(None, None, None)


NUL = "\x00"
FORM_TYPES = frozenset({"application/x-www-form-urlencoded", "multipart/form-data"})  # what werkzeug parses
NUL_TEXT = i18n.N_(
    "De aanvraag bevat een nulteken (NUL, %00); dat kan in geen enkele tekst staan. Verwijder het."
)
NUL_MESSAGE = "the request contains a NUL character (%00), which no text may contain; remove it"


def _refuse_nul() -> None:
    """400 for a NUL byte anywhere in the path, query, form or JSON body: PostgreSQL cannot store one in
    text, so a handler that searched or saved it would fail with a 500."""
    if NUL in request.path or _has_nul(list(request.args.items(multi=True))):
        _bad_nul()
    if (
        request.method not in READING
        and request.mimetype in FORM_TYPES
        and _has_nul(list(request.form.items(multi=True)))
    ):
        _bad_nul()
    if request.is_json:
        try:
            body = request.get_json(silent=True)
        except RecursionError:  # the parser's own limit; the handler answers 400 for it
            return
        if _has_nul(body):
            _bad_nul()


def _has_nul(value: Any) -> bool:
    """Whether a NUL is in any string, key or value of ``value`` (nested lists, tuples and dicts)."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if NUL in item:
                return True
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list | tuple):
            stack.extend(item)
    return False


def _bad_nul() -> None:
    abort(400, description=NUL_MESSAGE if _wants_json() else i18n.translate(NUL_TEXT))


def _templates(app: Flask) -> None:
    app.jinja_env.globals.update(_=i18n.translate, lang=i18n.current_language, languages=i18n.LANGUAGES)
    app.jinja_env.filters.update(
        date=i18n.short_date,
        datetime=i18n.short_datetime,
        long_date=i18n.long_date,
        long_datetime=i18n.long_datetime,
    )

    @app.context_processor
    def who() -> dict[str, Any]:
        roles: set[str] = getattr(g, "roles", set())
        return {"person": getattr(g, "person", None), "roles": roles, "is_staff": bool(roles & STAFF)}


# Everything is served by kmop itself: scripts only from its own files (no inline script, no CDN); the
# diagram viewer sets inline styles on its SVG, so styles may be inline.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "font-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; "
    "frame-ancestors 'none'"
)


def _security_headers(response: Response) -> Response:
    response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    response.headers.setdefault("X-Frame-Options", "DENY")
    return response


def _wants_json() -> bool:
    return request.path.startswith("/api/") or request.path.endswith(".json")


def _errors(app: Flask) -> None:
    N_ = i18n.N_
    titles = {
        400: N_("Ongeldige aanvraag"),
        403: N_("Geen toegang"),
        404: N_("Niet gevonden"),
        409: "Conflict",
    }
    texts = {403: N_("U hebt geen recht om deze pagina te zien."), 404: N_("Deze pagina bestaat niet.")}

    @app.errorhandler(KmopError)
    def kmop_error(exc: KmopError) -> Any:
        payload = {"error": type(exc).__name__, "message": exc.message}
        field = getattr(exc, "field", None)
        if field:
            payload["field"] = field
        errors = getattr(exc, "errors", None)
        if errors:
            payload["errors"] = errors
        if _wants_json():
            return jsonify(payload), exc.status
        return render_template(
            "error.html", code=exc.status, title=titles.get(exc.status, "Fout"), text=exc.message
        ), exc.status

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> Any:
        code = exc.code or 500
        if _wants_json():
            return jsonify(error=exc.name, message=exc.description), code
        return render_template(
            "error.html",
            code=code,
            title=titles.get(code, exc.name),
            text=i18n.translate(texts[code]) if code in texts else exc.description,
        ), code


TEMPLATES = Path(__file__).parent / "templates"
