"""The provider's pages, driven through a whole registration by every party with the browser-like client.

Also the helpers the other web tests use to put cases in a given state through the engine.
"""

from __future__ import annotations

import io
import re
from typing import Any

from flask import Flask
from flask.testing import FlaskClient

from engine.api import Engine
from tasks import people, register
from tasks.keys import APPLICATION_KEY
from tasks.models import Person
from tests.web.conftest import csrf_token, login

MODULES = ("activity", "experience", "satisfaction", "knowledge", "integrity")
ACME = "0566988259"
OTHER = "1000000021"


# ------------------------------------------------------------------------------------------- helpers


def application(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "enterprise_number": ACME,
        "company_name": "Acme Opleidingen BV",
        "email": "info@acme.be",
        "iban": "BE48 0011 2345 6727",
        "bic": "GEBABEBB",
        "services": ["training"],
        "provider_type": "private",
        "starter": False,
    }
    data.update(changes)
    return data


def start(engine: Engine, key: str, **changes: Any) -> int:
    with engine.transaction() as db:
        return engine.start(db, "registration", application(**changes), business_key=key, actor="test").id


def ready(engine: Engine, instance_id: int, element: str) -> list[str]:
    with engine.transaction() as db:
        return [t.id for t in engine.tasks(db, instance_id=instance_id) if t.element_id == element]


def complete(engine: Engine, instance_id: int, element: str, data: dict[str, Any]) -> None:
    for task_id in ready(engine, instance_id, element):
        with engine.transaction() as db:
            engine.complete(db, task_id, data, actor="test")


def to_report(engine: Engine, key: str, bureau: str = "dnv", **changes: Any) -> int:
    """A case that waits for its audit report, from ``bureau``."""
    case = start(engine, key, **changes)
    complete(engine, case, "sign_declaration", {"declaration_accepted": True, "declared_by": "Jan"})
    complete(engine, case, "check_declaration", {"decision": "approve"})
    complete(engine, case, "choose_bureau", {"audit_bureau": bureau, "audit_hours": 12})
    return case


def full_scores(letter: str = "T") -> dict[str, Any]:
    return {m: {"conformity": letter, "demonstrability": "V"} for m in MODULES}


def registered(engine: Engine, key: str, **changes: Any) -> tuple[int, str]:
    """A case through to registration: (instance id, registration number)."""
    case = to_report(engine, key, **changes)
    payload = {"application_id": key, "report_id": f"R-{key}", "audit_type": "full", "scores": full_scores()}
    with engine.transaction() as db:
        engine.message(db, "audit_report", None, payload)
    complete(engine, case, "decide", {"decision": "approve"})
    with engine.transaction() as db:
        [reg] = register.of_application(db, key)
        return case, reg.number


def grant(engine: Engine, username: str) -> None:
    """Give ``username`` the provider profile, as Acme's local administrator."""
    from engine import clock

    with engine.transaction() as db:
        admin = db.query(Person).filter_by(username="admin.acme").one()
        person = db.query(Person).filter_by(username=username).one()
        people.grant_provider_profile(db, admin, person, clock.now())


def client_of(app: Flask, username: str) -> FlaskClient:
    client = app.test_client()
    assert login(client, username).status_code == 302
    return client


def post(client: FlaskClient, path: str, data: dict[str, Any]) -> Any:
    return client.post(path, data={**data, "csrf_token": csrf_token(client, "/")})


def links(html: str, prefix: str) -> list[str]:
    return re.findall(rf'href="({re.escape(prefix)}[^"]+)"', html)


def pdf_text(data: bytes) -> str:
    from pypdf import PdfReader

    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages)


# --------------------------------------------------------------------------------------------- tests


