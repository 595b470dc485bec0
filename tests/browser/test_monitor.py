"""The monitor in a real browser (Debian Chromium), with screenshots under tests/artifacts/browser.

A team lead opens the dashboard of ``registration``: the counts on the diagram's elements are the cases
made here; after the real ``kmop clock advance P5W`` one application's audit report is late, counted in the
4-6 week band, and the band's link leads to that case alone; an incident of a failing service is retried
from the dashboard and the case goes on; the chart is drawn; the figures refresh in place; the page in
English and on a phone.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from werkzeug.serving import make_server

from engine import clock
from engine.config import PROJECT_ROOT
from engine.monitor import Scope
from engine.services import ServiceContext
from tasks import people
from tasks.procedures import summarize_audit
from tests.browser.conftest import ARTIFACTS, Site, add_person, log_in
from tests.conftest import make_engine
from tests.web.test_provider import full_scores, to_report
from web import create_app

SLOW = 60_000  # ms: a loaded 2-core machine
DOWN = {"yes": True}


def flaky_summary(ctx: ServiceContext, scores: dict[str, Any], audit_type: str) -> dict[str, Any]:
    """The audit summary service, unreachable until the test says otherwise."""
    if DOWN["yes"]:
        raise ConnectionError("audit summary service unreachable")
    return summarize_audit(ctx, scores, audit_type)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """kmop on a SQLite file of its own (reached by ``kmop`` on the command line), with a team lead."""
    folder = tmp_path_factory.mktemp("monitor")
    previous = clock.active()
    engine = make_engine(f"sqlite:///{folder / 'kmop.sqlite3'}")
    engine.registry.register("summarize_audit", flaky_summary)
    with engine.transaction() as db:
        engine.deploy(db, [PROJECT_ROOT / "bpmn"])
        vlaio = people.create_organisation(db, "VLAIO", "agency")
        add_person(db, "lea.teamlead", "Lea", vlaio, ("vlaio",))
    app = create_app({"TESTING": True, "SECRET_KEY": "browser-test"}, engine=engine)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="kmop-test-server", daemon=True)
    thread.start()
    try:
        yield Site(f"http://127.0.0.1:{server.server_port}", engine, 0)
    finally:
        server.shutdown()
        thread.join(timeout=10)
        engine.close()
        clock.install(previous)


def shot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"monitor_{name}.png"), full_page=True)


def kmop_clock_advance(site: Site, duration: str) -> dict[str, Any]:
    """``kmop clock advance`` on the site's database, as an operator types it (it fires the timers due)."""
    env = {**os.environ, "KMOP_DATABASE_URL": site.engine.settings.database_url, "KMOP_CLOCK": "simulated"}
    kmop = Path(sys.executable).with_name("kmop")
    done = subprocess.run(
        [str(kmop), "clock", "advance", duration, "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    answer: dict[str, Any] = json.loads(done.stdout)
    return answer


def badge(page: Any, element: str) -> str:
    return str(page.locator(f".heat-badge[data-element={element}]").inner_text())


def test_a_team_lead_watches_the_registrations(page: Any, site: Site) -> None:
    engine = site.engine
    late = to_report(engine, "APP-MON-0001")
    assert kmop_clock_advance(site, "P5W")["fired"] >= 1  # its 4-week reminder fires on the way
    recent = [to_report(engine, key, services=["advice"]) for key in ("APP-MON-0002", "APP-MON-0003")]
    failing = to_report(engine, "APP-MON-0004", services=["advice"])
    engine.advance_clock(clock.now() + timedelta(days=6))  # its report comes after 6 days
    report = {"application_id": "APP-MON-0004", "report_id": "R-4", "audit_type": "full"}
    with engine.transaction() as db:
        engine.message(db, "audit_report", None, {**report, "scores": full_scores()})
    for _ in range(5):  # past the automatic retries: an incident
        engine.advance_clock(clock.now() + timedelta(minutes=30))
    with engine.transaction(write=False) as db:
        waiting = engine.waiting_now(db, Scope("registration"))
        assert engine.status_counts(db, Scope("registration")) == {"waiting": 3, "error": 1}
    assert waiting["wait_report"] == 3

    page.set_default_timeout(SLOW)
    log_in(page, site, "lea.teamlead", "/monitor/")
    page.locator("#monitor-diagram[data-state=ready]").wait_for()
    page.locator("#monitor-chart[data-drawn=true]").wait_for()
    # the counts on the diagram are the cases made above
    assert badge(page, "wait_report") == "3"
    assert page.locator(".heat-badge[data-element=report_after_6_weeks]").count() == 0  # a boundary event
    assert page.locator(".djs-element.heat-4[data-element-id=wait_report]").count() == 1
    shot(page, "1_dashboard")

    # the late report: in the 4-6 week band, and its link leads to that case alone
    band = page.locator("[data-band='2'] a")
    assert band.locator(".count").inner_text() == "1"
    assert page.locator("[data-band='1'] .count").inner_text() == "2"
    band.click()
    page.wait_for_url("**/dossiers/**")
    rows = page.locator("tr[data-case]")
    assert rows.count() == 1 and rows.first.get_attribute("data-case") == str(late)
    assert "wacht bij “Wachten op auditrapport”, begonnen na" in page.inner_text(".monitor-filter")
    shot(page, "2_late_report_case")
    page.go_back()

    # the heatmap by time spent: the one report received came after 6 days
    page.locator("#monitor-diagram[data-state=ready]").wait_for()
    page.click(".heat-modes button[data-mode=median]")
    page.locator("#monitor-diagram[data-mode=median]").wait_for()
    assert badge(page, "wait_report") == "6 dagen"
    shot(page, "3_heatmap_time_spent")
    page.click(".heat-modes button[data-mode=waiting]")

    # the incident, retried from the dashboard once the service is back
    group = page.locator("tr[data-incident-group=ConnectionError]")
    assert "Auditrapport samenvatten" in group.inner_text()
    assert "unreachable" in group.inner_text()
    shot(page, "4_incident")
    DOWN["yes"] = False
    group.locator("button", has_text="Alle 1 opnieuw proberen").click()
    page.locator(".flash", has_text="Opnieuw geprobeerd: 1.").wait_for()
    page.locator("text=Geen open incidenten.").wait_for()
    with engine.transaction(write=False) as db:
        assert "decide" in [t.element_id for t in engine.show(db, failing).ready_tasks]
    page.locator("#monitor-diagram[data-state=ready]").wait_for()
    assert badge(page, "decide") == "1"

    # the figures refresh in place (no reload): a new application shows up on the diagram
    to_report(engine, "APP-MON-0005", services=["advice"])
    page.click(".monitor-steps summary")  # a table the reader opened stays open
    page.evaluate("window.kmopMonitor.refresh()")
    page.locator("#monitor-figures[data-refreshed='1']").wait_for()
    assert page.locator(".monitor-steps[open]").count() == 1
    page.locator(".heat-badge[data-element=wait_report]", has_text="4").wait_for()
    assert recent  # (the two recent ones are in band 1 above)
    shot(page, "5_refreshed")

    # in English, and on a phone
    page.click(".languages button[lang=en]")
    page.wait_for_url(f"{site.url}/monitor/")
    page.locator("#monitor-chart[data-drawn=true]").wait_for()
    for text in ("Cases by status", "Audit reports: the 4 to 6 week turnaround", "Deadlines coming up"):
        assert text in page.inner_text("main"), text
    shot(page, "6_english")
    page.set_viewport_size({"width": 390, "height": 844})
    page.reload()
    page.locator("#monitor-diagram[data-state=ready]").wait_for()
    width = page.evaluate("document.documentElement.scrollWidth")
    shot(page, "7_phone")
    assert width <= 430, f"the page scrolls sideways on a phone ({width} px)"
