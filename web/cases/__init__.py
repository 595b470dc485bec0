"""The cases pages: a filtered list for agency staff, and one page per case with its diagram."""

from __future__ import annotations

from flask import Flask

from .views import bp


def init_app(app: Flask) -> None:
    app.register_blueprint(bp, url_prefix="/dossiers")
