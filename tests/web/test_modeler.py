"""The analyst's workbench: drafts are saved and validated but never reach a running case, a draft with a
problem cannot be deployed, a deploy keeps who, when and why and shows its diff, and only analysts edit."""

from __future__ import annotations

import io
import json
import zipfile
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from engine import clock
from engine.api import Engine
from engine.models import DefinitionAudit, ModelDraft, ProcessInstance, ProcessVersion
from tests.web.test_provider import to_report

from .conftest import add_person, csrf_token, login

REMINDER = "report_after_4_weeks"
QUOTED = '"P4W"</bpmn:timeDuration>'


@pytest.fixture
def analyst(app: Flask, engine: Engine) -> FlaskClient:
    add_person(engine, "ana.analist", ("analist",))
    client = app.test_client()
    assert login(client, "ana.analist").status_code == 302
    return client


def _headers(client: FlaskClient) -> dict[str, str]:
    return {"X-CSRFToken": csrf_token(client, "/login")}


def _files(client: FlaskClient) -> tuple[str, list[dict[str, Any]]]:
    answer = client.get("/modeler/registration/draft.json").get_json()
    return answer["main"], [{"name": f["name"], "content": f["content"]} for f in answer["files"]]


def _with_timer(files: list[dict[str, Any]], main: str, expression: str) -> list[dict[str, Any]]:
    changed = []
    for f in files:
        content = f["content"]
        if f["name"] == main:
            assert QUOTED in content
            content = content.replace(QUOTED, f"{expression}</bpmn:timeDuration>")
        changed.append({"name": f["name"], "content": content})
    return changed


def _save(client: FlaskClient, files: list[dict[str, Any]]) -> Any:
    return client.put("/modeler/registration/draft.json", json={"files": files}, headers=_headers(client))


def _case_state(engine: Engine, instance_id: int) -> tuple[int, list[tuple[str, Any]]]:
    with engine.transaction(write=False) as db:
        case = db.get(ProcessInstance, instance_id)
        assert case is not None
        version = db.get(ProcessVersion, case.process_version_id)
        assert version is not None
        timers = sorted((t.element_id, t.due_at) for t in engine.timers(db, instance_id))
        return version.version, timers


def test_the_list_and_the_process_page_say_what_is_deployed(analyst: FlaskClient) -> None:
    listing = analyst.get("/modeler/")
    assert listing.status_code == 200
    page = listing.get_data(as_text=True)
    assert 'data-process="registration"' in page and "versie 1" in page
    assert analyst.get("/modeler/?q=klacht").get_data(as_text=True).count("data-process=") >= 1
    assert "modeler-none" in analyst.get("/modeler/?q=bestaat-niet").get_data(as_text=True)
    process = analyst.get("/modeler/registration").get_data(as_text=True)
    assert 'data-version="1"' in process and "Geen ontwerp open" in process
    assert analyst.get("/modeler/bestaat-niet").status_code == 404
    editor = analyst.get("/modeler/registration/edit").get_data(as_text=True)
    assert 'id="modeler-config"' in editor and 'name="csrf-token"' in editor
    assert "https://" not in editor.split('id="modeler-config"')[0]  # nothing from another host


