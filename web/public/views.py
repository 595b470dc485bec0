"""The public register page: no log-in; running registrations only."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, render_template, request

from tasks.register import SERVICE_NL, STATUS_NL
from web.auth import engine

from . import search

bp = Blueprint("public", __name__, template_folder="templates")
MAX_QUERY = 200


@bp.get("/")
def index() -> Any:
    query = (request.args.get("q") or "").strip()[:MAX_QUERY]
    with engine().transaction() as db:
        entries = search.search(db, query)
    return render_template(
        "public/register.html", query=query, entries=entries, services=SERVICE_NL, statuses=STATUS_NL
    )
