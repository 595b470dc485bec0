"""The public register page: no log-in; running registrations only."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, render_template, request

from engine import clock
from tasks import dates, register
from tasks.register import SERVICE_NL, STATUS_NL
from tasks.validation import format_enterprise_number
from web import lists
from web.auth import engine

from . import search

bp = Blueprint("public", __name__, template_folder="templates")
bp.record_once(lists.init_app)


@bp.get("/")
def index() -> Any:
    paging = lists.Paging.from_args(request.args, search.SORTS, "name")
    with engine().transaction() as db:
        found = search.search(db, paging.text, paging.sort, paging.descending, paging.offset)
    return render_template(
        "public/register.html",
        query=paging.text,
        paging=paging,
        entries=found.entries,
        pager=lists.pager(found.offset, len(found.entries), found.total),
        services=SERVICE_NL,
        statuses=STATUS_NL,
    )


@bp.get("/<number>")
def entry(number: str) -> Any:
    """One registration, whatever its status: where the link and QR code on a certificate lead."""
    with engine().transaction() as db:
        reg = register.find(db, number)
        if reg is None:
            abort(404)
        changes = register.history(db, reg)
        since = next((c.on_date for c in reversed(changes) if c.status == reg.status), reg.valid_until)
        shown = {
            "number": reg.number,
            "company_name": reg.company_name,
            "enterprise_number": format_enterprise_number(reg.enterprise_number),
            "service": SERVICE_NL.get(reg.service, reg.service),
            "status": STATUS_NL.get(reg.status, reg.status),
            "running": reg.status in register.RUNNING,
            "periods": register.periods(reg, dates.today(clock.now())),
            "since": since,
        }
    return render_template("public/entry.html", entry=shown)
