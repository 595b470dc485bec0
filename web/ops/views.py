"""``/healthz``, ``/readyz`` and ``/metrics``: answers for machines, in English, without personal data.

``/metrics`` is for operators (role ``beheerder``), a scraper with ``Authorization: Bearer
<KMOP_METRICS_TOKEN>``, or a client in ``KMOP_METRICS_NETWORKS``; everyone else gets 401 (nobody logged in,
no token) or 403, as plain text.
"""

from __future__ import annotations

import hmac
import ipaddress
from typing import Any

from flask import Response, g, jsonify, request

from engine import health, metrics

from ..auth import engine
from . import bp

OPERATOR = "beheerder"


@bp.get("/healthz")
@bp.get("/health")  # the older name, kept for what already polls it
def healthz() -> Any:
    """The process answers (nothing else is checked: no database)."""
    return jsonify(status="ok")


@bp.get("/readyz")
def readyz() -> Any:
    """Ready when the database answers, its migrations are current and a worker's heartbeat is young."""
    state = health.readiness(engine())
    response = jsonify(state.to_dict())
    response.status_code = 200 if state.ready else 503
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/metrics")
def scrape() -> Response:
    refused = _refusal()
    if refused is not None:
        return refused
    body, content_type = metrics.exposition(engine().transaction)
    return Response(body, 200, headers={"Content-Type": content_type, "Cache-Control": "no-store"})


def _refusal() -> Response | None:
    """None when the request may read the metrics, else the answer that says why not."""
    settings = engine().settings
    given = _bearer_token()
    if given is not None and settings.metrics_token:
        if hmac.compare_digest(given.encode(), settings.metrics_token.encode()):
            return None
        return _plain(403, "the bearer token is not the metrics token (KMOP_METRICS_TOKEN)")
    if _in_networks(request.remote_addr, settings.metrics_networks):
        return None
    if g.person is not None:
        if OPERATOR in g.roles:
            return None
        return _plain(403, "only operators (role beheerder) may read the metrics")
    answer = _plain(
        401, "log in as an operator (role beheerder) or send Authorization: Bearer <KMOP_METRICS_TOKEN>"
    )
    answer.headers["WWW-Authenticate"] = 'Bearer realm="kmop metrics"'
    return answer


def _bearer_token() -> str | None:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def _in_networks(address: str | None, networks: tuple[str, ...]) -> bool:
    if not address or not networks:
        return False
    try:
        client = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(client in ipaddress.ip_network(n, strict=False) for n in networks)


def _plain(status: int, text: str) -> Response:
    return Response(text + "\n", status, mimetype="text/plain")
