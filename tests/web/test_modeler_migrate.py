"""The migration page of the workbench: only analysts preview and migrate; a POST moves the ticked cases."""

from __future__ import annotations

from datetime import timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from engine import clock
from engine.api import Engine
from engine.models import DefinitionAudit, ProcessInstance
from tests.conftest import DATA

from .conftest import add_person, csrf_token, login

URL = "/modeler/migr/migrate"


@pytest.fixture
def cases(app: Flask, engine: Engine) -> dict[str, int]:
    """Three running cases of version 1 (at the timer, at a user task, at a step version 2 removes)."""
    add_person(engine, "ana.vlaio", ("analist",))
    add_person(engine, "bert.vlaio", ("beheerder",))
    with engine.transaction() as db:
        engine.deploy(db, [DATA / "migration" / "v1.bpmn"])
    with engine.transaction() as db:
        ids = {
            p: engine.start(db, "migr", {"path": p}, business_key=f"W-{p}").id
            for p in ("report", "check", "old")
        }
    assert isinstance(engine.clock, clock.SimulatedClock)
    engine.clock.set(clock.now() + timedelta(weeks=1))
    with engine.transaction() as db:
        engine.deploy(db, [DATA / "migration" / "v2.bpmn"])
    return ids


@pytest.fixture
def analyst(app: Flask, cases: dict[str, int]) -> FlaskClient:
    client = app.test_client()
    assert login(client, "ana.vlaio").status_code == 302
    return client


def test_only_analysts_preview_and_migrate(app: Flask, cases: dict[str, int]) -> None:
    anonymous = app.test_client()
    response = anonymous.get(URL)
    assert response.status_code == 302 and "/login" in response.headers["Location"]
    for username in ("an.vlaio", "bert.vlaio"):  # staff, and an operator without the analyst role
        other = app.test_client()
        login(other, username)
        assert other.get(URL).status_code == 403
        token = csrf_token(other, "/")
        posted = other.post(
            URL, data={"from": "1", "to": "2", "case": "1", "reason": "x", "csrf_token": token}
        )
        assert posted.status_code == 403


def test_the_preview_speaks_of_element_names_counts_and_the_timer_rule(
    analyst: FlaskClient, cases: dict[str, int]
) -> None:
    html = analyst.get(URL).get_data(as_text=True)
    assert "van versie 1 naar versie 2" in html
    for name in ("Oude stap", "Controleren", "4 weken zonder rapport", "Wachten op rapport"):
        assert name in html
    assert "old_step</td>" not in html  # names, not ids
    assert "herberekend vanaf het moment waarop de timer begon" in html
    assert "dat niet meer bestaat in de nieuwe versie" in html
    assert f'value="{cases["report"]}" aria-label="Dossier {cases["report"]}" checked' in html
    assert f'value="{cases["old"]}" aria-label="Dossier {cases["old"]}" disabled' in html
    assert analyst.get(URL + "?from=1&to=9").status_code == 404


def test_a_post_migrates_the_ticked_cases_and_reports(
    analyst: FlaskClient, engine: Engine, cases: dict[str, int]
) -> None:
    token = csrf_token(analyst, URL)
    refused = analyst.post(
        URL, data={"from": "1", "to": "2", "case": str(cases["report"]), "csrf_token": token}
    )
    assert refused.status_code == 400 and "Zeg waarom" in refused.get_data(as_text=True)
    response = analyst.post(
        URL,
        data={
            "from": "1",
            "to": "2",
            "case": [str(cases["report"]), str(cases["old"])],
            "reason": "Herinnering na 3 weken",
            "csrf_token": token,
        },
    )
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and 'id="mig-report"' in html
    assert 'id="mig-moved-count">1<' in html and 'id="mig-refused-count">1<' in html
    assert "het dossier wacht bij &#39;Oude stap&#39;" in html or "het dossier wacht bij 'Oude stap'" in html
    with engine.transaction(write=False) as db:
        versions = {i.id: i.process_version_id for i in db.scalars(select(ProcessInstance))}
        audit = db.scalars(select(DefinitionAudit).where(DefinitionAudit.action == "migrate")).one()
    version_2 = versions[cases["report"]]
    assert version_2 != versions[cases["check"]] == versions[cases["old"]]  # only the ticked movable case
    assert audit.actor == "ana.vlaio" and audit.detail["moved"] == [cases["report"]]
    trail = analyst.get("/modeler/migr").get_data(as_text=True)
    assert "Dossiers gemigreerd" in trail and "Herinnering na 3 weken" in trail
    assert "van versie 1 naar 2: 1 verplaatst, 1 geweigerd" in trail
    story = analyst.get(f"/dossiers/{cases['report']}").get_data(as_text=True)
    assert "Naar een nieuwe versie van het proces gebracht" in story and "van versie 1 naar versie 2" in story
