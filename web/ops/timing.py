"""Time every request for ``kmop_http_request_duration_seconds``, by route (the URL rule, so that
``/dossiers/12`` and ``/dossiers/13`` count as one route) and status."""

from __future__ import annotations

from time import perf_counter

from flask import Flask, Response, g, request

from engine import metrics

UNMATCHED = "<unmatched>"  # a path no route has (404): one label for all of them


def time_requests(app: Flask) -> None:
    """Start the clock before every other ``before_request`` and stop it after the response is made."""
    app.before_request_funcs.setdefault(None, []).insert(0, _start)
    app.after_request(_observe)


def _start() -> None:
    g.kmop_started = perf_counter()


def _observe(response: Response) -> Response:
    started = g.pop("kmop_started", None)
    if started is not None:
        route = request.url_rule.rule if request.url_rule is not None else UNMATCHED
        metrics.HTTP_DURATION.labels(
            route=route, method=request.method, status=str(response.status_code)
        ).observe(perf_counter() - started)
    return response