def test_a_draft_is_saved_and_validated_but_never_reaches_a_running_case(
    analyst: FlaskClient, engine: Engine
) -> None:
    waiting = to_report(engine, "APP-W-000001", services=["advice"])
    before = _case_state(engine, waiting)
    assert before[0] == 1 and any(spec == REMINDER for spec, _ in before[1])

    main, files = _files(analyst)
    assert main == "registration.bpmn"
    answer = _save(analyst, _with_timer(files, main, "P3W"))  # unquoted: a name, not a text
    assert answer.status_code == 200
    problems = answer.get_json()["problems"]
    assert [p["element"] for p in problems] == [REMINDER]
    assert problems[0]["file"] == main and problems[0]["message"]

    # The problem is the one `kmop deploy` would print, and deploying is refused while it remains.
    refused = analyst.post(
        "/modeler/registration/deploy",
        data={"reason": "3 weken", "csrf_token": csrf_token(analyst, "/login")},
    )
    assert refused.status_code == 302 and refused.headers["Location"].endswith("/modeler/registration/edit")
    with engine.transaction(write=False) as db:
        assert db.scalar(select(ProcessVersion).where(ProcessVersion.version == 2)) is None
        assert db.get(ModelDraft, "registration") is not None
    assert _case_state(engine, waiting) == before

    fixed = _save(analyst, _with_timer(files, main, '"P3W"')).get_json()
    assert fixed["problems"] == []
    assert _case_state(engine, waiting) == before  # saved, valid, still not deployed: nothing moves
    reloaded = analyst.get("/modeler/registration/draft.json").get_json()
    assert reloaded["saved"] is True and '"P3W"' in next(
        f["content"] for f in reloaded["files"] if f["name"] == main
    )
    assert "Er is een ontwerp" in analyst.get("/modeler/registration").get_data(as_text=True)
    listing = analyst.get("/modeler/").get_data(as_text=True)
    row = listing.split('data-process="registration"')[1].split("</tr>")[0]
    assert "ontwerp open" in row and "<td>1</td>" in row  # the draft, and the one running case


def test_deploying_needs_a_reason_keeps_the_trail_and_shows_the_diff(
    analyst: FlaskClient, engine: Engine
) -> None:
    waiting = to_report(engine, "APP-W-000002", services=["advice"])
    before = _case_state(engine, waiting)
    main, files = _files(analyst)
    assert _save(analyst, _with_timer(files, main, '"P3W"')).get_json()["problems"] == []

    token = csrf_token(analyst, "/login")
    no_reason = analyst.post("/modeler/registration/deploy", data={"reason": " ", "csrf_token": token})
    assert no_reason.headers["Location"].endswith("/edit")
    done = analyst.post(
        "/modeler/registration/deploy", data={"reason": "Herinnering na 3 weken", "csrf_token": token}
    )
    assert done.status_code == 302 and done.headers["Location"].endswith("/modeler/registration")

    with engine.transaction(write=False) as db:
        assert db.get(ModelDraft, "registration") is None  # the draft became version 2
        trail = db.scalars(select(DefinitionAudit).where(DefinitionAudit.action == "deploy")).all()
        assert [(t.actor, t.reason, t.detail["changed"]) for t in trail] == [
            ("ana.analist", "Herinnering na 3 weken", [REMINDER])
        ]
    assert _case_state(engine, waiting) == before  # the running case stays on version 1

    page = analyst.get("/modeler/registration").get_data(as_text=True)
    assert 'data-version="2"' in page and "Herinnering na 3 weken" in page and "ana.analist" in page
    assert "Migreren naar versie 2" in page
    row = analyst.get("/modeler/").get_data(as_text=True).split('data-process="registration"')[1]
    assert "(2 versies)" in row.split("</tr>")[0] and "ontwerp open" not in row.split("</tr>")[0]

    diff = analyst.get("/modeler/registration/diff.json?from=1&to=2").get_json()
    assert diff["changed"] == {REMINDER: [{"property": "timer.duration", "old": '"P4W"', "new": '"P3W"'}]}
    assert diff["added"] == [] and diff["removed"] == []
    html = analyst.get("/modeler/registration/diff").get_data(as_text=True)
    assert f'data-element="{REMINDER}"' in html and "timer (duur)" in html
    assert analyst.get("/modeler/registration/diff?from=2&to=2").status_code == 400
    assert analyst.get("/modeler/registration/diff?from=1&to=99").status_code == 404

    archive = analyst.get("/modeler/registration/versions/1/download")
    assert archive.status_code == 200 and archive.mimetype == "application/zip"
    names = zipfile.ZipFile(io.BytesIO(archive.data)).namelist()
    assert "registration.bpmn" in names and "registration_route.dmn" in names
    v2 = analyst.get("/modeler/registration/versions/2/diagram.xml").get_data(as_text=True)
    assert '"P3W"' in v2
    assert analyst.get("/modeler/registration/versions/7/download").status_code == 404


