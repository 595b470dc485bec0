"""The JSON API at /api/v1: bearer tokens, rights per role, the audit bureau journey, OpenAPI."""

from __future__ import annotations

import re
import threading
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from jsonschema import Draft202012Validator
from sqlalchemy import update
from werkzeug.test import TestResponse

from engine import clock
from engine.api import Engine
from engine.models import ClockState
from tasks import people
from tasks.dates import BRUSSELS
from tasks.keys import APPLICATION_KEY
from tasks.models import Organisation, Person
from tests.conftest import make_engine
from tests.procedures.conftest import MODULES, application
from tests.web.conftest import csrf_token, login

API = "/api/v1"


def report(application_id: str, report_id: str = "DNV-2027-0001", **changes: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "application_id": application_id,
        "report_id": report_id,
        "audit_type": "full",
        "scores": {m: {"conformity": "T", "demonstrability": "V"} for m in MODULES},
    }
    payload.update(changes)
    return payload


class Api:
    """A machine client with one person's token."""

    def __init__(self, client: FlaskClient, token: str | None) -> None:
        self.client = client
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}

    def get(self, path: str, **kw: Any) -> TestResponse:
        return self.client.get(API + path, headers=self.headers, **kw)

    def post(self, path: str, body: Any) -> TestResponse:
        return self.client.post(API + path, json=body, headers=self.headers)

    def ok(self, response: TestResponse, status: int = 200) -> Any:
        assert response.status_code == status, response.get_data(as_text=True)
        assert response.is_json
        return response.get_json()


def token_for(engine: Engine, username: str) -> str:
    with engine.transaction() as db:
        person = db.query(Person).filter_by(username=username).one()
        return people.issue_token(db, person, f"test {username}", clock.now())


def add_person(engine: Engine, username: str, org: Organisation | str, roles: tuple[str, ...]) -> str:
    """A new person (and organisation, when given by name as an audit bureau code); returns a token."""
    with engine.transaction() as db:
        if isinstance(org, str):
            org = people.create_organisation(db, org.upper(), "audit_bureau", audit_bureau_code=org)
        person = people.create_person(
            db,
            username=username,
            name=username,
            email=f"{username}@x.example",
            password="irrelevant-123",
            organisation=org,
            roles=roles,
            now=clock.now(),
        )
        return people.issue_token(db, person, "test", clock.now())


@pytest.fixture
def engine_(app: Flask) -> Engine:
    found: Engine = app.extensions["kmop"]
    return found


@pytest.fixture
def provider(engine_: Engine, client: FlaskClient) -> Api:
    """jan.acme, given the provider profile by the local administrator of Acme."""
    with engine_.transaction() as db:
        admin = db.query(Person).filter_by(username="admin.acme").one()
        jan = db.query(Person).filter_by(username="jan.acme").one()
        people.grant_provider_profile(db, admin, jan, clock.now())
    return Api(client, token_for(engine_, "jan.acme"))


@pytest.fixture
def agency(engine_: Engine, client: FlaskClient) -> Api:
    return Api(client, token_for(engine_, "an.vlaio"))


@pytest.fixture
def auditor(engine_: Engine, client: FlaskClient) -> Api:
    return Api(client, token_for(engine_, "auditor.dnv"))


def ready(api: Api, case_id: int, element: str) -> list[dict[str, Any]]:
    tasks = api.ok(api.get("/tasks", query_string={"case": case_id}))["tasks"]
    return [t for t in tasks if t["element_id"] == element]


def complete(api: Api, element: str, case_id: int, data: dict[str, Any]) -> dict[str, Any]:
    found = ready(api, case_id, element)
    assert found, f"no ready task {element} for this caller"
    result: dict[str, Any] = api.ok(api.post(f"/tasks/{found[0]['id']}/complete", {"data": data}))
    return result


def apply(provider: Api, key: str = "APP-API-0001", **changes: Any) -> int:
    body = {"data": application(**changes), "business_key": key}
    started = provider.ok(provider.post("/processes/registration/instances", body), 201)
    assert started["business_key"] == key
    case_id: int = started["id"]
    return case_id