def test_a_whole_registration_through_the_pages_of_every_party(app: Flask, engine: Engine) -> None:
    # The local administrator gives jan the provider profile.
    admin = client_of(app, "admin.acme")
    page = admin.get("/aanbieder/gebruikers").get_data(as_text=True)
    assert "Jan" in page and "jan.acme" in page
    with engine.transaction() as db:
        jan_id = db.query(Person).filter_by(username="jan.acme").one().id
    assert post(admin, f"/aanbieder/gebruikers/{jan_id}", {"action": "grant"}).status_code == 302
    assert "kreeg het profiel dienstverlener" in admin.get("/aanbieder/gebruikers").get_data(as_text=True)

    # Jan applies with an invalid IBAN: the error stands beside the field, the rest is kept.
    jan = client_of(app, "jan.acme")
    form = jan.get("/aanbieder/aanvragen/nieuw").get_data(as_text=True)
    assert 'value="0566.988.259"' in form and "readonly" in form
    typed = {
        "company_name": "Acme Opleidingen BV",
        "email": "info@acme.be",
        "iban": "BE69 5390 0754 7034",
        "bic": "GEBABEBB",
        "services": ["training"],
        "provider_type": "private",
    }
    refused = post(jan, "/aanbieder/aanvragen/nieuw", typed)
    html = refused.get_data(as_text=True)
    assert refused.status_code == 400
    error = re.search(r'<p class="field-error" id="f-iban-error">([^<]+)</p>', html)
    assert error and error.group(1).startswith("IBAN:")
    assert re.search(r'id="f-iban"[^>]*aria-describedby="[^"]*f-iban-error"[^>]*aria-invalid="true"', html)
    assert 'value="info@acme.be"' in html and 'value="BE69 5390 0754 7034"' in html
    assert re.search(r'value="training"\s+checked', html) and re.search(r'value="private"\s+checked', html)
    with engine.transaction() as db:
        assert engine.instances(db) == [], "an invalid application starts nothing"

    accepted = post(jan, "/aanbieder/aanvragen/nieuw", {**typed, "iban": "BE48 0011 2345 6727"})
    assert accepted.status_code == 302
    case = int(accepted.headers["Location"].rsplit("/", 1)[-1])
    with engine.transaction() as db:
        key = engine.show(db, case).business_key or ""
    assert APPLICATION_KEY.fullmatch(key), key
    overview = jan.get("/aanbieder/").get_data(as_text=True)
    assert key in overview and "Verklaring op eer ondertekenen" in overview

    # Jan signs the declaration of honour for the one service; the page says which.
    [sign] = links(overview, "/aanbieder/taken/")
    page = jan.get(sign).get_data(as_text=True)
    assert "geldt voor de dienst" in page and "<strong>Opleiding</strong>" in page
    unsigned = post(jan, sign, {"declared_by": "Jan Peeters"})
    assert unsigned.status_code == 400
    assert 'id="f-declaration-accepted-error"' in unsigned.get_data(as_text=True)
    assert 'value="Jan Peeters"' in unsigned.get_data(as_text=True)
    assert post(jan, sign, {"declaration_accepted": "1", "declared_by": "Jan Peeters"}).status_code == 302

    # The agency checks the declaration in its inbox.
    an = client_of(app, "an.vlaio")
    [check] = links(an.get("/vlaio/").get_data(as_text=True), "/vlaio/taken/")
    assert "Verklaring op eer nakijken" in an.get(check).get_data(as_text=True)
    assert post(an, check, {"decision": "approve"}).status_code == 302

    # Jan chooses DNV.
    [choose] = links(jan.get("/aanbieder/").get_data(as_text=True), "/aanbieder/taken/")
    assert "EUR 150 per uur" in jan.get(choose).get_data(as_text=True)
    assert post(jan, choose, {"audit_bureau": "dnv", "audit_hours": "12"}).status_code == 302

    # DNV's auditor submits a positive full report through the bureau's form.
    auditor = client_of(app, "auditor.dnv")
    listing = auditor.get("/auditbureau/").get_data(as_text=True)
    assert key in listing
    [report] = links(listing, "/auditbureau/audits/")
    scores = {
        f"scores.{m}.{a}": "T" if a == "conformity" else "V"
        for m in MODULES
        for a in ("conformity", "demonstrability")
    }
    sent = post(auditor, report, {"report_id": "DNV-2026-001", "audit_type": "full", **scores})
    assert sent.status_code == 302
    assert "bezorgd aan VLAIO" in auditor.get("/auditbureau/").get_data(as_text=True)

    # The agency decides: approve.
    inbox = an.get("/vlaio/").get_data(as_text=True)
    [decide] = links(inbox, "/vlaio/taken/")
    assert "Beslissen over registratie" in inbox
    # The decision page says the case in words: scores as a table, no raw data, nothing decided yet.
    page = an.get(decide).get_data(as_text=True)
    start = page.index('<table class="data">')
    data = page[start : page.index('<ol class="history-lines">', start)]
    table = page[
        page.index('<table class="scores">') : page.index("</table>", page.index('<table class="scores">'))
    ]
    assert table.count("T - toereikend") == len(MODULES) and table.count("V - volkomen") == len(MODULES)
    assert "Conformiteit" in table and "Aantoonbaarheid" in table
    assert "Opleiding" in page and "0566.988.259" in page and "Volledige audit" in page and "Positief" in page
    assert '["training"]' not in data and "{&#34;" not in data and "{'" not in data
    for raw in (">training<", ">full<", ">positive<", ">approve<", ">dnv<", ">True<", ">False<"):
        assert raw not in data, raw
    assert 'title="decision"' not in data, "this task's own decision is not shown as decided"
    assert post(an, decide, {"decision": "approve", "decision_note": "Audit positief"}).status_code == 302

    # Jan sees the registration and downloads its certificate.
    overview = jan.get("/aanbieder/").get_data(as_text=True)
    [number] = re.findall(r"DV\.O\d{6}", overview)[:1]
    assert "Actief" in overview and "een verlenging vraagt een nieuwe audit" in overview.lower()
    pdf = jan.get(f"/aanbieder/registraties/{number}/attest.pdf")
    assert pdf.status_code == 200 and pdf.mimetype == "application/pdf"
    assert pdf.data.startswith(b"%PDF") and number in pdf_text(pdf.data)
    case_page = jan.get(f"/aanbieder/aanvragen/{case}").get_data(as_text=True)
    assert number in case_page and "Geldig tot" in case_page


