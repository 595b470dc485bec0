"""Every page on a phone (390 × 844): nothing wider than the screen, so the page never scrolls sideways;
and every page in English with no Dutch text of the catalog left.

Each role (anonymous, provider, audit bureau, VLAIO) walks the pages its menu leads to, plus a case, a
task and a form, in one browser context per role; then it switches to English and the same pages are
checked once more at 1280 px wide. Screenshots go to ``tests/artifacts/browser/phone_<page>.png`` (and
``english_<page>.png``).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from babel.messages.pofile import read_po

from tasks import people
from tests.browser.conftest import ARTIFACTS, Site, add_person, log_in
from tests.procedures.conftest import Case, World, scores
from web.i18n import TRANSLATIONS

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}
PROVIDER, AUDITOR, AGENCY = "jan.acme", "auditor.dnv", "an.vlaio"
ROLES = {"": "public", PROVIDER: "provider", AUDITOR: "bureau", AGENCY: "agency"}
WIDTH = "() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]"


def _people(site: Site) -> None:
    """The seeded case's provider (administrator of its own organisation too) and DNV's auditor."""
    with site.engine.transaction() as db:
        acme = people.create_organisation(db, "Acme Opleidingen BV", "provider", "0566988259")
        dnv = people.create_organisation(db, "DNV", "audit_bureau", audit_bureau_code="dnv")
        for username, name, org, roles in (
            (PROVIDER, "Jan Peeters-Vandenberghe", acme, ("dienstverlener", "lokale_beheerder")),
            (AUDITOR, "Dirk Auditor", dnv, ("auditbureau",)),
        ):
            add_person(db, username, name, org, roles)


def _pages(site: Site) -> dict[str, list[tuple[str, str]]]:
    """Per person ('': anonymous), the pages beyond the menu to look at, as (name, path)."""
    _people(site)
    world = World(site.engine)
    world.counter = 100  # APP-0001 is the seeded case
    applied, audited, registered = world.apply(), world.apply(), world.apply()  # before one is registered
    audited.to_audit("dnv")  # waits for DNV's report
    registered.to_audit("dnv")
    registered.report("DNV-2027-001", scores=scores())
    registered.decide()
    seeded = Case(world, site.case_id, "APP-0001")
    return {
        "": [("login", "/login"), ("not_found", "/bestaat-niet")],
        PROVIDER: [
            ("provider_apply", "/aanbieder/aanvragen/nieuw"),
            ("provider_case", f"/aanbieder/aanvragen/{applied.id}"),
            ("provider_task", f"/aanbieder/taken/{applied.task('sign_declaration')}"),
            ("provider_registered", f"/aanbieder/aanvragen/{registered.id}"),
            ("provider_renewal", f"/aanbieder/aanvragen/{registered.id}/verlenging"),
        ],
        AUDITOR: [("bureau_report", f"/auditbureau/audits/{audited.id}")],
        AGENCY: [
            ("agency_task", f"/vlaio/taken/{seeded.task('check_declaration')}"),
            ("case", f"/dossiers/{registered.id}"),
        ],
    }


def _menu(page: Any, site: Site, role: str) -> list[tuple[str, str]]:
    """The home page and every page of the menu, named ``<role>_<last part of the path>``."""
    page.goto(f"{site.url}/")
    paths = ["/", *page.eval_on_selector_all("nav.menu a", "links => links.map(a => a.pathname)")]
    return [(f"{role}_{path.strip('/').rsplit('/', 1)[-1] or 'home'}", path) for path in paths]


@pytest.fixture
def contexts(browser: Any) -> Iterator[list[Any]]:
    opened: list[Any] = []
    yield opened
    for context in opened:
        context.close()


def _dutch_texts() -> list[str]:
    """The catalog's Dutch texts that English readers must never see (long enough to be unambiguous, and
    different from their English)."""
    with (TRANSLATIONS / "en" / "LC_MESSAGES" / "messages.po").open("rb") as f:
        catalog = read_po(f)
    return [
        m.id
        for m in catalog
        if isinstance(m.id, str) and len(m.id) >= 12 and "%" not in m.id and m.string and m.string != m.id
    ]


DUTCH = _dutch_texts()


def _visit(page: Any, site: Site, name: str, path: str, prefix: str, problems: list[str]) -> None:
    page.goto(f"{site.url}{path}")
    if prefix == "english":
        text = page.inner_text("body")
        left = [dutch for dutch in DUTCH if dutch in text]
        if left or 'lang="en"' not in page.content()[:200]:
            problems.append(f"english_{name} ({path}) still says in Dutch: {left[:5]}")
    diagram = page.locator("#kmop-diagram")
    if diagram.count():
        page.wait_for_selector('#kmop-diagram[data-state="ready"] svg')
        inner, box = diagram.evaluate("box => [box.scrollWidth, box.clientWidth]")
        if prefix == "phone" and inner <= box:
            problems.append(f"{prefix}_{name}: the diagram is squeezed into {box} px, not scrolling")
    scroll, client = page.evaluate(WIDTH)
    if scroll > client + 1:
        wide = page.evaluate(
            """(limit) => [...document.querySelectorAll('body *')]
                 .filter(e => e.getBoundingClientRect().right > limit + 1)
                 .slice(0, 3).map(e => e.tagName.toLowerCase() + '.' + e.className)""",
            client,
        )
        problems.append(f"{prefix}_{name} ({path}): {scroll} px wide on a {client} px screen, e.g. {wide}")
    page.screenshot(path=str(ARTIFACTS / f"{prefix}_{name}.png"), full_page=prefix == "phone")


def test_no_page_scrolls_sideways_on_a_phone_or_on_a_desktop(
    browser: Any, site: Site, contexts: list[Any]
) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    problems: list[str] = []
    on_desktop: set[str] = set()
    for username, extra in _pages(site).items():
        context = browser.new_context(viewport=PHONE, locale="nl-BE", is_mobile=True, has_touch=True)
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(15_000)
        page.on("response", lambda r: problems.append(f"{r.status} {r.url}") if r.status >= 500 else None)
        if username:
            log_in(page, site, username, "/")
        pages = [*_menu(page, site, ROLES[username]), *extra]
        if username == AGENCY:  # the person with the longest menu: the header on a phone
            page.screenshot(path=str(ARTIFACTS / "phone_header.png"))
        for name, path in pages:
            _visit(page, site, name, path, "phone", problems)
        page.set_viewport_size(DESKTOP)
        page.goto(f"{site.url}/")
        page.click('form[action="/language/en"] button')  # the header's EN
        for name, path in pages:
            if path not in on_desktop:  # one look per page at the desktop's width is enough
                on_desktop.add(path)
                _visit(page, site, name, path, "english", problems)
    assert problems == [], "\n".join(problems)
