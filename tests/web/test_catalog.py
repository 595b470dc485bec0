"""The gettext catalog is complete and compiled: every Dutch text in the code, the templates and the
diagrams has its English; Dutch is the default whatever the browser asks; diagrams read in English."""

from __future__ import annotations

import io

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.mofile import read_mo, write_mo
from babel.messages.pofile import read_po
from flask import Flask
from flask.testing import FlaskClient

from engine.config import PROJECT_ROOT
from tests.web.conftest import csrf_token, login
from web.catalog import translate_diagram
from web.i18n import TRANSLATIONS

PO = TRANSLATIONS / "en" / "LC_MESSAGES" / "messages.po"
KEYWORDS = {"translate": None, "_": None, "N_": None}


def english() -> dict[str, str]:
    with PO.open("rb") as f:
        return {m.id: m.string for m in read_po(f) if m.id}


def test_every_text_in_code_templates_and_diagrams_has_english() -> None:
    with (PROJECT_ROOT / "babel.cfg").open() as f:
        methods, options = parse_mapping_cfg(f)
    found = {
        (message if isinstance(message, str) else message[0]): f"{name}:{line}"
        for name, line, message, _, _ in extract_from_dir(str(PROJECT_ROOT), methods, options, KEYWORDS)
    }
    assert len(found) > 400 and any(where.startswith("bpmn/") for where in found.values())
    catalog = english()
    missing = sorted(f"{where}: {text!r}" for text, where in found.items() if not catalog.get(text))
    assert not missing, "texts without English (add them to messages.po):\n" + "\n".join(missing)


def test_the_compiled_catalog_is_the_current_one() -> None:
    with PO.open("rb") as f:
        source = read_po(f)
    compiled = io.BytesIO()
    write_mo(compiled, source)
    compiled.seek(0)
    with PO.with_suffix(".mo").open("rb") as f:
        stored = {m.id: m.string for m in read_mo(f) if m.id}
    fresh = {m.id: m.string for m in read_mo(compiled) if m.id}
    assert stored == fresh, "run: pybabel compile -d web/translations"


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # words, not storage: one database is enough
def test_dutch_first_whatever_the_browser_asks_english_when_chosen(client: FlaskClient, app: Flask) -> None:
    first = client.get("/login", headers={"Accept-Language": "en-GB,en;q=0.9"}).get_data(as_text=True)
    assert '<html lang="nl">' in first and "Aanmelden" in first
    login(client, "an.vlaio")
    client.post("/language/en", data={"csrf_token": csrf_token(client, "/"), "next": "/"})
    home = client.get("/").get_data(as_text=True)
    assert '<html lang="en">' in home and "Deadlines in the coming 90 days" in home
    assert "Taken van het agentschap" not in home


def test_diagram_names_in_english() -> None:
    xml = (PROJECT_ROOT / "bpmn" / "registration.bpmn").read_text()
    catalog = english()
    shown = translate_diagram(xml, lambda text: catalog.get(text) or text)
    assert 'name="Waiting for the audit report"' in shown and 'name="VLAIO (agency)"' in shown
    assert 'id="wait_report"' in shown and shown.count("<bpmn:") == xml.count("<bpmn:")
