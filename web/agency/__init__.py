"""The agency's pages (``/vlaio``): the inbox of user tasks with claim and release, and each task's form
beside the case it belongs to."""

from __future__ import annotations

from flask import Blueprint, Flask

bp = Blueprint("agency", __name__, url_prefix="/vlaio", template_folder="templates")


def init_app(app: Flask) -> None:
    from . import views  # noqa: F401  (the routes register themselves on bp)

    app.register_blueprint(bp)
