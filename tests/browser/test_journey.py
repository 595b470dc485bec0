"""A whole registration in a real browser, each party on its own pages, with a screenshot per step.

The local administrator grants the provider profile, the colleague applies (first with a wrong IBAN),
signs the declaration of honour, VLAIO checks it, the provider chooses DNV, DNV's auditor submits the
report, VLAIO decides, and the provider downloads the certificate. Screenshots and the certificate go to
``tests/artifacts/browser/journey/``.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tasks import people
from tests.browser.conftest import ARTIFACTS, Site, add_person, log_in

SHOTS = ARTIFACTS / "journey"
MODULES = ("activity", "experience", "satisfaction", "knowledge", "integrity")
ENTERPRISE_NUMBER = "1001234592"  # not the seeded case's company, so only this journey's case is ours
ADMIN, COLLEAGUE, AUDITOR, AGENCY = "admin.beta", "jan.beta", "auditor.dnv", "an.vlaio"


def _people(site: Site) -> None:
    """The people the seeded site lacks: a provider's local administrator and colleague, DNV's auditor."""
    with site.engine.transaction() as db:
        beta = people.create_organisation(db, "Beta Vorming BV", "provider", ENTERPRISE_NUMBER)
        dnv = people.create_organisation(db, "DNV", "audit_bureau", audit_bureau_code="dnv")
        for username, name, org, roles in (
            (ADMIN, "Anna Admin", beta, ("lokale_beheerder",)),
            (COLLEAGUE, "Jan Peeters", beta, ()),
            (AUDITOR, "Dirk Auditor", dnv, ("auditbureau",)),
        ):
            add_person(db, username, name, org, roles)


class Journey:
    """One browser context (own cookies) per person, and the numbered screenshots."""

    def __init__(self, browser: Any, site: Site) -> None:
        self.browser, self.site = browser, site
        self.pages: dict[str, Any] = {}
        self.contexts: list[Any] = []
        self.shots = 0
        self.problems: list[str] = []

    def page_of(self, username: str, target: str) -> Any:
        """``username``'s page, logged in on first use, at ``target``."""
        page = self.pages.get(username)
        if page is None:
            context = self.browser.new_context(
                viewport={"width": 1400, "height": 1000}, locale="nl-BE", accept_downloads=True
            )
            self.contexts.append(context)
            page = context.new_page()
            page.set_default_timeout(15_000)
            page.on("pageerror", lambda error: self.problems.append(f"{username}: {error}"))
            page.on("console", lambda m: self.console_error(username, m))
            page.on("response", lambda r: self.server_error(username, r))
            log_in(page, self.site, username, target)
            self.pages[username] = page
        else:
            page.goto(f"{self.site.url}{target}")
        return page

    def console_error(self, username: str, message: Any) -> None:
        """A script error or a refusal by the Content-Security-Policy (a 400 for a wrong form is expected)."""
        if message.type == "error" and not message.text.startswith("Failed to load resource"):
            self.problems.append(f"{username}: {message.text}")

    def server_error(self, username: str, response: Any) -> None:
        if response.status >= 500:
            self.problems.append(f"{username}: {response.status} {response.url}")

    def shot(self, page: Any, step: str) -> None:
        self.shots += 1
        page.screenshot(path=str(SHOTS / f"{self.shots:02d}_{step}.png"), full_page=True)

    def close(self) -> None:
        for context in self.contexts:
            context.close()


@pytest.fixture
def journey(browser: Any, site: Site) -> Iterator[Journey]:
    _people(site)
    SHOTS.mkdir(parents=True, exist_ok=True)
    for old in [*SHOTS.glob("*.png"), *SHOTS.glob("*.pdf")]:
        old.unlink()
    trip = Journey(browser, site)
    try:
        yield trip
    finally:
        trip.close()


def inbox_task(page: Any, key: str, name: str) -> Any:
    """The link to task ``name`` of case ``key`` in the agency's inbox."""
    return page.locator("table.inbox tr.task", has_text=key).get_by_role("link", name=name)


def pdf_text(data: bytes) -> str:
    from pypdf import PdfReader

    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages)


