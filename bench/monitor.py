"""Section 6: the monitor on a large database (PostgreSQL): the dashboard's queries, the whole dashboard and
the case lists behind its figures.

The cases are built by ``bench.monitor_build`` (90 % ended, the rest spread over the waits, with history).
Each figure is timed ``rounds`` times after three warm-ups, p50 and p95 against its target (the dashboard
200 ms, a list page 50 ms) and against baselines measured in the same run: a ``select 1`` round trip, a
primary-key fetch, ``count(*)`` of all instances, and the log-in page (Flask and templates, no list).

Three levels: each ``engine.monitor`` / ``tasks.monitoring`` query as the dashboard calls it (through the
engine facade, one read transaction each); ``web.monitor.dashboard.gather`` for one scope (every query of
the page, in one transaction); and the pages over HTTP (``/monitor/`` in full and its refresh, the case
lists its figures link to, the staff's task list), rendered through the application as a browser gets them.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

from sqlalchemy import select, text

from bench.common import Databases, percentile, say
from bench.monitor_build import build, samples

DASHBOARD_MS = 200.0
LIST_MS = 50.0
WARMUPS = 3


def _timed(call: Callable[[], Any], rounds: int) -> tuple[float, float]:
    """(p50, p95) in ms of ``rounds`` calls after the warm-ups; (nan, nan) when the call fails (its error is
    printed: the monitor's code moves under the benchmark, and one figure should not cost the others)."""
    try:
        for _ in range(WARMUPS):
            call()
    except Exception as exc:  # noqa: BLE001
        say(f"   failed: {type(exc).__name__}: {exc}".splitlines()[0][:200])
        return float("nan"), float("nan")
    samples_ms = []
    for _ in range(rounds):
        began = time.perf_counter()
        call()
        samples_ms.append((time.perf_counter() - began) * 1000)
    return percentile(samples_ms, 50), percentile(samples_ms, 95)


def _engine(dbs: Databases, url: str) -> Any:
    from engine.api import Engine
    from engine.config import PROJECT_ROOT, Settings
    from tasks.registry import default_registry

    eng = Engine(Settings.from_env({}, database_url=url, clock="system"), registry=default_registry())
    dbs.engines.append(eng)
    eng.init_db()
    with eng.transaction() as s:
        eng.deploy(s, [PROJECT_ROOT / "bpmn"])
    return eng


def _queries(eng: Any) -> dict[str, Callable[[Any], Any]]:
    """Each query of the dashboard as it calls it, by name: a call on a session."""
    from engine import clock
    from engine.monitor import Scope
    from tasks import monitoring
    from web.monitor.dashboard import edges

    now = clock.now()
    months, weeks, two_years = edges("month", 12, now), edges("week", 26, now), edges("month", 24, now)
    places = [(d.within, d.element) for d in monitoring.DEADLINES]
    wait, turnaround, reg = monitoring.AUDIT_REPORT_WAIT, monitoring.TURNAROUND, Scope("registration")
    wanted: dict[str, Callable[[Any], Any]] = {}
    for label, sc in (("reg", reg), ("all", Scope(None))):
        wanted.update({
            f"{label}.status_counts": lambda db, sc=sc: eng.status_counts(db, sc),
            f"{label}.waiting_now": lambda db, sc=sc: eng.waiting_now(db, sc),
            f"{label}.stay_spread_90d": lambda db, sc=sc: eng.stay_spread(db, sc, now - timedelta(days=90)),
            f"{label}.duration_by_month_12": lambda db, sc=sc: eng.duration_by_period(db, sc, months),
            f"{label}.age_bands_report": lambda db, sc=sc: eng.age_bands(db, sc, wait, turnaround, now),
            f"{label}.timers_due_30_90_365": lambda db, sc=sc: eng.timers_due(
                db, sc, places, now, monitoring.HORIZONS),
            f"{label}.started_by_week_26": lambda db, sc=sc: eng.started_by_period(db, sc, weeks),
            f"{label}.started_by_month_24": lambda db, sc=sc: eng.started_by_period(db, sc, two_years),
            f"{label}.incident_groups": lambda db, sc=sc: eng.incident_groups(db, sc),
        })  # fmt: skip
    wanted.update({
        "domain.deadlines_due": lambda db: monitoring.deadlines_due(db, reg, now),
        "domain.decisions_month_12": lambda db: monitoring.decisions(db, reg, months),
        "domain.outcomes_month_12": lambda db: monitoring.outcomes(db, reg, months),
        "domain.outcomes_week_26": lambda db: monitoring.outcomes(db, reg, weeks),
    })  # fmt: skip
    return wanted


def _gather(eng: Any, app: Any) -> dict[str, Callable[[Any], Any]]:
    """The whole dashboard of one scope, as the page gathers it (in a request context, for its links)."""
    from engine import clock
    from engine.monitor import Scope
    from web.monitor import dashboard

    def call(scope: Any, unit: str) -> Callable[[Any], Any]:
        def run(db: Any) -> Any:
            with app.test_request_context("/monitor/"):
                return dashboard.gather(db, eng, scope, clock.now(), 90, unit)

        return run

    def trends(unit: str) -> Callable[[Any], Any]:
        def run(db: Any) -> Any:
            with app.test_request_context("/monitor/trends"):
                return dashboard.trends(db, Scope("registration"), clock.now(), unit)

        return run

    return {
        "trends.registration_month": trends("month"),
        "trends.registration_week": trends("week"),
        "gather.registration_month": call(Scope("registration"), "month"),
        "gather.registration_week": call(Scope("registration"), "week"),
        "gather.all_processes": call(Scope(None), "month"),
    }


def _links(eng: Any, app: Any) -> dict[str, str]:
    """The case lists behind the dashboard's figures, as its links name them, and the staff's lists."""
    from engine import clock
    from engine.monitor import Scope
    from web.monitor import dashboard

    links: dict[str, str] = {
        "cases_all": "/dossiers/",
        "cases_search_name": "/dossiers/?q=Delta Advies",
        "cases_overdue": "/dossiers/?overdue=1",
        "tasks_first_page": "/vlaio/?lane=alle",
        "tasks_overdue": "/vlaio/?lane=alle&overdue=1",
    }
    try:
        with eng.transaction(write=False) as db, app.test_request_context("/monitor/"):
            board = dashboard.gather(db, eng, Scope("registration"), clock.now(), 90, "month")
            shown = dashboard.trends(db, Scope("registration"), clock.now(), "month")
    except Exception as exc:  # noqa: BLE001
        say(f"   the dashboard's links: {type(exc).__name__}: {exc}".splitlines()[0][:200])
        return links
    for c in board.statuses:
        asked = parse_qs(urlsplit(c.link or "").query)
        links[f"status_{(asked.get('status') or asked.get('outcome') or ['?'])[0]}"] = c.link or ""
    for e in board.elements:
        links[f"waiting_at_{e.element_id}"] = e.link
    for i, c in enumerate(board.turnaround):
        links[f"report_band_{i}"] = c.link or ""
    for d, code in zip(
        board.deadlines, ("starter_end", "conditional", "reg_end", "remind_1", "remind_2"), strict=False
    ):
        links[f"deadline_{code}_365d"] = d.counts[-1].link or ""
    for g in board.incidents:
        links[f"incidents_{g.element_id}"] = g.link
    if shown.chart.get("links"):
        links["chart_started_month"] = shown.chart["links"][-2]
    return {k: v for k, v in links.items() if v}


def monitor(dbs: Databases, url: str, cases: int, rounds: int) -> dict[str, Any]:
    """Build ``cases`` cases on ``url`` (PostgreSQL) and time the monitor's queries, dashboard and lists."""
    from bench.lists import _client
    from engine.models import ProcessInstance

    eng = _engine(dbs, url)
    began = time.perf_counter()
    sample = samples(eng)
    sampled = time.perf_counter() - began
    rows = build(eng, sample, cases)
    built = time.perf_counter() - began
    client = _client(eng)
    app = client.application
    middle = rows["process_instance"] // 2

    def in_session(query: Callable[[Any], Any]) -> Callable[[], Any]:
        def call() -> Any:
            with eng.transaction(write=False) as db:
                return query(db)

        return call

    def get(path: str) -> Callable[[], None]:
        def call() -> None:
            response = client.get(path)
            if response.status_code != 200:
                raise AssertionError(f"{path}: {response.status_code}")

        return call

    with eng.db.connect() as conn:
        server = str(conn.execute(text("SHOW server_version")).scalar())
    fig: dict[str, Any] = {
        "cases": rows["process_instance"],
        "rows": rows,
        "postgres": server,
        "build_s": built,
        "sample_s": sampled,
        "rounds": rounds,
        "baseline": {
            "select_1": _timed(in_session(lambda db: db.execute(text("select 1"))), rounds),
            "primary_key": _timed(
                in_session(
                    lambda db: db.scalar(select(ProcessInstance.status).where(ProcessInstance.id == middle))
                ),
                rounds,
            ),
            "count_instances": _timed(
                in_session(lambda db: db.scalar(text("SELECT count(*) FROM process_instance"))), rounds
            ),
            "login_page": _timed(get("/login"), rounds),
        },  # fmt: skip
        "figures": {},
    }
    for name, query in {**_queries(eng), **_gather(eng, app)}.items():
        fig["figures"][name] = (*_timed(in_session(query), rounds), DASHBOARD_MS)
    pages = {
        "page.monitor_registration": "/monitor/?process=registration",
        "page.monitor_refresh": "/monitor/?process=registration&partial=1",
        "page.monitor_weeks": "/monitor/?process=registration&unit=week&period=365",
        "page.monitor_all": "/monitor/?process=",
        "page.monitor_diagram": "/monitor/diagram/registration.bpmn",
        "page.monitor_trends": "/monitor/trends?process=registration&partial=1",
        "page.monitor_trends_weeks": "/monitor/trends?process=registration&unit=week&partial=1",
    }
    for name, path in pages.items():
        fig["figures"][name] = (*_timed(get(path), rounds), DASHBOARD_MS)
    fig["links"] = _links(eng, app)
    for name, path in fig["links"].items():
        fig["figures"][f"list.{name}"] = (*_timed(get(path), rounds), LIST_MS)
    return fig


def print_monitor(f: dict[str, Any]) -> None:
    rows = ", ".join(f"{t} {n:,}" for t, n in f["rows"].items() if t != "process_instance")
    say(
        f"\n== 6. Monitor (PostgreSQL {f['postgres']}): {f['cases']:,} cases; built in {f['build_s']:.0f} s "
        f"(real engine runs {f['sample_s']:.1f} s, the rest INSERT ... SELECT); {rows}"
    )
    base = f["baseline"]
    pk, count, login = base["primary_key"][1], base["count_instances"][1], base["login_page"][1]
    say(
        f"   baselines p95: select 1 {base['select_1'][1]:.2f} ms, primary key {pk:.2f} ms, "
        f"count(*) of all instances {count:.2f} ms, log-in page {login:.2f} ms ({f['rounds']} rounds)"
    )
    for name, (p50, p95, target) in f["figures"].items():
        verdict = "ok" if p95 <= target else "FAILED" if p95 != p95 else "OVER"
        versus = (
            f"{p95 / login:5.1f}x log-in"
            if name.startswith(("page.", "list."))
            else f"{p95 / count:5.1f}x count(*)"
        )
        say(f"   {name:<36} p50 {p50:7.1f} ms, p95 {p95:7.1f} ms = {versus}  [{verdict} <= {target:.0f} ms]")