def test_without_the_provider_profile_no_application(app: Flask, engine: Engine) -> None:
    jan = client_of(app, "jan.acme")
    assert jan.get("/aanbieder/aanvragen/nieuw").status_code == 403
    assert post(jan, "/aanbieder/aanvragen/nieuw", {"company_name": "X"}).status_code == 403
    with engine.transaction() as db:
        assert engine.instances(db) == []


def test_the_local_administrator_revokes_and_cannot_touch_another_organisation(
    app: Flask, engine: Engine
) -> None:
    grant(engine, "jan.acme")
    admin = client_of(app, "admin.acme")
    with engine.transaction() as db:
        jan_id = db.query(Person).filter_by(username="jan.acme").one().id
        piet_id = db.query(Person).filter_by(username="piet.andere").one().id
    assert "piet.andere" not in admin.get("/aanbieder/gebruikers").get_data(as_text=True)
    asked = post(admin, f"/aanbieder/gebruikers/{jan_id}", {"action": "revoke"})  # first: are you sure?
    question = asked.get_data(as_text=True)
    assert asked.status_code == 200 and "Het profiel dienstverlener intrekken?" in question
    assert 'name="confirmed" value="1"' in question and "Ja, intrekken" in question
    assert client_of(app, "jan.acme").get("/aanbieder/aanvragen/nieuw").status_code == 200, "not yet"
    confirmed = post(admin, f"/aanbieder/gebruikers/{jan_id}", {"action": "revoke", "confirmed": "1"})
    assert confirmed.status_code == 302
    assert client_of(app, "jan.acme").get("/aanbieder/aanvragen/nieuw").status_code == 403
    assert post(admin, f"/aanbieder/gebruikers/{piet_id}", {"action": "revoke"}).status_code == 403
    assert post(admin, f"/aanbieder/gebruikers/{piet_id}", {"action": "grant"}).status_code == 403
    assert post(admin, "/aanbieder/gebruikers/99999", {"action": "grant"}).status_code == 404
    assert post(admin, f"/aanbieder/gebruikers/{jan_id}", {"action": "promote"}).status_code == 400


