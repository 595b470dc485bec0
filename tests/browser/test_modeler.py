"""The analyst's workbench in a real browser: the 4-week reminder of ``registration`` becomes 3 weeks.

The analyst types an unquoted ``P3W`` in the properties panel and sees the problem listed and pinned on
the timer; ``"P3W"`` clears it and shows the moment the timer computes to. The draft is tried (the clock
jumps 3 weeks, the reminder fires), deployed as version 2 with a reason, compared with version 1 (the timer
coloured as changed), and the cases waiting for their audit report are migrated. Then the live clock goes 3
weeks on with the real ``kmop clock advance``, and a migrated case's reminder has fired. The editor loads
nothing from another host, and one look at it in English.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from babel.dates import format_date
from werkzeug.serving import make_server

from engine import clock
from engine.config import PROJECT_ROOT
from tasks import people
from tests.browser.conftest import ARTIFACTS, Site, add_person, log_in
from tests.conftest import make_engine
from tests.web.test_provider import to_report
from web import create_app
from web.i18n import BRUSSELS

TIMER = "report_after_4_weeks"
WAITING = ("APP-M-000001", "APP-M-000002")
SLOW = 60_000  # ms: a loaded 2-core machine, with bpmn-js importing a large diagram
REASON = "Herinnering na 3 weken in plaats van 4 (beslissing van december)"
APPLICATION = {
    "enterprise_number": "0566.988.259",
    "company_name": "Acme Opleidingen BV",
    "email": "info@acme.example",
    "iban": "BE48 0011 2345 6727",
    "bic": "GEBABEBB",
}


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """kmop on a SQLite file of its own (``kmop`` on the command line reaches it through the engine's
    database URL): an analyst, and two registrations waiting for their audit report. Try-outs are kept in
    the temporary folder too."""
    folder = tmp_path_factory.mktemp("modeler")
    previous = clock.active()
    engine = make_engine(f"sqlite:///{folder / 'kmop.sqlite3'}")
    with engine.transaction() as db:
        engine.deploy(db, [PROJECT_ROOT / "bpmn"])
        vlaio = people.create_organisation(db, "VLAIO", "agency")
        add_person(db, "ana.analist", "Ana", vlaio, ("analist",))
    cases = [to_report(engine, key) for key in WAITING]
    config = {"TESTING": True, "SECRET_KEY": "browser-test", "KMOP_TRYOUT_DIR": str(folder / "tryouts")}
    app = create_app(config, engine=engine)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="kmop-test-server", daemon=True)
    thread.start()
    try:
        yield Site(f"http://127.0.0.1:{server.server_port}", engine, cases[0])
    finally:
        server.shutdown()
        thread.join(timeout=10)
        engine.close()
        clock.install(previous)


def shot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"modeler_{name}.png"), full_page=True)


def dutch_day(moment: Any) -> str:
    return format_date(moment.astimezone(BRUSSELS), "d MMMM y", locale="nl")


def wait_for_text(page: Any, selector: str, text: str) -> None:
    """Wait until the element's text holds ``text`` (no string evaluation: the page's CSP forbids it)."""
    page.locator(selector, has_text=text).wait_for()


# ------------------------------------------------------------------------------------------ the steps


def edit_the_timer(page: Any, site: Site) -> None:
    """In the editor: select the timer, type an unquoted duration, see it refused and pinned; fix it."""
    page.wait_for_url(f"{site.url}/modeler/registration/edit")
    page.locator(f".djs-shape[data-element-id={TIMER}]").wait_for()
    page.click(f".djs-shape[data-element-id={TIMER}]")
    page.locator(".bio-properties-panel-header-label", has_text="4 weken zonder rapport").wait_for()
    page.click("[data-group-id=group-timer] .bio-properties-panel-group-header")
    value = page.locator("#bio-properties-panel-timerEventDefinitionValue")
    assert value.input_value() == '"P4W"'
    assert page.locator("#problems-none").is_visible()
    assert page.locator("#discard-form").is_hidden()  # nothing to throw away yet

    value.fill("")
    value.press_sequentially("P3W")
    # Saves may happen between two keys on a slow machine: wait for the one of the whole value.
    problem = page.locator(f"#problems li.problem[data-element={TIMER}]", has_text="P3W is not quoted")
    problem.wait_for()
    page.locator(f".kmop-problem[data-element={TIMER}]").wait_for()
    wait_for_text(page, "#save-status", "Opgeslagen op")
    words = " ".join(problem.inner_text().split())
    assert words.startswith("registration.bpmn · 4 weken zonder rapport (report_after_4_weeks)"), words
    assert "timer expression P3W is not quoted" in words and 'write "P3W"' in words  # kmop deploy's words
    assert page.locator("#deploy-button").is_disabled()
    assert page.locator("#discard-form").is_visible()
    shot(page, "4_unquoted_timer")

    value.fill("")
    value.press_sequentially('"P3W"')
    problem.wait_for(state="detached")
    page.locator("#problems-none").wait_for()
    now = clock.now()
    wait_for_text(page, "#timer-moment", f"valt deze timer op {dutch_day(now + timedelta(weeks=3))}")
    assert page.locator(".kmop-problem").count() == 0
    assert page.locator("#deploy-button").is_enabled()
    shot(page, "5_quoted_timer")


def try_the_draft(page: Any, site: Site) -> None:
    """On the try page: start the draft, bring it to the audit report, jump 3 weeks, see the reminder."""
    page.click("a:has-text('Dit ontwerp proberen')")
    page.wait_for_url(f"{site.url}/modeler/registration/try")
    page.click("#try-create button[type=submit]")
    start = page.locator("#try-start")
    start.wait_for()
    start.locator("#try-business-key").fill("PROEF-3W")
    for field, text in APPLICATION.items():
        start.locator(f"input[name={field}]").fill(text)
    start.get_by_label("Opleiding").check()
    start.get_by_label("Privé").check()
    shot(page, "6_try_start")
    start.locator("button[type=submit]").click()

    task = page.locator("#try-tasks li.try-task[data-element=sign_declaration]")
    task.locator("input[name=declaration_accepted]").check()
    task.locator("input[name=declared_by]").fill("Ana")
    task.locator("button[type=submit]").click()
    task = page.locator("#try-tasks li.try-task[data-element=check_declaration]")
    task.get_by_label("In orde", exact=True).check()
    task.locator("button[type=submit]").click()
    task = page.locator("#try-tasks li.try-task[data-element=choose_bureau]")
    task.get_by_label("Auditbureau").select_option("vincotte")
    task.get_by_label("Geschat aantal uren").fill("14")
    task.locator("button[type=submit]").click()
    page.locator("#try-waiting li[data-element=wait_report]").wait_for()
    page.locator("#try-diagram[data-state=ready]").wait_for()
    assert page.locator("#try-tasks li.try-task").count() == 0
    assert "4 weken zonder rapport" in page.inner_text("#try-timers")
    shot(page, "7_try_waits_for_the_report")

    page.locator("#try-duration").fill("P3W")
    page.locator("#try-advance button[type=submit]").click()
    jumped = page.locator("#try-steps > li.step", has_text="Klok P3W vooruitgezet")
    jumped.wait_for()
    events = jumped.locator(".step-events").inner_text()
    assert "4 weken zonder rapport: timer afgegaan" in events and "Herinnering versturen: afgerond" in events
    page.locator("#try-diagram[data-state=ready]").wait_for()
    assert page.locator("#try-diagram .djs-element.try-done[data-element-id=remind_report]").count() == 1
    shot(page, "8_try_reminder_fired")


def deploy_and_compare(page: Any, site: Site) -> None:
    """Deploy version 2 with a reason from the editor; see the timer coloured and listed in the diff."""
    page.click("a:has-text('Naar de editor')")
    page.wait_for_url(f"{site.url}/modeler/registration/edit")
    page.locator("#problems-none").wait_for()
    page.fill("#deploy-form textarea[name=reason]", REASON)
    page.click("#deploy-button")
    page.wait_for_url(f"{site.url}/modeler/registration")
    assert "Versie 2 is gepubliceerd." in page.inner_text("main")
    row = page.locator("#version-list tr[data-version='2']").inner_text()
    assert REASON in row and "ana.analist" in row
    assert REASON in page.inner_text("#trail-list")
    shot(page, "9_deployed")

    page.click("#version-list tr[data-version='2'] a:has-text('Verschil met versie 1')")
    page.wait_for_url(f"{site.url}/modeler/registration/diff?from=1&to=2")
    for box in ("#diff-old", "#diff-new"):
        page.locator(f"{box}[data-state=ready]").wait_for()
        assert page.locator(f"{box} .djs-element.diff-changed").count() == 1, box
        assert page.locator(f"{box} .djs-shape.diff-changed[data-element-id={TIMER}]").count() == 1, box
        badge = page.locator(f"{box} .djs-overlays[data-container-id={TIMER}] .diff-badge-changed")
        assert badge.inner_text() == "gewijzigd", box
    change = " ".join(page.locator(f"#diff-changes tr[data-element={TIMER}]").inner_text().split())
    assert change == '4 weken zonder rapport gewijzigd timer (duur) "P4W" "P3W"'
    shot(page, "10_diff")


def migrate_the_waiting_cases(page: Any, site: Site) -> None:
    page.click("a:has-text('Terug naar het proces')")
    page.click("#version-list tr[data-version='1'] a:has-text('Migreren naar versie 2')")
    page.wait_for_url(f"{site.url}/modeler/registration/migrate?from=1&to=2")
    assert page.inner_text("#mig-movable-count") == "2"
    assert "gewijzigd" in page.locator(f"#mig-elements tr[data-element={TIMER}]").inner_text()
    assert page.locator("#mig-cases input[name=case]:checked").count() == 2
    shot(page, "11_migration_preview")
    page.fill("#mig-reason", "Ook de lopende aanvragen krijgen hun herinnering na 3 weken")
    page.click("#mig-form button[type=submit]")
    page.locator("#mig-report").wait_for()
    assert page.inner_text("#mig-moved-count") == "2" and page.inner_text("#mig-refused-count") == "0"
    moved = page.locator(f"#mig-moved li[data-case='{site.case_id}']").inner_text()
    assert "4 weken zonder rapport: herberekend" in moved
    shot(page, "12_migration_report")


def advance_the_live_clock(site: Site) -> dict[str, Any]:
    """``kmop clock advance P3W`` on the site's database, as an operator would type it (it fires the timers
    due on the way, like the worker)."""
    env = {**os.environ, "KMOP_DATABASE_URL": site.engine.settings.database_url, "KMOP_CLOCK": "simulated"}
    kmop = Path(sys.executable).with_name("kmop")
    done = subprocess.run(
        [str(kmop), "clock", "advance", "P3W", "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    answer: dict[str, Any] = json.loads(done.stdout)
    return answer


def see_the_reminder_fired(page: Any, site: Site) -> None:
    with site.engine.transaction(write=False) as db:
        case = site.engine.show(db, site.case_id)
    assert case.version == 2
    fired = [h for h in case.history if h.event == "timer_fired" and h.element_id == TIMER]
    assert [h.at for h in fired] == [case.created_at + timedelta(weeks=3)]
    assert any(h.event == "task_completed" and h.element_id == "remind_report" for h in case.history)
    assert [t.element_id for t in case.timers] == ["report_after_6_weeks"]  # still waits for the report
    page.click(f"#mig-moved li[data-case='{site.case_id}'] a")
    page.wait_for_url(f"{site.url}/dossiers/{site.case_id}")
    fired_on = f"{fired[0].at.astimezone(BRUSSELS):%d/%m/%Y %H:%M}"
    history = page.locator(".history-lines li", has_text=fired_on).all_inner_texts()
    assert any("Termijn verstreken: 4 weken zonder rapport" in line for line in history), history
    assert any("Stap afgerond: Herinnering versturen" in line for line in history), history
    shot(page, "13_case_reminded")


# ------------------------------------------------------------------------------------------ the walk


def test_the_analyst_changes_the_reminder_to_three_weeks(page: Any, site: Site) -> None:
    page.set_default_timeout(SLOW)
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    failures: list[str] = []
    page.on("pageerror", lambda error: failures.append(str(error)))
    page.on("console", lambda m: m.type in ("error", "warning") and failures.append(f"{page.url}: {m.text}"))

    log_in(page, site, "ana.analist", "/modeler/")
    shot(page, "1_list")
    page.click("a[href='/modeler/registration']")
    page.wait_for_url(f"{site.url}/modeler/registration")
    shot(page, "2_process")
    requested.clear()
    page.click("#edit-link")
    page.locator("#save-status", has_text="Nog geen ontwerp").wait_for()
    page.locator("#editor-tabs [role=tab]", has_text="registration.bpmn").wait_for()
    shot(page, "3_editor")
    outside = [url for url in requested if not url.startswith(f"{site.url}/")]
    assert requested and not outside, outside

    edit_the_timer(page, site)
    try_the_draft(page, site)
    deploy_and_compare(page, site)
    migrate_the_waiting_cases(page, site)
    assert advance_the_live_clock(site)["fired"] >= 1
    see_the_reminder_fired(page, site)
    assert not failures, failures


def test_the_editor_in_english(page: Any, site: Site) -> None:
    page.set_default_timeout(SLOW)
    log_in(page, site, "ana.analist", "/modeler/registration/edit")
    page.click(".languages button[lang=en]")
    page.wait_for_url(f"{site.url}/modeler/registration/edit")
    # The walk above may have left a draft on this site (same worker) or not (another worker): both are
    # English once the editor has loaded.
    # English whichever state the draft is in (loaded, saved, being saved after the load dirtied it).
    english = re.compile(r"^(No draft yet:|Saved on |Saving…|Changes not saved yet…)")
    failed = re.compile(r"^(Saving failed|The draft could not be loaded)")
    page.locator("#save-status", has_text=re.compile(f"{english.pattern}|{failed.pattern}")).wait_for()
    status = page.inner_text("#save-status")
    if failed.match(status):  # say what went wrong at once (a CI run waited 60 s for a status not listed)
        shot(page, "14_editor_english_failed")
    assert english.match(status), f"the editor in English says: {status!r}"
    page.click(f".djs-shape[data-element-id={TIMER}]")
    page.click("[data-group-id=group-timer] .bio-properties-panel-group-header")
    page.locator("#timer-moment", has_text="2").wait_for()
    shot(page, "14_editor_english")
    assert "With the engine's clock set to" in page.inner_text("#timer-moment")
    for english in ("Problems", "No problems: this draft can be deployed.", "Why this new version?"):
        assert english in page.inner_text("main"), english
    assert page.inner_text("#deploy-button") == "Deploy as a new version"
