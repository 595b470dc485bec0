"""Run kmop for real (a werkzeug server in a thread, on SQLite) and drive it with Debian's Chromium.

Playwright for Python is used with its own driver only: its browsers are never downloaded
(``playwright install`` is not run); the browser is ``/usr/bin/chromium`` from Debian
(``apt-get install chromium``). Without it (or without the playwright package) these tests are skipped
locally and fail under CI (``CI`` set), where the browser is part of the deal.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from werkzeug.serving import make_server

from engine import clock
from engine.api import Engine
from engine.config import PROJECT_ROOT
from tasks import people
from tests.conftest import make_engine
from tests.procedures.conftest import application
from web import create_app

CHROMIUM = Path(os.environ.get("KMOP_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts" / "browser"
PASSWORD = "geheim-123"


def _unavailable(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"browser tests are required under CI: {reason}")
    pytest.skip(reason)


@dataclass(frozen=True)
class Site:
    """The running app: its base URL, and the case the tests look at."""

    url: str
    engine: Engine
    case_id: int


def _seed(engine: Engine) -> int:
    """People, and one registration case that waits at the agency's check of the declaration."""
    with engine.transaction() as db:
        engine.deploy(db, [PROJECT_ROOT / "bpmn"])
        vlaio = people.create_organisation(db, "VLAIO", "agency")
        people.create_person(
            db,
            username="an.vlaio",
            name="An",
            email="an.vlaio@x.example",
            password=PASSWORD,
            organisation=vlaio,
            roles=("vlaio",),
            now=clock.now(),
        )
        case = engine.start(db, "registration", application(), business_key="APP-0001").id
    with engine.transaction() as db:
        [task] = [t for t in engine.show(db, case).ready_tasks if t.element_id == "sign_declaration"]
        engine.complete(db, task.id, {"declaration_accepted": True, "declared_by": "Jan Peeters"})
    return case


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    path = tmp_path_factory.mktemp("browser") / "kmop.sqlite3"
    previous = clock.active()
    engine = make_engine(f"sqlite:///{path}")  # installs its simulated clock for the server thread too
    case = _seed(engine)
    app = create_app({"TESTING": True, "SECRET_KEY": "browser-test"}, engine=engine)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="kmop-test-server", daemon=True)
    thread.start()
    try:
        yield Site(f"http://127.0.0.1:{server.server_port}", engine, case)
    finally:
        server.shutdown()
        thread.join(timeout=10)
        engine.close()
        clock.install(previous)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        _unavailable(f"{CHROMIUM} is missing (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("the playwright package is not installed (pip install playwright)")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, locale="nl-BE")
    page = context.new_page()
    page.set_default_timeout(15_000)
    try:
        yield page
    finally:
        context.close()


def log_in(page: Any, site: Site, username: str, target: str) -> None:
    """Log in through the login page, which then sends the browser on to ``target``."""
    page.goto(f"{site.url}/login?next={target}")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("form.form button[type=submit]")
    page.wait_for_url(f"{site.url}{target}")


def add_person(db: Any, username: str, name: str, organisation: Any, roles: tuple[str, ...] = ()) -> None:
    """One person who logs in with the tests' password (e-mail ``<username>@x.example``)."""
    people.create_person(
        db,
        username=username,
        name=name,
        email=f"{username}@x.example",
        password=PASSWORD,
        organisation=organisation,
        roles=roles,
        now=clock.now(),
    )


def open_page(browser: Any, site: Site, username: str, target: str) -> Any:
    """A browser context of its own for ``username`` (its own cookies), logged in and at ``target``."""
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="nl-BE")
    page = context.new_page()
    page.set_default_timeout(15_000)
    log_in(page, site, username, target)
    return page
