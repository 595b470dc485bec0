"""Each role's home page: what waits for me. A provider sees its tasks with their due dates, its running
applications and the deadlines of its registrations; an audit bureau the reports it owes; agency staff the
agency's tasks (how many, how many late) and the registrations' deadlines to come; an operator the open
incidents. Every figure links to the list behind it; the database counts (pages of one row)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import Flask, g, render_template
from sqlalchemy.orm import Session

from engine import clock
from engine.pages import DUE_FIRST, InstanceQuery, Match, TaskQuery
from tasks import dates, register, renewal

from .access import organisation_of
from .auth import engine
from .provider import casework

PROVIDER_LANE = "Dienstverlener"
AGENCY = {"vlaio", "beheerder"}  # who works the agency's task list (/vlaio/)
AGENCY_LANE = "VLAIO (agentschap)"
SHOWN = 8  # tasks and deadlines listed on a home page (the list pages have the rest)
HORIZON = {"provider": 365, "staff": 90}  # days of deadlines ahead


def init_app(app: Flask) -> None:
    app.add_url_rule("/", "home", home)


def home() -> Any:
    if g.person is None:
        return render_template("home.html", panels={})
    eng = engine()
    panels: dict[str, Any] = {}
    now = clock.now()
    today = dates.today(now)
    with eng.transaction() as db:
        if g.roles & {"dienstverlener", "lokale_beheerder"}:
            panels["provider"] = _provider(db, today)
        if "auditbureau" in g.roles:
            panels["bureau"] = _bureau(db)
        if g.roles & AGENCY:
            panels["staff"] = _staff(db, today)
        if g.roles & {"beheerder", "analist"}:
            error = eng.instance_page(db, InstanceQuery(status="error"), limit=1)
            panels["operator"] = {"errors": error.total}
    return render_template("home.html", panels=panels, now=now)


def _provider(db: Session, today: Any) -> dict[str, Any]:
    eng = engine()
    org = organisation_of(db, g.person)
    scope = (Match(attributes={"enterprise_number": org.enterprise_number}),) if org.enterprise_number else ()
    tasks = eng.task_page(db, TaskQuery(lane=PROVIDER_LANE, scope=scope), DUE_FIRST, 0, SHOWN)
    running = eng.instance_page(db, InstanceQuery(status="waiting", scope=scope), limit=1)
    until = today + timedelta(days=HORIZON["provider"])
    deadlines = (
        register.coming_deadlines(db, today, until, org.enterprise_number, SHOWN)
        if org.enterprise_number
        else []
    )
    return {"org": org.name, "tasks": tasks, "running": running.total, "deadlines": deadlines}


def _bureau(db: Session) -> dict[str, Any]:
    eng = engine()
    code = organisation_of(db, g.person).audit_bureau_code
    if not code:
        return {"reports": None}
    requested = renewal.applications_of_bureau(db, code)
    scope = (Match(attributes={"audit_bureau": code}), Match(business_keys=requested))
    waits = tuple(casework.REPORT_WAITS)
    reports = eng.instance_page(db, InstanceQuery(waiting_at=waits, scope=scope), DUE_FIRST, 0, SHOWN)
    return {"reports": reports}


def _staff(db: Session, today: Any) -> dict[str, Any]:
    eng = engine()
    tasks = eng.task_page(db, TaskQuery(lane=AGENCY_LANE), DUE_FIRST, 0, SHOWN)
    late = eng.task_page(db, TaskQuery(lane=AGENCY_LANE, overdue_at=clock.now()), limit=1)
    until = today + timedelta(days=HORIZON["staff"])
    return {
        "tasks": tasks,
        "late": late.total,
        "deadlines": register.coming_deadlines(db, today, until, None, SHOWN),
        "days": HORIZON["staff"],
    }
