"""Operations (no pages for people): ``/metrics`` for Prometheus, ``/healthz`` and ``/readyz`` for the
orchestrator, and the timing of every request (``time_requests``, installed first by ``create_app``)."""

from __future__ import annotations

from flask import Blueprint, Flask

from .timing import time_requests

bp = Blueprint("ops", __name__)

__all__ = ["bp", "init_app", "time_requests"]


def init_app(app: Flask) -> None:
    from . import views  # noqa: F401  (the routes register themselves on bp)

    app.register_blueprint(bp)
