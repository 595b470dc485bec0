"""The monitor (``/monitor``, agency staff and operators): cases by status, a heatmap on the diagram (how
many wait at each element now, how long they stay there), the 4-6 week audit-report turnaround, deadlines
coming up, incidents and failed e-mails handled in bulk, and charts over time. Every count links to the
case list behind it; the page refreshes its figures by itself."""

from __future__ import annotations

from flask import Blueprint, Flask

bp = Blueprint("monitor", __name__, url_prefix="/monitor", template_folder="templates")


def init_app(app: Flask) -> None:
    from . import views  # noqa: F401  (the routes register themselves on bp)

    app.register_blueprint(bp)
