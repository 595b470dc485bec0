"""The public register: anyone can look up a registered service provider, without logging in."""

from __future__ import annotations

from flask import Flask

from web.i18n import add_translations

from .texts import EN
from .views import bp


def init_app(app: Flask) -> None:
    app.register_blueprint(bp, url_prefix="/register")
    add_translations(EN)