def test_a_whole_registration_through_every_partys_pages_in_a_browser(journey: Journey, site: Site) -> None:
    from playwright.sync_api import expect

    # 1. The local administrator grants the provider profile to Jan, who lacks it.
    admin = journey.page_of(ADMIN, "/aanbieder/gebruikers")
    expect(admin.locator("h1")).to_have_text("Gebruikers van Beta Vorming BV")
    jan_row = admin.locator("table.users tbody tr", has_text=COLLEAGUE)
    expect(jan_row.locator("td").nth(3)).to_have_text("nee")
    jan_row.get_by_role("button", name="Recht toekennen").click()
    expect(admin.locator("p.flash")).to_have_text("Jan Peeters kreeg het profiel dienstverlener.")
    expect(jan_row.locator("td").nth(3)).to_have_text("ja")
    expect(jan_row.get_by_role("button", name="Recht intrekken")).to_be_visible()
    journey.shot(admin, "admin_granted_profile")

    # 2. Jan applies with a wrong IBAN: the error stands beside the IBAN field, the rest is kept.
    jan = journey.page_of(COLLEAGUE, "/aanbieder/")
    jan.get_by_role("link", name="Nieuwe aanvraag").click()
    expect(jan.locator("h1")).to_have_text("Aanvraag tot registratie als dienstverlener")
    expect(jan.get_by_label("Ondernemingsnummer")).to_have_value("1001.234.592")
    expect(jan.get_by_label("Ondernemingsnummer")).to_have_attribute("readonly", "")
    typed = {
        "Naam van de onderneming": "Beta Vorming & Advies BV",
        "E-mailadres": "info@beta-vorming.be",
        "IBAN": "BE69 5390 0754 7034",
        "BIC": "GEBABEBB",
    }
    for label, value in typed.items():
        jan.get_by_label(label).fill(value)
    jan.get_by_label("Opleiding", exact=True).check()
    jan.get_by_label("Advies", exact=True).check()
    jan.get_by_label("Privé").check()
    journey.shot(jan, "application_typed")
    jan.get_by_role("button", name="Aanvraag indienen").click()

    iban_field = jan.locator('div.field[data-field="iban"]')
    expect(iban_field).to_have_class(re.compile(r"\bhas-error\b"))
    expect(iban_field.locator("p.field-error#f-iban-error")).to_have_text(re.compile(r"^IBAN: \S"))
    expect(jan.get_by_label("IBAN")).to_have_attribute("aria-invalid", "true")
    expect(jan.locator("p.field-error")).to_have_count(1)
    for label, value in typed.items():
        expect(jan.get_by_label(label)).to_have_value(value)
    expect(jan.get_by_label("Opleiding", exact=True)).to_be_checked()
    expect(jan.get_by_label("Advies", exact=True)).to_be_checked()
    expect(jan.get_by_label("Privé")).to_be_checked()
    expect(jan.get_by_label("Ondernemingsnummer")).to_have_value("1001.234.592")
    journey.shot(jan, "application_wrong_iban")

    jan.get_by_label("Advies", exact=True).uncheck()  # one service: one declaration to sign
    jan.get_by_label("IBAN").fill("BE48 0011 2345 6727")
    jan.get_by_label("BIC").fill("GEBABEBB")
    jan.get_by_role("button", name="Aanvraag indienen").click()
    jan.wait_for_url(re.compile(r"/aanbieder/aanvragen/\d+$"))
    case_url = jan.url.removeprefix(site.url)
    key = jan.locator("h1").inner_text().removeprefix("Dossier ").strip()
    assert re.fullmatch(r"APP-\d{4}-[0-9A-F]{6}", key), key
    expect(jan.locator("p.flash")).to_have_text(f"Uw aanvraag {key} is ingediend.")
    expect(jan.locator("dl.summary").first).to_contain_text("Verklaring op eer ondertekenen")
    expect(jan.locator("dl.summary").nth(1)).to_contain_text("Beta Vorming & Advies BV")
    expect(jan.locator("dl.summary").nth(1)).to_contain_text("info@beta-vorming.be")
    journey.shot(jan, "application_submitted")

    # 3. Jan signs the declaration of honour.
    jan.locator("ul.tasks").get_by_role("link", name="Verklaring op eer ondertekenen (per dienst)").click()
    expect(jan.locator("p.service")).to_contain_text("Opleiding")
    jan.get_by_label("Ik onderteken de verklaring op eer").check()
    expect(jan.get_by_label("Naam van de ondertekenaar")).to_have_value("Jan Peeters")
    journey.shot(jan, "declaration_form")
    jan.get_by_role("button", name="Taak afronden").click()
    jan.wait_for_url(f"{site.url}{case_url}")
    expect(jan.locator("p.flash")).to_have_text("De taak is afgerond.")
    expect(jan.locator("dl.summary").first).to_contain_text("Verklaring op eer wordt nagekeken")
    journey.shot(jan, "declaration_signed")

    # 4. VLAIO approves the declaration check from its inbox.
    an = journey.page_of(AGENCY, "/vlaio/")
    inbox_task(an, key, "Verklaring op eer nakijken").click()
    expect(an.locator("h1")).to_contain_text(key)
    an.get_by_label("In orde", exact=True).check()
    an.get_by_label("Toelichting").fill("Verklaring ondertekend door Jan Peeters.")
    journey.shot(an, "declaration_check_form")
    an.get_by_role("button", name="Taak afronden").click()
    an.wait_for_url(f"{site.url}/vlaio/")
    expect(an.locator("p.flash")).to_have_text("De taak is afgerond.")
    expect(an.locator("table.inbox tr.task", has_text=key)).to_have_count(0)
    journey.shot(an, "declaration_checked")

    # 5. Jan chooses DNV and the hours.
    jan.goto(f"{site.url}{case_url}")
    jan.locator("ul.tasks").get_by_role("link", name="Auditbureau kiezen").click()
    expect(jan.locator("p.description")).to_contain_text("EUR 150 per uur")
    jan.get_by_label("Auditbureau").select_option(label="DNV")
    jan.get_by_label("Geschat aantal uren").fill("12")
    journey.shot(jan, "bureau_form")
    jan.get_by_role("button", name="Taak afronden").click()
    jan.wait_for_url(f"{site.url}{case_url}")
    expect(jan.locator("dl.summary").first).to_contain_text("Wacht op het auditrapport")
    expect(jan.locator("dl.summary").nth(1)).to_contain_text("DNV")  # the bureau by its name, not its code
    journey.shot(jan, "bureau_chosen")

    # 6. DNV's auditor submits a positive full report.
    auditor = journey.page_of(AUDITOR, "/auditbureau/")
    row = auditor.locator("table.audits.open tbody tr", has_text=key)
    expect(row).to_contain_text("12")
    row.get_by_role("link", name="Auditrapport indienen").click()
    expect(auditor.locator("h1")).to_have_text(f"Auditrapport voor {key}")
    auditor.get_by_label("Rapportnummer").fill("DNV-2027-001")
    auditor.get_by_label("Volledige audit").check()
    for module in MODULES:
        auditor.locator(f'select[name="scores.{module}.conformity"]').select_option("T")
        auditor.locator(f'select[name="scores.{module}.demonstrability"]').select_option("V")
    journey.shot(auditor, "report_form")
    auditor.get_by_role("button", name="Rapport indienen").click()
    auditor.wait_for_url(f"{site.url}/auditbureau/")
    expect(auditor.locator("p.flash")).to_have_text("Het auditrapport DNV-2027-001 is bezorgd aan VLAIO.")
    past = auditor.locator("table.audits.past tbody tr", has_text=key)
    expect(past).to_contain_text("DNV-2027-001")
    expect(past).to_contain_text("Beslissing door VLAIO")
    expect(auditor.locator("table.audits.open tbody tr", has_text=key)).to_have_count(0)
    journey.shot(auditor, "report_delivered")

    # 7. VLAIO decides: register.
    an.goto(f"{site.url}/vlaio/")
    inbox_task(an, key, "Beslissen over registratie").click()
    expect(an.locator("h1")).to_contain_text(key)
    an.get_by_label("Registreren").check()
    an.get_by_label("Motivering").fill("Audit positief: alle modules T/V.")
    journey.shot(an, "decision_form")
    an.get_by_role("button", name="Taak afronden").click()
    an.wait_for_url(f"{site.url}/vlaio/")
    expect(an.locator("p.flash")).to_have_text("De taak is afgerond.")
    expect(an.locator("table.inbox tr.task", has_text=key)).to_have_count(0)
    journey.shot(an, "decided")

    # 8. Jan sees the registration and downloads its certificate.
    jan.goto(f"{site.url}/aanbieder/")
    registration = jan.locator("table.registrations tbody tr").first
    expect(registration).to_contain_text("Actief")
    number = registration.locator("td").first.inner_text().strip()
    assert re.fullmatch(r"DV\.O\d{6}", number), number
    expect(jan.locator("tr.renewal").first).to_contain_text("Een verlenging vraagt een nieuwe audit")
    journey.shot(jan, "registrations")
    with jan.expect_download() as info:
        registration.get_by_role("link", name="Attest (PDF)").click()
    download = info.value
    assert download.suggested_filename == f"attest-{number}.pdf"
    target: Path = SHOTS / "attest.pdf"
    download.save_as(str(target))
    data = target.read_bytes()
    assert data.startswith(b"%PDF")
    assert number in pdf_text(data)

    # 9. Jan starts the renewal, naming DNV, which then finds it among its requested renewal audits.
    until = registration.locator("td").nth(4).inner_text().strip()
    jan.locator("tr.renewal").first.get_by_role("link", name="Verlenging aanvragen").click()
    expect(jan.locator("h1")).to_have_text("Verlenging aanvragen")
    expect(jan.locator("main, body").first).to_contain_text(f"De registratie loopt tot {until}.")
    jan.get_by_label("Auditbureau").select_option(label="DNV")
    jan.get_by_label("Geschat aantal uren").fill("10")
    journey.shot(jan, "renewal_form")
    jan.get_by_role("button", name="Verlenging aanvragen").click()
    jan.wait_for_url(f"{site.url}{case_url}")
    expect(jan.locator("p.flash")).to_contain_text("Uw aanvraag tot verlenging is bezorgd")
    expect(jan.locator("p.notice")).to_contain_text("bij DNV")
    journey.shot(jan, "renewal_requested")
    auditor.goto(f"{site.url}/auditbureau/")
    renewal_row = auditor.locator("table.audits.renewals tbody tr", has_text=key)
    expect(renewal_row).to_contain_text(until)
    expect(renewal_row.get_by_role("link", name="Verlengingsaudit indienen")).to_be_visible()
    journey.shot(auditor, "renewal_audit_requested")

    assert journey.problems == []
