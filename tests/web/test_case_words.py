"""The case pages in words: the staff case page and the provider's case page say where the case stands,
its data with the data dictionary's labels and values, its history by step names, the refusal reason and
the e-mails sent about it; element ids, process keys and raw JSON stay on the staff's technical tab."""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient

from engine.api import Engine
from tests.web.conftest import csrf_token, login
from tests.web.test_cases import complete, page, start, to_report

REASON = "verklaring op eer niet aanvaard: Niet ondertekend"  # the refusal step's words and the note
RAW = ('"training"', "user_task_completed", "sign_declaration", "wait_report", "{&#34;", "dnv<")


pytestmark = pytest.mark.parametrize(
    "db_url", ["sqlite"], indirect=True
)  # words, not storage: one database is enough


@pytest.fixture
def refused(app: Flask, engine: Engine) -> int:
    case = start(engine, "APP-0009")
    complete(engine, case, "sign_declaration", {"declaration_accepted": True, "declared_by": "Jan Peeters"})
    complete(engine, case, "check_declaration", {"decision": "reject", "decision_note": "Niet ondertekend"})
    return case


def test_staff_case_page_reads_in_words_and_keeps_the_raw_data_on_its_technical_tab(
    client: FlaskClient, app: Flask, engine: Engine
) -> None:
    case = to_report(engine, "APP-0001", "dnv")
    login(client, "an.vlaio")
    html = _without_diagram_marks(page(client, f"/dossiers/{case}"))
    assert "Acme Opleidingen BV · Dossier APP-0001" in html
    assert "Registratie als dienstverlener kmo-portefeuille (versie 1)" in html
    assert "Wacht bij: <strong>Wachten op auditrapport</strong>" in html
    assert "<dd>Opleiding</dd>" in html and "<dd>DNV</dd>" in html and "<dd>Volledige audit</dd>" in html
    assert "Opleiding: ondertekend door Jan Peeters" in html
    assert "<strong>Taak afgerond</strong>: Auditbureau kiezen" in html and "Auditbureau: DNV" in html
    assert "(door tester)" in html
    for raw in RAW:
        assert raw not in html, raw
    technical = page(client, f"/dossiers/{case}?tab=technisch")
    assert "<code>user_task_completed</code>" in technical and "<code>registration</code>" in technical
    assert "&#34;audit_bureau&#34;: &#34;dnv&#34;" in technical  # the process data as JSON


def test_the_technical_tab_is_for_staff_only(client: FlaskClient, app: Flask, engine: Engine) -> None:
    case = to_report(engine, "APP-0001", "dnv")
    login(client, "admin.acme")
    html = page(client, f"/dossiers/{case}?tab=technisch")
    assert "Technische gegevens" not in html and "<code>user_task_completed</code>" not in html
    assert "Wachten op auditrapport" in html


def test_refusal_reason_and_e_mails_on_the_staff_and_provider_case_pages(
    client: FlaskClient, engine: Engine, refused: int
) -> None:
    login(client, "an.vlaio")
    staff = page(client, f"/dossiers/{refused}")
    assert f"Reden van weigering: {REASON}" in staff
    assert "refusal_mail" not in staff  # a service's bookkeeping stays on the technical tab
    assert "Verstuurde e-mails" in staff and "werd geweigerd" in staff and f"Reden: {REASON}" in staff
    login(client, "admin.acme")
    own = page(client, f"/aanbieder/aanvragen/{refused}")
    assert f'<dd class="refused">{REASON}</dd>' in own and "<dd>Geweigerd</dd>" in own
    assert "E-mails over deze aanvraag" in own and f"Reden: {REASON}" in own
    assert "Verklaring op eer nakijken" in own  # the history by step names
    assert "Status gewijzigd" not in own  # the agency's operations stay with the agency


def test_an_auditor_sees_no_e_mails_of_the_provider(
    client: FlaskClient, app: Flask, engine: Engine, refused: int
) -> None:
    case = to_report(engine, "APP-0001", "dnv")
    login(client, "auditor.dnv")
    html = page(client, f"/dossiers/{case}")
    assert "Verstuurde e-mails" not in html and "info@acme.be" not in html
    assert "door tester" not in html  # who acted is personal data too (staff read it: see above)


def test_the_provider_case_page_in_english(client: FlaskClient, refused: int) -> None:
    login(client, "admin.acme")
    client.post("/language/en", data={"csrf_token": csrf_token(client, "/"), "next": "/"})
    html = page(client, f"/aanbieder/aanvragen/{refused}")
    assert "Reason for refusal" in html and "Task completed" in html and "Check the declaration" in html
    assert "Taak afgerond" not in html


def _without_diagram_marks(html: str) -> str:
    """The page without the diagram's data attributes (element ids for the viewer script, not for eyes)."""
    start = html.index('<div id="kmop-diagram"')
    return html[:start] + html[html.index(">", start) + 1 :]
