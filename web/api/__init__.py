"""The JSON API for other systems (audit bureaus, providers' software, the agency's tools), at ``/api/v1``.

Authentication is by bearer token only (``tasks.people.issue_token``); the session cookie is never
used, so the blueprint is exempt from CSRF protection. Errors are JSON (``web._errors``; 401 here).
A verified token is kept for a few seconds (``web.api.callers``: ``KMOP_API_TOKEN_CACHE_SECONDS``).
"""

from __future__ import annotations

import os
import time

from flask import Flask

from . import callers, cases, openapi, registrations, renewals, reports
from .core import bp

__all__ = ["callers", "cases", "init_app", "openapi", "registrations", "renewals", "reports"]

CACHE_SECONDS = "KMOP_API_TOKEN_CACHE_SECONDS"
CACHE_CLOCK = "KMOP_API_CACHE_CLOCK"  # a function giving seconds: lets tests move the cache's time on


def init_app(app: Flask) -> None:
    from web import csrf

    csrf.exempt(bp)
    app.register_blueprint(bp, url_prefix="/api/v1")
    if CACHE_SECONDS not in app.config:
        app.config[CACHE_SECONDS] = float(os.environ.get(CACHE_SECONDS, callers.LIFETIME_SECONDS))

    def clock() -> float:
        return float(app.config.get(CACHE_CLOCK, time.monotonic)())

    app.extensions["kmop_api_callers"] = callers.Callers(float(app.config[CACHE_SECONDS]), clock)
    callers.watch_changes()