def test_discarding_a_draft_goes_back_to_the_deployed_version(analyst: FlaskClient, engine: Engine) -> None:
    main, files = _files(analyst)
    _save(analyst, _with_timer(files, main, '"P2W"'))
    gone = analyst.post("/modeler/registration/discard", data={"csrf_token": csrf_token(analyst, "/login")})
    assert gone.status_code == 302
    answer = analyst.get("/modeler/registration/draft.json").get_json()
    assert answer["saved"] is False and answer["base_version"] == 1
    with engine.transaction(write=False) as db:
        assert [a.action for a in db.scalars(select(DefinitionAudit))] == ["discard"]


def test_the_panel_helpers_answer_with_choices_moments_and_previews(analyst: FlaskClient) -> None:
    operators = analyst.get("/modeler/api/operators.json").get_json()
    assert operators and all({"name", "parameters"} <= set(o) for o in operators)
    forms = analyst.get("/modeler/api/forms.json?key=registration").get_json()["forms"]
    assert "application.json" in forms and all(f.endswith(".json") for f in forms)

    headers = _headers(analyst)
    ok = analyst.post(
        "/modeler/api/timer.json", json={"kind": "timeDuration", "expression": '"P3W"'}, headers=headers
    )
    answer = ok.get_json()
    assert answer["ok"] is True
    assert answer["moment"] == (clock.now() + timedelta(weeks=3)).isoformat()
    bad = analyst.post(
        "/modeler/api/timer.json", json={"kind": "timeDuration", "expression": "P3W"}, headers=headers
    )
    assert bad.get_json()["ok"] is False and bad.get_json()["message"]

    schema = json.dumps(
        {
            "type": "object",
            "properties": {"naam": {"type": "string", "title": "Naam"}},
            "x-labels-en": {"naam": "Name"},
        }
    )
    nl = analyst.post(
        "/modeler/api/form-preview.json", json={"schema": schema, "lang": "nl"}, headers=headers
    )
    en = analyst.post(
        "/modeler/api/form-preview.json", json={"schema": schema, "lang": "en"}, headers=headers
    )
    assert "Naam" in nl.get_json()["html"] and "Name" in en.get_json()["html"]
    broken = analyst.post(
        "/modeler/api/form-preview.json", json={"schema": "{", "lang": "nl"}, headers=headers
    )
    assert broken.status_code == 200 and broken.get_json()["error"]


def test_bad_input_gets_a_clear_error(analyst: FlaskClient) -> None:
    headers = _headers(analyst)
    for body in (None, {"files": "x"}, {"files": [{"name": "../x.bpmn", "content": "x"}]}):
        response = analyst.put("/modeler/registration/draft.json", json=body, headers=headers)
        assert response.status_code == 400 and response.is_json, body
        assert response.get_json()["message"]
    nul = analyst.put(
        "/modeler/registration/draft.json",
        json={"files": [{"name": "registration.bpmn", "content": "a\x00b"}]},
        headers=headers,
    )
    assert nul.status_code == 400
    assert analyst.get("/modeler/api/forms.json").status_code == 400
    assert analyst.get("/modeler/a%00b").status_code in (400, 404)
    malformed = analyst.post(
        "/modeler/registration/validate.json",
        json={"files": [{"name": "registration.bpmn", "content": "<bpmn:definitions"}]},
        headers=headers,
    )
    assert malformed.status_code == 200 and malformed.get_json()["problems"][0]["file"] == "registration.bpmn"


@pytest.mark.parametrize("username,roles", [("bea.beheer", ("beheerder",)), ("an.vlaio", None)])
def test_only_analysts_save_deploy_or_discard(
    app: Flask, engine: Engine, username: str, roles: tuple[str, ...] | None
) -> None:
    if roles:
        add_person(engine, username, roles)
    client = app.test_client()
    login(client, username)
    headers = _headers(client)
    token = headers["X-CSRFToken"]
    assert client.get("/modeler/").status_code == 403
    assert (
        client.put("/modeler/registration/draft.json", json={"files": []}, headers=headers).status_code == 403
    )
    assert (
        client.post("/modeler/registration/deploy", data={"reason": "x", "csrf_token": token}).status_code
        == 403
    )
    assert client.post("/modeler/registration/discard", data={"csrf_token": token}).status_code == 403
    with engine.transaction(write=False) as db:
        assert db.get(ModelDraft, "registration") is None
