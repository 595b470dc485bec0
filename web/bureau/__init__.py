"""The audit bureau's pages (``/auditbureau``): the audits assigned to my bureau and the report form
that delivers the ``audit_report`` message."""

from __future__ import annotations

from flask import Blueprint, Flask

bp = Blueprint("bureau", __name__, url_prefix="/auditbureau", template_folder="templates")


def init_app(app: Flask) -> None:
    from . import views  # noqa: F401  (the routes register themselves on bp)

    app.register_blueprint(bp)
