"""The try-out page of the workbench: only analysts, the whole flow with plain forms, clear refusals."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from engine import clock, drafts
from engine.api import Engine
from engine.models import HistoryEntry, ModelDraft, ProcessInstance
from engine.tryout import Tryout
from tasks import people
from tasks.models import Organisation

from .conftest import PASSWORD, csrf_token, login

URL = "/modeler/registration/try"
APPLICATION = {
    "enterprise_number": "0566.988.259",
    "company_name": "Acme Opleidingen BV",
    "email": "info@acme.example",
    "iban": "BE48 0011 2345 6727",
    "bic": "GEBABEBB",
    "services": "training",
    "provider_type": "private",
}


@pytest.fixture
def analyst_app(app: Flask, engine: Engine, tmp_path: Path) -> Flask:
    app.config["KMOP_TRYOUT_DIR"] = str(tmp_path / "tryouts")
    with engine.transaction() as db:
        agency = db.scalar(select(Organisation).where(Organisation.name == "VLAIO"))
        assert agency is not None
        people.create_person(
            db,
            username="ana.vlaio",
            name="Ana Analist",
            email="ana@x.example",
            password=PASSWORD,
            organisation=agency,
            roles=("analist",),
            now=clock.now(),
        )
    return app


@pytest.fixture
def analyst(analyst_app: Flask) -> FlaskClient:
    client = analyst_app.test_client()
    assert login(client, "ana.vlaio").status_code == 302
    return client


def post(client: FlaskClient, path: str, data: dict[str, Any] | None = None) -> Any:
    return client.post(path, data={**(data or {}), "csrf_token": csrf_token(client, URL)})


def task_ids(html: str) -> dict[str, str]:
    """Element id -> the form action of each open task on the page."""
    found = re.findall(r'<li class="try-task" data-element="([^"]+)">.*?action="([^"]+)"', html, re.S)
    return dict(found)


def test_only_analysts_reach_the_try_out(analyst_app: Flask, analyst: FlaskClient) -> None:
    anonymous = analyst_app.test_client()
    assert anonymous.get(URL).status_code == 302
    assert "/login" in anonymous.get(URL).headers["Location"]
    for username in ("an.vlaio", "admin.acme", "auditor.dnv"):
        other = analyst_app.test_client()
        login(other, username)
        assert other.get(URL).status_code == 403
        token = csrf_token(other, "/")
        assert other.post(URL, data={"csrf_token": token}).status_code == 403
        assert other.post(URL + "/advance", data={"csrf_token": token, "duration": "P4W"}).status_code == 403
    assert analyst.get(URL).status_code == 200
    assert analyst.get("/modeler/no_such_process/try").status_code == 404


def test_the_whole_flow_with_plain_forms(analyst: FlaskClient, engine: Engine) -> None:
    with engine.transaction() as db:
        live_cases = db.scalar(select(func.count(ProcessInstance.id)))
        live_history = db.scalar(select(func.count(HistoryEntry.id)))
        files = [
            {"name": f.name, "content": f.content.replace('"P4W"', '"P3W"')}
            for f in drafts.draft(db, "registration").files
        ]
        db.add(
            ModelDraft(
                process_key="registration", base_version=1, files={"files": files}, updated_at=clock.now()
            )
        )
    live_now = clock.now()

    page = analyst.get(URL).get_data(as_text=True)
    assert "Proef starten" in page and 'id="try-create"' in page
    response = post(analyst, URL)
    assert response.status_code == 302 and response.headers["Location"].endswith(URL)
    page = analyst.get(URL).get_data(as_text=True)
    assert 'id="try-start"' in page and 'id="try-advance"' in page and 'name="duration"' in page
    assert 'value="P4W"' in page

    refused = post(analyst, URL + "/start", {**APPLICATION, "email": "", "tryout_business_key": "PROEF-9"})
    assert refused.status_code == 400
    assert "is verplicht" in refused.get_data(as_text=True)
    assert post(analyst, URL + "/start", {**APPLICATION, "tryout_business_key": "PROEF-9"}).status_code == 302

    for element, data in (
        ("sign_declaration", {"declaration_accepted": "1", "declared_by": "Ana"}),
        ("check_declaration", {"decision": "approve"}),
        ("choose_bureau", {"audit_bureau": "vincotte", "audit_hours": "14"}),
    ):
        page = analyst.get(URL).get_data(as_text=True)
        action = task_ids(page)[element]
        assert post(analyst, action, data).status_code == 302, element

    page = analyst.get(URL).get_data(as_text=True)
    waiting = page.split('id="try-waiting"')[1].split("</ul>")[0]
    assert "Wachten op auditrapport" in waiting
    assert page.count('class="step ') == 4
    assert 'data-diagram-url="/modeler/registration/try/diagram.xml"' in page
    assert "4 weken zonder rapport" in page  # the pending reminder, due in three weeks
    assert '<option value="audit_report"' in page and 'value="PROEF-9"' in page
    assert re.search(r"\d{1,2} \w+ 20\d\d om \d\d:\d\d", page)  # moments in words, not ISO

    moved = post(analyst, URL + "/advance", {"duration": "P3W"})
    assert moved.status_code == 302
    page = analyst.get(URL).get_data(as_text=True)
    steps = page.split('id="try-steps"')[1]
    assert steps.count('<li class="step ') == 5
    last = steps.split('<li class="step ')[-1]
    assert "Klok P3W vooruitgezet" in last
    assert "4 weken zonder rapport: timer afgegaan" in last and "Herinnering versturen: afgerond" in last
    done = re.search(r'data-done="([^"]*)"', page)
    assert done and "remind_report" in done.group(1).split()
    active = re.search(r'data-active="([^"]*)"', page)
    assert active and "wait_report" in active.group(1).split()

    bad = post(analyst, URL + "/message", {"name": "audit_report", "key": "PROEF-9", "payload": "{not json"})
    assert bad.status_code == 400 and "geen geldige JSON" in bad.get_data(as_text=True)
    refused = post(analyst, URL + "/message", {"name": "audit_report", "key": "PROEF-9", "payload": "{}"})
    assert refused.status_code == 400 and "verplicht" in refused.get_data(as_text=True)
    report = {"application_id": "PROEF-9", "report_id": "R-1", "audit_type": "full", "scores": scores()}
    sent = post(
        analyst, URL + "/message", {"name": "audit_report", "key": "PROEF-9", "payload": json.dumps(report)}
    )
    assert sent.status_code == 302
    page = analyst.get(URL).get_data(as_text=True)
    assert "decide" in task_ids(page)
    assert "Bericht &#39;audit_report&#39; verstuurd" in page or "Bericht 'audit_report' verstuurd" in page

    xml = analyst.get(URL + "/diagram.xml")
    assert xml.status_code == 200 and '"P3W"' in xml.get_data(as_text=True)

    with engine.transaction(write=False) as db:
        assert db.scalar(select(func.count(ProcessInstance.id))) == live_cases
        assert db.scalar(select(func.count(HistoryEntry.id))) == live_history
    assert clock.now() == live_now

    assert post(analyst, URL + "/discard").status_code == 302
    assert "Proef starten" in analyst.get(URL).get_data(as_text=True)


def scores() -> dict[str, Any]:
    modules = ("activity", "experience", "satisfaction", "knowledge", "integrity")
    return {m: {"conformity": "T", "demonstrability": "V"} for m in modules}


@pytest.mark.parametrize("duration", ["4 weken", "P4", "", "P0D", "P500Y", "3w"])
def test_a_bad_duration_gives_a_clear_message(analyst: FlaskClient, duration: str) -> None:
    assert post(analyst, URL).status_code == 302
    response = post(analyst, URL + "/advance", {"duration": duration})
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    error = html.split('id="try-duration-error"')[1].split("</p>")[0]
    assert "P4W" in error or "20 jaar" in error
    assert f'value="{duration}"' in html  # what was typed stays, to correct it


def test_one_try_out_per_analyst_per_process(analyst: FlaskClient, analyst_app: Flask) -> None:
    root = Path(analyst_app.config["KMOP_TRYOUT_DIR"])
    assert post(analyst, URL).status_code == 302
    first = Tryout.find("ana.vlaio", "registration", root)
    assert post(analyst, URL).status_code == 302
    second = Tryout.find("ana.vlaio", "registration", root)
    assert first and second and first != second
    assert sorted(p.stem for p in root.glob("*.db")) == [second]
    post(analyst, URL + "/advance", {"duration": "P1D"})
    assert analyst.get(URL + "/diagram.xml").status_code == 200


def test_a_broken_draft_shows_its_problems(analyst: FlaskClient, engine: Engine) -> None:
    with engine.transaction() as db:
        files = [
            {"name": f.name, "content": f.content.replace('"P4W"', "P4W")}
            for f in drafts.draft(db, "registration").files
        ]
        db.add(
            ModelDraft(
                process_key="registration", base_version=1, files={"files": files}, updated_at=clock.now()
            )
        )
    response = post(analyst, URL)
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert 'id="try-problems"' in html and "report_after_4_weeks" in html
