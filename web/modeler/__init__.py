"""The analyst's workbench (``/modeler``, role ``analist``): process models edited in the browser with
bpmn-js, validated as they are edited, deployed as versions with a reason, compared, tried in a scratch
database with a simulated clock, and running cases migrated from one version to the next."""

from __future__ import annotations

from flask import Blueprint, Flask

bp = Blueprint("modeler", __name__, url_prefix="/modeler", template_folder="templates")


def init_app(app: Flask) -> None:
    from . import migrate, tryout, views  # noqa: F401  (the routes register themselves on bp)

    app.register_blueprint(bp)