def test_two_services_two_declarations_each_naming_its_service(app: Flask, engine: Engine) -> None:
    grant(engine, "jan.acme")
    case = start(engine, "APP-T-000001", services=["training", "advice"])
    jan = client_of(app, "jan.acme")
    tasks = links(jan.get(f"/aanbieder/aanvragen/{case}").get_data(as_text=True), "/aanbieder/taken/")
    assert len(tasks) == 2
    services = {
        re.search(r"<strong>(\w+)</strong>", jan.get(t).get_data(as_text=True)).group(1) for t in tasks
    }  # type: ignore[union-attr]
    assert services == {"Opleiding", "Advies"}


def test_english_labels_on_request(app: Flask, engine: Engine) -> None:
    grant(engine, "jan.acme")
    jan = client_of(app, "jan.acme")
    post(jan, "/language/en", {"next": "/"})
    form = jan.get("/aanbieder/aanvragen/nieuw").get_data(as_text=True)
    assert "Enterprise number" in form and "Company name" in form and "Training" in form
    refused = post(
        jan,
        "/aanbieder/aanvragen/nieuw",
        {
            "company_name": "Acme",
            "email": "info@acme.be",
            "iban": "BE41 0918 1173 5141",
            "bic": "GKCCBEBB",
            "services": ["advice"],
            "provider_type": "private",
        },
    ).get_data(as_text=True)
    assert re.search(r'id="f-iban-error">IBAN: [A-Za-z]', refused)
    assert "controlecijfers" not in refused


def test_a_renewal_needs_a_new_audit_and_shows_the_end_date(app: Flask, engine: Engine) -> None:
    grant(engine, "jan.acme")
    case, number = registered(engine, "APP-T-000002")
    with engine.transaction() as db:
        detail = engine.show(db, case)
        [reg] = register.of_application(db, "APP-T-000002")
        until = reg.valid_until.strftime("%d/%m/%Y")
    assert "wait_renewal" in detail.active_elements
    page = client_of(app, "jan.acme").get(f"/aanbieder/aanvragen/{case}").get_data(as_text=True)
    assert f"De registratie loopt tot {until}." in page and "nieuwe audit" in page and number in page


def test_a_stopped_registration_has_no_certificate_to_download(app: Flask, engine: Engine) -> None:
    """A stopped (or expired) registration's old certificate is not handed out as if it were valid: the
    download answers 410 with the reason in words, and the list says there is no valid certificate."""
    grant(engine, "jan.acme")
    _, number = registered(engine, "APP-C-000001")
    jan = client_of(app, "jan.acme")
    assert jan.get(f"/aanbieder/registraties/{number}/attest.pdf").status_code == 200
    with engine.transaction() as db:
        [reg] = [r for r in register.all_registrations(db, None) if r.number == number]
        reg.status = "stopped"  # as the starter route's missed deadline does (tests/procedures)
    gone = jan.get(f"/aanbieder/registraties/{number}/attest.pdf")
    text = gone.get_data(as_text=True)
    assert gone.status_code == 410 and gone.mimetype == "text/html"
    assert f"De registratie {number} is stopgezet: er is geen geldig attest meer." in text
    overview = jan.get("/aanbieder/").get_data(as_text=True)
    assert "Geen geldig attest meer" in overview and f"/registraties/{number}/attest.pdf" not in overview
