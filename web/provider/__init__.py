"""The provider's pages (``/aanbieder``): applications, registrations and certificates, applying, the
provider's own tasks, and for a local administrator the people of the organisation."""

from __future__ import annotations

from flask import Blueprint, Flask

bp = Blueprint("provider", __name__, url_prefix="/aanbieder", template_folder="templates")


def init_app(app: Flask) -> None:
    from . import apply, renewal, users, views  # noqa: F401  (the routes register themselves on bp)

    app.register_blueprint(bp)
