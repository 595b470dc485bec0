"""Complaints and appeals (``/klachten``): a provider files a complaint about an audit and may appeal the
bureau's answer; the bureau answers the complaints addressed to it; the supervisory committee decides
appeals. Each complaint is a case of the process ``complaint`` (``bpmn/complaint.bpmn``)."""

from __future__ import annotations

from flask import Blueprint, Flask

bp = Blueprint("complaints", __name__, url_prefix="/klachten", template_folder="templates")


def init_app(app: Flask) -> None:
    from . import views  # noqa: F401  (the routes register themselves on bp)

    app.register_blueprint(bp)
