"""Case work in a real browser: a refusal without a reason is refused and the reason given is what the
provider reads; the agency's task list sorted by due date, with a task that became overdue after
``kmop clock advance`` (a separate process) standing out; the case page in words with its technical tab.

Screenshots: ``tests/artifacts/browser/casework_*.png``.
"""

from __future__ import annotations

import re
from typing import Any

from tasks import people
from tests.browser.conftest import ARTIFACTS, Site, add_person, open_page
from tests.kmop_cli import Kmop
from tests.procedures.conftest import Case, World

PROVIDER, AGENCY = "jan.acme", "an.vlaio"
REASON = "De verklaring op eer is door iemand zonder volmacht ondertekend."


def _people(site: Site) -> None:
    with site.engine.transaction() as db:
        acme = people.create_organisation(db, "Acme Opleidingen BV", "provider", "0566988259")
        add_person(db, PROVIDER, "Jan Peeters", acme, ("dienstverlener",))


def _shot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"casework_{name}.png"), full_page=True)


def test_refusal_needs_a_reason_overdue_tasks_stand_out_and_the_case_reads_in_words(
    browser: Any, site: Site
) -> None:
    _people(site)
    world = World(site.engine)
    world.counter = 100  # APP-0001 is the seeded case, waiting at the agency's check
    later = world.apply()
    later.sign_declarations()  # a second check, due later than the seeded case's

    # 1. The agency refuses the seeded declaration: first without a reason (refused), then with one.
    an = open_page(browser, site, AGENCY, "/vlaio/")
    seeded = Case(world, site.case_id, "APP-0001")
    an.goto(f"{site.url}/vlaio/taken/{seeded.task('check_declaration')}")
    an.get_by_label("Niet in orde").check()
    an.get_by_role("button", name="Taak afronden").click()
    error = an.locator(".field-error").first
    assert "verplicht" in error.inner_text()
    _shot(an, "1_refusal_without_reason")
    an.get_by_label("Toelichting").fill(REASON)
    an.get_by_role("button", name="Taak afronden").click()
    an.wait_for_url(f"{site.url}/vlaio/")

    # 2. The provider reads the reason on its case, and in the e-mail shown there.
    jan = open_page(browser, site, PROVIDER, f"/aanbieder/aanvragen/{site.case_id}")
    refused = jan.locator("dd.refused").inner_text()
    assert REASON in refused and "Geweigerd" in jan.locator("dl.summary").first.inner_text()
    jan.locator("ul.mails summary").first.click()
    assert REASON in jan.locator("pre.mail-body").first.inner_text()
    _shot(jan, "2_provider_reads_the_reason")

    # 3. Time passes in another process: the later check (due in 5 days) is now overdue.
    url = site.engine.settings.database_url
    Kmop(url).run("clock", "advance", "P6D")
    an.goto(f"{site.url}/vlaio/?sort=due")
    rows = an.locator("table.inbox tr.task")
    first = rows.first
    assert "overdue" in (first.get_attribute("class") or "") and later.key in first.inner_text()
    assert "Over tijd" in first.inner_text()
    _shot(an, "3_task_list_by_due_date_overdue")

    # 4. The staff case page in words; the technical tab keeps the ids.
    an.goto(f"{site.url}/dossiers/{later.id}")
    text = an.locator("main").inner_text()
    assert "Wacht bij: Verklaring op eer nakijken" in text and "check_declaration" not in text
    assert re.search(r"Ondernemingsnummer\s+0566\.988\.259", text)
    _shot(an, "4_case_in_words")
    an.get_by_role("link", name="Technische gegevens").click()
    assert "check_declaration" in an.locator("main").inner_text()
    _shot(an, "5_case_technical_tab")
