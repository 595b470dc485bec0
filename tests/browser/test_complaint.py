"""A complaint and its appeal in a real browser: the provider files it, the bureau answers late (after the
simulated clock passed the deadline and the reminder went out), the provider appeals, the supervisory
committee decides, and the provider reads the decision.

Screenshots: ``tests/artifacts/browser/complaint_*.png``.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from engine import clock
from tasks import people
from tests.browser.conftest import ARTIFACTS, Site, add_person, open_page

PROVIDER, AUDITOR, COMMITTEE = "jan.acme", "auditor.dnv", "an.vlaio"


def _audited(site: Site) -> None:
    """The seeded Acme case on to its audit by DNV, and the people of Acme and DNV."""
    eng = site.engine
    with eng.transaction() as db:
        acme = people.create_organisation(db, "Acme Opleidingen BV", "provider", "0566988259")
        dnv = people.create_organisation(db, "DNV", "audit_bureau", audit_bureau_code="dnv")
        for username, name, org, roles in (
            (PROVIDER, "Jan Peeters", acme, ("dienstverlener",)),
            (AUDITOR, "Dirk Auditor", dnv, ("auditbureau",)),
        ):
            add_person(db, username, name, org, roles)
    for element, data in (
        ("check_declaration", {"decision": "approve"}),
        ("choose_bureau", {"audit_bureau": "dnv", "audit_hours": 12}),
    ):
        with eng.transaction() as db:
            [task] = [t for t in eng.show(db, site.case_id).ready_tasks if t.element_id == element]
            eng.complete(db, task.id, data, actor="test")


def _shot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"complaint_{name}.png"), full_page=True)


def _complete(page: Any, task_name: str, choice: str, text_field: str, text: str) -> None:
    page.click(f"a:has-text('{task_name}')")
    page.check(f"input[value={choice}]")
    page.fill(f"textarea[name={text_field}]", text)
    page.click("form.form button[type=submit]")
    page.wait_for_selector("p.flash")


def test_complaint_answered_late_appealed_and_decided(browser: Any, site: Site) -> None:
    _audited(site)
    jan = open_page(browser, site, PROVIDER, "/klachten/")
    jan.click("a:has-text('Klacht indienen')")
    jan.select_option("select[name=audit]", "APP-0001|dnv")
    jan.check("input[value=verdict]")
    jan.fill(
        "textarea[name=complaint_text]",
        "Het oordeel over de module kennis houdt geen rekening met ons dossier.",
    )
    _shot(jan, "1_form")
    jan.click("form.form button[type=submit]")
    jan.wait_for_selector("text=Uw klacht")
    complaint_url = jan.url
    assert "Wacht op het antwoord van het auditbureau" in jan.inner_text(".complaint-state")
    _shot(jan, "2_filed")

    site.engine.advance_clock(clock.now() + timedelta(days=31))  # past the 30-day answer deadline
    dirk = open_page(browser, site, AUDITOR, "/klachten/")
    assert "Over tijd" in dirk.inner_text("table.complaint-tasks")
    dirk.goto(complaint_url)
    mails = dirk.inner_text("table.mails")
    assert "Herinnering: klacht" in mails and "nog niet beantwoord" in mails
    _shot(dirk, "3_reminder_sent")
    _complete(
        dirk,
        "Klacht beantwoorden",
        "unfounded",
        "answer_text",
        "De auditor volgde de werkwijze van het bureau.",
    )
    _shot(dirk, "4_answered_late")

    jan.goto(complaint_url)
    assert "De auditor volgde de werkwijze van het bureau." in jan.inner_text(".complaint-answer")
    _complete(jan, "Beroep overwegen", "appeal", "appeal_text", "Het bureau bekeek ons dossier niet.")
    _shot(jan, "5_appealed")

    an = open_page(browser, site, COMMITTEE, "/klachten/")
    _complete(
        an,
        "Beslissen over beroep",
        "upheld",
        "appeal_decision_note",
        "Het comité vraagt een nieuwe audit door een ander bureau.",
    )
    jan.goto(complaint_url)
    decision = jan.inner_text(".appeal-decision")
    assert "Beroep gegrond" in decision and "nieuwe audit door een ander bureau" in decision
    assert "Beroep beslist: gegrond" in jan.inner_text(".complaint-state")
    _shot(jan, "6_decision_seen_by_provider")
    jan.goto(f"{site.url}/dossiers/{complaint_url.rsplit('/', 1)[-1]}")
    assert "Herinnering versturen" in jan.content()
    _shot(jan, "7_history")
