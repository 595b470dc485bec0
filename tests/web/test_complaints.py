"""Complaint pages: filing, answering, appealing and deciding, each party on its own pages, and who may see
or act on which complaint (a provider its own, a bureau those addressed to it, 403/404 otherwise)."""

from __future__ import annotations

import re

import pytest
from flask import Flask

from engine import clock
from engine.api import Engine
from tasks import people
from tasks.models import Organisation
from tests.web.conftest import PASSWORD
from tests.web.test_provider import OTHER, client_of, grant, post, to_report

TEXT = "De auditor beoordeelde de module kennis zonder onze stukken te bekijken."

# the pages' rights, not storage: one database is enough
pytestmark = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)


def _auditor(engine: Engine, username: str, code: str) -> None:
    with engine.transaction() as db:
        org = db.query(Organisation).filter_by(audit_bureau_code=code).first()
        org = org or people.create_organisation(db, code.upper(), "audit_bureau", audit_bureau_code=code)
        people.create_person(
            db,
            username=username,
            name="Kim",
            email=f"{username}@x.example",
            password=PASSWORD,
            organisation=org,
            roles=("auditbureau",),
            now=clock.now(),
        )


def filed(engine: Engine, about: str, bureau: str = "dnv") -> tuple[int, str]:
    """Acme's complaint about the audit of ``about``: (instance id, the bureau's answer task id)."""
    data = {
        "enterprise_number": "0566988259",
        "company_name": "Acme Opleidingen BV",
        "email": "klacht@acme.example",
        "about_application": about,
        "audit_bureau": bureau,
        "subject": "audit",
        "complaint_text": TEXT,
    }
    with engine.transaction() as db:
        case = engine.start(db, "complaint", data, business_key=f"KL-{about}", actor="test").id
    with engine.transaction() as db:
        [answer] = [t.id for t in engine.tasks(db, instance_id=case) if t.element_id == "answer_complaint"]
    return case, answer


def _task(html: str, instance_id: int) -> str:
    found = re.findall(rf"/klachten/{instance_id}/taken/([0-9a-f-]+)", html)
    assert found, "no task link on the page"
    return found[0]


def test_a_complaint_through_the_pages_seen_only_by_its_parties(app: Flask, engine: Engine) -> None:
    grant(engine, "jan.acme")
    _auditor(engine, "kim.kiwa", "kiwa")
    to_report(engine, "APP-K-000001", services=["advice"])  # Acme's, audited by DNV
    to_report(engine, "APP-K-000002", bureau="kiwa", services=["advice"], enterprise_number=OTHER)
    jan, piet = client_of(app, "jan.acme"), client_of(app, "piet.andere")
    dnv, kiwa, an = client_of(app, "auditor.dnv"), client_of(app, "kim.kiwa"), client_of(app, "an.vlaio")

    form = jan.get("/klachten/nieuw").get_data(as_text=True)
    assert "APP-K-000001|dnv" in form and "APP-K-000002" not in form
    typed = {"email": "klacht@acme.example", "subject": "auditor", "complaint_text": TEXT}
    other = post(jan, "/klachten/nieuw", {**typed, "audit": "APP-K-000002|kiwa"})
    assert other.status_code == 400 and 'data-field="audit"' in other.get_data(as_text=True)
    short = post(jan, "/klachten/nieuw", {**typed, "audit": "APP-K-000001|dnv", "complaint_text": "kort"})
    assert short.status_code == 400 and "klacht@acme.example" in short.get_data(as_text=True)
    with engine.transaction() as db:
        assert engine.instances(db, process_key="complaint") == []

    filed = post(jan, "/klachten/nieuw", {**typed, "audit": "APP-K-000001|dnv"})
    assert filed.status_code == 302
    complaint = int(filed.headers["Location"].rsplit("/", 1)[-1])
    page = f"/klachten/{complaint}"
    assert jan.get(page).status_code == 200 and TEXT in jan.get(page).get_data(as_text=True)
    assert "KL-" in jan.get("/klachten/").get_data(as_text=True)
    assert "KL-" not in piet.get("/klachten/").get_data(as_text=True)
    assert "KL-" not in kiwa.get("/klachten/").get_data(as_text=True)
    for outsider in (piet, kiwa):
        assert outsider.get(page).status_code == 403
        assert outsider.get(f"/dossiers/{complaint}").status_code == 403
    assert jan.get(f"/dossiers/{complaint}").status_code == 200
    assert jan.get("/klachten/99999999").status_code == 404

    answer = _task(dnv.get("/klachten/").get_data(as_text=True), complaint)
    assert jan.get(f"{page}/taken/{answer}").status_code == 403  # the bureau's task, not the provider's
    assert kiwa.get(f"{page}/taken/{answer}").status_code == 403
    assert dnv.get(f"/klachten/{complaint + 1000}/taken/{answer}").status_code == 404
    refused = post(dnv, f"{page}/taken/{answer}", {"complaint_founded": "unfounded", "answer_text": ""})
    assert refused.status_code == 400
    done = {"complaint_founded": "unfounded", "answer_text": "De auditor volgde de werkwijze."}
    assert post(dnv, f"{page}/taken/{answer}", done).status_code == 302
    assert post(dnv, f"{page}/taken/{answer}", done).status_code == 302  # twice: told it is done, no error

    appeal = _task(jan.get(page).get_data(as_text=True), complaint)
    assert dnv.get(f"{page}/taken/{appeal}").status_code == 403
    why = {"appeal": "appeal", "appeal_text": "De stukken werden niet bekeken."}
    assert post(jan, f"{page}/taken/{appeal}", why).status_code == 302
    decide = _task(an.get("/klachten/").get_data(as_text=True), complaint)
    assert post(jan, f"{page}/taken/{decide}", {"appeal_decision": "upheld"}).status_code == 403
    ruling = {"appeal_decision": "upheld", "appeal_decision_note": "Het comité vraagt een nieuwe audit."}
    assert post(an, f"{page}/taken/{decide}", ruling).status_code == 302

    shown = jan.get(page).get_data(as_text=True)
    assert "Beroep gegrond" in shown and "Het comité vraagt een nieuwe audit." in shown
    assert "Beroep beslist: gegrond" in jan.get("/klachten/").get_data(as_text=True)
    assert "Beroep beslist: gegrond" in dnv.get("/klachten/").get_data(as_text=True)


def test_who_may_file(app: Flask, engine: Engine) -> None:
    grant(engine, "jan.acme")
    admin, jan, dnv = client_of(app, "admin.acme"), client_of(app, "jan.acme"), client_of(app, "auditor.dnv")
    assert admin.get("/klachten/").status_code == 200  # a local administrator reads, without filing
    assert admin.get("/klachten/nieuw").status_code == 403 and dnv.get("/klachten/nieuw").status_code == 403
    empty = jan.get("/klachten/nieuw").get_data(as_text=True)
    assert "nog geen audit" in empty  # no audit yet: nothing to complain about, said in words
    assert post(jan, "/klachten/nieuw", {"audit": "APP-X|dnv"}).status_code == 200
    with engine.transaction() as db:
        assert engine.instances(db, process_key="complaint") == []