def to_audit(
    provider: Api, agency: Api, key: str = "APP-API-0001", bureau: str = "dnv", **changes: Any
) -> int:
    """A registration, driven through the API by its provider and the agency until it waits for the report."""
    case_id = apply(provider, key, **changes)
    for task in ready(provider, case_id, "sign_declaration"):
        body = {"data": {"declaration_accepted": True, "declared_by": "Jan Peeters"}}
        provider.ok(provider.post(f"/tasks/{task['id']}/complete", body))
    assert not ready(provider, case_id, "check_declaration"), "the agency's task is not the provider's"
    complete(agency, "check_declaration", case_id, {"decision": "approve"})
    complete(provider, "choose_bureau", case_id, {"audit_bureau": bureau, "audit_hours": 12})
    detail = agency.ok(agency.get(f"/cases/{case_id}"))
    assert "wait_report" in detail["active_elements"]
    return case_id


def validator(doc: dict[str, Any], name: str) -> Draft202012Validator:
    """A validator for the document's component schema ``name`` (references resolve inside ``doc``)."""
    return Draft202012Validator({**doc, "$ref": f"#/components/schemas/{name}"})


def assert_error(response: TestResponse, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.is_json, response.get_data(as_text=True)
    body: dict[str, Any] = response.get_json()
    assert isinstance(body.get("error"), str) and body["error"]
    assert isinstance(body.get("message"), str) and body["message"]
    return body


# ------------------------------------------------------------------------------------- the journey


def test_the_audit_bureau_system_journey(
    client: FlaskClient, provider: Api, agency: Api, auditor: Api
) -> None:
    doc = client.get(f"{API}/openapi.json").get_json()
    case_id = to_audit(provider, agency)

    # The bureau sees the case assigned to it, without personal data.
    listed = auditor.ok(auditor.get("/cases"))["cases"]
    assert [c["id"] for c in listed] == [case_id]
    validator(doc, "CaseList").validate(auditor.ok(auditor.get("/cases")))
    assert auditor.ok(auditor.get("/cases", query_string={"process": "registration"}))["cases"] == listed
    assert auditor.ok(auditor.get("/cases", query_string={"process": "renewal"}))["cases"] == []
    assert auditor.ok(auditor.get("/cases", query_string={"status": "completed"}))["cases"] == []
    assert_error(auditor.get("/cases", query_string={"limit": "0"}), 400)
    seen = auditor.ok(auditor.get(f"/cases/{case_id}"))
    assert seen["data"]["audit_bureau"] == "dnv"
    text = str(seen)
    for personal in ("Acme Opleidingen", "info@acme.be", "BE48", "GEBABEBB", "Jan Peeters", "jan.acme"):
        assert personal not in text
    validator(doc, "CaseDetail").validate(seen)

    # It sends its report: delivered; the same report again: a duplicate, accepted once.
    first = auditor.ok(auditor.post("/messages/audit_report", report("APP-API-0001")))
    assert first["status"] == "delivered" and first["instance_id"] == case_id
    again = auditor.ok(auditor.post("/messages/audit_report", report("APP-API-0001")))
    assert again["status"] == "duplicate" and again["instance_id"] == case_id
    validator(doc, "MessageResult").validate(again)

    # It reads the result: the case moved on, the outcome is positive, the agency decides next.
    after = auditor.ok(auditor.get(f"/cases/{case_id}"))
    assert after["data"]["outcome"] == "positive"
    assert "wait_report" not in after["active_elements"] and "decide" in after["active_elements"]
    received = [h for h in after["history"] if h["event"] == "message_received"]
    assert len(received) == 1

    # The agency decides through the API; the register shows the new DV.O number.
    decide = ready(agency, case_id, "decide")
    form = agency.ok(agency.get(f"/tasks/{decide[0]['id']}"))
    assert form["form_schema"]["properties"]["decision"]["enum"] == ["approve", "reject"]
    validator(doc, "TaskWithForm").validate(form)
    done = complete(agency, "decide", case_id, {"decision": "approve", "decision_note": "audit positief"})
    validator(doc, "CompleteResult").validate(done)
    register = auditor.ok(auditor.get("/registrations"))
    validator(doc, "RegistrationList").validate(register)
    ours = [r for r in register["registrations"] if r["enterprise_number"] == "0566988259"]
    assert len(ours) == 1 and re.fullmatch(r"DV\.O\d{6}", ours[0]["registration_number"])
    assert ours[0]["service"] == "training" and ours[0]["status"] == "active"
    assert "email" not in ours[0] and "application_id" not in ours[0]
    one = auditor.ok(auditor.get(f"/registrations/{ours[0]['registration_number']}"))
    validator(doc, "Registration").validate(one)
    assert one["history"] and one["history"][0]["status"] == "active"
    assert one["valid_from"] < one["valid_until"]


def test_the_provider_sees_its_own_case_in_full_and_acts_only_on_its_own_tasks(
    provider: Api, agency: Api
) -> None:
    case_id = apply(provider)
    detail = provider.ok(provider.get(f"/cases/{case_id}"))
    assert detail["data"]["company_name"] == "Acme Opleidingen BV"
    mine = provider.ok(provider.get("/tasks"))["tasks"]
    assert mine and {t["lane"] for t in mine} == {"Dienstverlener"}
    assert {t["instance_id"] for t in mine} == {case_id}
    for task in mine:
        body = {"data": {"declaration_accepted": True, "declared_by": "Jan Peeters"}}
        provider.ok(provider.post(f"/tasks/{task['id']}/complete", body))
    check = ready(agency, case_id, "check_declaration")[0]
    assert_error(provider.get(f"/tasks/{check['id']}"), 403)
    assert_error(provider.post(f"/tasks/{check['id']}/complete", {"data": {"decision": "approve"}}), 403)
    assert_error(provider.post("/messages/audit_report", report("APP-API-0001")), 403)


def test_a_task_completed_already_answers_409(provider: Api, agency: Api) -> None:
    case_id = apply(provider)
    task = ready(provider, case_id, "sign_declaration")[0]
    body = {"data": {"declaration_accepted": True, "declared_by": "Jan Peeters"}}
    provider.ok(provider.post(f"/tasks/{task['id']}/complete", body))
    again = assert_error(provider.post(f"/tasks/{task['id']}/complete", body), 409)
    assert "already completed" in again["message"]
    assert provider.ok(provider.get(f"/tasks/{task['id']}"))["status"] == "completed"


def test_a_claimed_task_is_completed_and_released_only_by_its_claimer(
    engine_: Engine, client: FlaskClient, provider: Api, agency: Api
) -> None:
    with engine_.transaction() as db:
        vlaio = db.query(Organisation).filter_by(kind="agency").one()
    bart = Api(client, add_person(engine_, "bart.vlaio", vlaio, ("vlaio",)))
    operator = Api(client, add_person(engine_, "bea.beheer", vlaio, ("beheerder",)))
    case_id = apply(provider)
    for task in ready(provider, case_id, "sign_declaration"):
        body = {"data": {"declaration_accepted": True, "declared_by": "Jan Peeters"}}
        provider.ok(provider.post(f"/tasks/{task['id']}/complete", body))
    [check] = ready(agency, case_id, "check_declaration")
    path = f"/tasks/{check['id']}"
    assert agency.ok(agency.post(f"{path}/claim", {}))["claimed_by"] == "an.vlaio"
    assert "claimed by an.vlaio" in assert_error(bart.post(f"{path}/claim", {}), 409)["message"]
    refused = assert_error(bart.post(f"{path}/complete", {"data": {"decision": "approve"}}), 409)
    assert "claimed by an.vlaio" in refused["message"]
    assert_error(bart.post(f"{path}/release", {}), 403)
    assert_error(provider.post(f"{path}/claim", {}), 403)
    assert operator.ok(operator.post(f"{path}/release", {}))["claimed_by"] is None
    assert bart.ok(bart.post(f"{path}/claim", {}))["claimed_by"] == "bart.vlaio"
    assert bart.ok(bart.post(f"{path}/release", {}))["claimed_by"] is None
    agency.ok(agency.post(f"{path}/complete", {"data": {"decision": "approve"}}))
    assert_error(agency.post(f"{path}/release", {}), 409)


# ------------------------------------------------------------------------------------ authentication


def test_no_token_or_a_bad_one_answers_401_json(client: FlaskClient, auditor: Api) -> None:
    for headers in (
        {},
        {"Authorization": "Bearer kmop_not-a-real-token"},
        {"Authorization": "Bearer "},
        {"Authorization": "Basic YXVkaXRvcjpnZWhlaW0="},
        {"Authorization": auditor.headers["Authorization"].replace("Bearer ", "")},
    ):
        for response in (
            client.get(f"{API}/cases", headers=headers),
            client.post(f"{API}/messages/audit_report", json=report("APP-X"), headers=headers),
        ):
            body = assert_error(response, 401)
            assert body["error"] == "Unauthorized"
            assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert auditor.get("/cases").status_code == 200


def test_the_browser_session_cookie_does_not_authenticate_the_api(client: FlaskClient) -> None:
    login(client, "an.vlaio")
    assert client.get("/").status_code == 200
    assert_error(client.get(f"{API}/cases"), 401)
    assert_error(client.post(f"{API}/processes/registration/instances", json={"data": application()}), 401)


def test_a_token_of_a_person_no_longer_active_is_refused(engine_: Engine, auditor: Api) -> None:
    assert auditor.get("/cases").status_code == 200
    with engine_.transaction() as db:
        db.query(Person).filter_by(username="auditor.dnv").one().active = False
    assert_error(auditor.get("/cases"), 401)


# ---------------------------------------------------------------------------------------------- rights


def test_an_auditor_of_another_bureau_cannot_report_or_see(
    engine_: Engine, client: FlaskClient, provider: Api, agency: Api, auditor: Api
) -> None:
    case_id = to_audit(provider, agency)
    kiwa = Api(client, add_person(engine_, "auditor.kiwa", "kiwa", ("auditbureau",)))
    refused = assert_error(kiwa.post("/messages/audit_report", report("APP-API-0001")), 403)
    assert "bureau" in refused["message"]
    assert_error(kiwa.get(f"/cases/{case_id}"), 403)
    assert kiwa.ok(kiwa.get("/cases"))["cases"] == []
    # Unknown application ids answer the same, so a bureau cannot probe for other bureaus' cases.
    assert_error(kiwa.post("/messages/audit_report", report("APP-DOES-NOT-EXIST")), 403)
    # The refused report was not taken: the right bureau's report with the same id is delivered.
    assert auditor.ok(auditor.post("/messages/audit_report", report("APP-API-0001")))["status"] == "delivered"


def test_a_report_id_used_for_another_application_answers_409(
    engine_: Engine, client: FlaskClient, provider: Api, agency: Api, auditor: Api
) -> None:
    to_audit(provider, agency)
    piet = Api(client, token_for(engine_, "piet.andere"))
    other = dict(enterprise_number="1000.000.021", company_name="Andere BV", email="info@andere.be")
    other_id = to_audit(piet, agency, "APP-API-0002", bureau="kiwa", **other)
    kiwa = Api(client, add_person(engine_, "auditor.kiwa", "kiwa", ("auditbureau",)))
    assert (
        auditor.ok(auditor.post("/messages/audit_report", report("APP-API-0001", "R-1")))["status"]
        == "delivered"
    )
    reused = assert_error(kiwa.post("/messages/audit_report", report("APP-API-0002", "R-1")), 409)
    assert "APP-API-0001" not in reused["message"]
    assert "wait_report" in agency.ok(agency.get(f"/cases/{other_id}"))["active_elements"]
    delivered = kiwa.ok(kiwa.post("/messages/audit_report", report("APP-API-0002", "KIWA-1")))
    assert delivered["status"] == "delivered" and delivered["instance_id"] == other_id


def test_a_provider_of_another_organisation_cannot_see_or_act(
    engine_: Engine, client: FlaskClient, provider: Api
) -> None:
    case_id = apply(provider)
    piet = Api(client, token_for(engine_, "piet.andere"))
    assert_error(piet.get(f"/cases/{case_id}"), 403)
    assert piet.ok(piet.get("/cases"))["cases"] == []
    assert piet.ok(piet.get("/tasks"))["tasks"] == []
    task = ready(provider, case_id, "sign_declaration")[0]
    assert_error(piet.get(f"/tasks/{task['id']}"), 403)
    body = {"data": {"declaration_accepted": True, "declared_by": "Piet"}}
    assert_error(piet.post(f"/tasks/{task['id']}/complete", body), 403)
    assert_error(piet.get("/cases/999999"), 404)
    # Nor apply in another organisation's name.
    other = piet.post("/processes/registration/instances", {"data": application(), "business_key": "APP-P"})
    assert_error(other, 403)


def test_an_auditor_cannot_start_cases_or_complete_tasks(provider: Api, auditor: Api) -> None:
    case_id = apply(provider)
    assert_error(auditor.post("/processes/registration/instances", {"data": application()}), 403)
    task = ready(provider, case_id, "sign_declaration")[0]
    assert_error(auditor.post(f"/tasks/{task['id']}/complete", {"data": {}}), 403)
    assert auditor.ok(auditor.get("/tasks"))["tasks"] == []


# ------------------------------------------------------------------------------------------ validation


def test_a_malformed_report_answers_400_with_errors_by_field(
    client: FlaskClient, provider: Api, agency: Api, auditor: Api
) -> None:
    case_id = to_audit(provider, agency)
    bad = report("APP-API-0001", audit_type="complete", follow_up_deadline="30/06/2027")
    bad["scores"]["activity"]["conformity"] = "X"
    body = assert_error(auditor.post("/messages/audit_report", bad), 400)
    assert {"audit_type", "follow_up_deadline"} <= set(body["errors"])
    missing = assert_error(auditor.post("/messages/audit_report", {"report_id": "R-1"}), 400)
    assert {"application_id", "audit_type", "scores"} <= set(missing["errors"])
    scores = assert_error(
        auditor.post(
            "/messages/audit_report", report("APP-API-0001", scores={"activity": {"conformity": "Q"}})
        ),
        400,
    )
    assert any(name.startswith("scores.") for name in scores["errors"])
    not_json = client.post(
        f"{API}/messages/audit_report", data="nope", headers={**auditor.headers, "Content-Type": "text/plain"}
    )
    assert_error(not_json, 400)
    doc = client.get(f"{API}/openapi.json").get_json()
    validator(doc, "Error").validate(body)
    assert not validator(doc, "AuditReport").is_valid(bad)
    assert validator(doc, "AuditReport").is_valid(report("APP-API-0001"))
    # Nothing reached the case.
    assert "wait_report" in agency.ok(agency.get(f"/cases/{case_id}"))["active_elements"]


def test_an_invalid_application_answers_400_with_errors_by_field(provider: Api) -> None:
    data = application(iban="BE69 5390 0754 7034", email="not-an-address")
    body = assert_error(
        provider.post("/processes/registration/instances", {"data": data, "business_key": "APP-BAD"}), 400
    )
    assert {"iban", "email"} <= set(body["errors"])
    assert_error(provider.post("/processes/registration/instances", {"data": "x"}), 400)
    assert_error(provider.post("/processes/registration/instances", {"data": {}, "business_key": "a b"}), 400)
    assert provider.ok(provider.get("/cases"))["cases"] == []


def test_a_business_key_in_use_answers_409_and_one_is_made_when_absent(provider: Api) -> None:
    apply(provider, "APP-TAKEN")
    taken = provider.post(
        "/processes/registration/instances", {"data": application(), "business_key": "APP-TAKEN"}
    )
    assert_error(taken, 409)
    made = provider.ok(provider.post("/processes/registration/instances", {"data": application()}), 201)
    # the same format as an application filed in the portal (tests/web/test_provider.py)
    assert APPLICATION_KEY.fullmatch(made["business_key"]), made["business_key"]
    assert made["business_key"].startswith(f"APP-{clock.now().astimezone(BRUSSELS).year}-")


def test_unknown_things_answer_404_json(agency: Api) -> None:
    assert_error(agency.get("/cases/424242"), 404)
    assert_error(agency.get("/tasks/no-such-task"), 404)
    assert_error(agency.get("/registrations/DV.O999999"), 404)
    assert_error(agency.post("/processes/nope/instances", {"data": {}}), 404)
    assert_error(agency.post("/messages/audit_report", report("APP-NOBODY")), 404)
    assert_error(agency.get("/no-such-route"), 404)
    assert_error(agency.post("/registrations", {}), 405)


# -------------------------------------------------------------------------------------------- OpenAPI


def test_the_openapi_document_describes_every_route(app: Flask, client: FlaskClient) -> None:
    response = client.get(f"{API}/openapi.json")  # no token needed
    assert response.status_code == 200 and response.is_json
    doc = response.get_json()
    assert doc["openapi"].startswith("3.1")
    assert doc["components"]["securitySchemes"]["bearerAuth"] == {
        **doc["components"]["securitySchemes"]["bearerAuth"],
        "type": "http",
        "scheme": "bearer",
    }
    assert {"AuditReport", "Error", "MessageResult"} <= set(doc["components"]["schemas"])
    for schema in doc["components"]["schemas"].values():
        Draft202012Validator.check_schema(schema)
    prefix = doc["servers"][0]["url"]
    documented = {
        (method.upper(), prefix + re.sub(r"\{(\w+)\}", r"<\1>", path))
        for path, item in doc["paths"].items()
        for method in item
    }
    routes = {
        (method, re.sub(r"<(?:\w+:)?(\w+)>", r"<\1>", rule.rule))
        for rule in app.url_map.iter_rules()
        if rule.endpoint.startswith("api.")
        for method in rule.methods or ()
        if method not in ("HEAD", "OPTIONS")
    }
    assert documented == routes
    # Every operation documents its errors with the Error schema; all but the document need a token.
    for path, item in doc["paths"].items():
        for operation in item.values():
            if path != "/openapi.json":
                assert "401" in operation["responses"] and operation.get("security") is None
    for name in ("BadRequest", "Unauthorized", "Forbidden", "NotFound", "Conflict"):
        schema = doc["components"]["responses"][name]["content"]["application/json"]["schema"]
        assert schema == {"$ref": "#/components/schemas/Error"}


def test_a_token_issued_on_the_command_line_works_until_revoked(app: Any, client: Any, capsys: Any) -> None:
    from web.cli import main as kmop

    engine = app.extensions["kmop"]
    assert kmop(["token", "issue", "auditor.dnv", "--label", "bureau-system"], engine=engine) == 0
    token = capsys.readouterr().out.strip()
    assert token.startswith("kmop_")
    assert client.get("/api/v1/cases", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    assert kmop(["token", "revoke", "auditor.dnv"], engine=engine) == 0
    assert client.get("/api/v1/cases", headers={"Authorization": f"Bearer {token}"}).status_code == 401
    assert kmop(["token", "issue", "nobody"], engine=engine) == 4


def _post_together(app: Flask, headers: dict[str, str], body: dict[str, Any]) -> list[tuple[int, Any]]:
    """Post ``body`` from two clients at the same moment; their answers."""
    barrier = threading.Barrier(2)
    answers: list[tuple[int, Any]] = []

    def post() -> None:
        client = app.test_client()
        barrier.wait()
        response = client.post(API + "/messages/audit_report", json=body, headers=headers)
        answers.append((response.status_code, response.get_json()))

    threads = [threading.Thread(target=post) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return answers


def test_the_same_report_posted_twice_at_once_is_delivered_once_and_answered_duplicate(
    app: Flask, provider: Api, agency: Api, auditor: Api
) -> None:
    for n in range(5):
        key = f"APP-API-{n + 20:04d}"
        case_id = to_audit(provider, agency, key)
        answers = _post_together(app, auditor.headers, report(key, f"DNV-TWICE-{n}"))
        assert [code for code, _ in answers] == [200, 200], answers
        assert sorted(body["status"] for _, body in answers) == ["delivered", "duplicate"], answers
        detail = agency.ok(agency.get(f"/cases/{case_id}"))
        assert len([h for h in detail["history"] if h["event"] == "message_received"]) == 1


def test_starts_never_fail_while_another_process_commits(app: Flask, engine_: Engine, provider: Api) -> None:
    """A request that writes takes the write lock up front: on SQLite, one that read first and wrote later
    was refused at once ("database is locked") when another writer committed in between."""
    stop = threading.Event()
    other = make_engine(str(engine_.db.url), replay=False)  # the worker, say: its own connections

    def commit_all_the_time() -> None:
        while not stop.is_set():
            with other.transaction() as db:
                db.execute(update(ClockState).values(now=ClockState.now))

    writer = threading.Thread(target=commit_all_the_time)
    writer.start()
    try:
        answers = [
            provider.post(
                "/processes/registration/instances",
                {"data": application(), "business_key": f"APP-LOCK-{n:04d}"},
            ).status_code
            for n in range(30)
        ]
    finally:
        stop.set()
        writer.join()
        other.close()
    assert answers == [201] * 30


def test_a_nul_byte_or_a_body_nested_too_deep_gets_a_clear_400_anywhere(
    client: FlaskClient, provider: Api, agency: Api
) -> None:
    deep = "[" * 50_000 + "]" * 50_000
    response = client.post(
        f"{API}/messages/audit_report",
        data=deep,
        headers={**agency.headers, "Content-Type": "application/json"},
    )
    assert_error(response, 400)
    nested: Any = "x"
    for _ in range(500):
        nested = [nested]
    body = {"data": {**application(), "services": nested}, "business_key": "APP-DEEP"}
    assert (
        "nests deeper"
        in assert_error(provider.post("/processes/registration/instances", body), 400)["message"]
    )
    with_nul = {"data": application(), "business_key": "APP-\x00"}
    assert_error(provider.post("/processes/registration/instances", with_nul), 400)
    assert_error(agency.get("/tasks/abc%00def"), 400)
    assert_error(agency.post("/messages/audit_report", report("APP-\x00")), 400)
    assert client.get("/register/?q=Acme%00").status_code == 400
    token = csrf_token(client)
    login_page = client.post("/login", data={"username": "an\x00vlaio", "password": "x", "csrf_token": token})
    assert login_page.status_code == 400 and "NUL" in login_page.get_data(as_text=True)
