"""A person's own account (``/account``): the API keys with which their organisation's systems call kmop
(an audit bureau's reporting system, a provider's software), made and revoked without help."""

from __future__ import annotations

from flask import Flask

from .views import bp


def init_app(app: Flask) -> None:
    app.register_blueprint(bp, url_prefix="/account")
