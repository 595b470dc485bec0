"""The JSON API for other systems (audit bureaus, providers' software, the agency's tools), at ``/api/v1``.

Authentication is by bearer token only (``tasks.people.issue_token``); the session cookie is never
used, so the blueprint is exempt from CSRF protection. Errors are JSON (``web._errors``; 401 here).
"""

from __future__ import annotations

from flask import Flask

from . import cases, openapi, registrations, renewals, reports
from .core import bp

__all__ = ["cases", "init_app", "openapi", "registrations", "renewals", "reports"]


def init_app(app: Flask) -> None:
    from web import csrf

    csrf.exempt(bp)
    app.register_blueprint(bp, url_prefix="/api/v1")
