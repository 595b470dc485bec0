"""The public register: anyone can look up a registered service provider, without logging in."""

from __future__ import annotations

from flask import Flask

from .views import bp


def init_app(app: Flask) -> None:
    app.register_blueprint(bp, url_prefix="/register")
