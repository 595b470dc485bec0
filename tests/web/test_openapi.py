"""The OpenAPI description held against the API it describes.

Every route of the blueprint under /api/v1 is described, with the same methods and path parameters, and
every handler that reads a JSON body has that body described. Each described request body is then held
against what its handler validates with: the registration's application is the deployed start form
itself (less the keywords that only annotate); the start envelope and the audit report answer 400
through the handler exactly for the bodies their schema refuses; the renewal request is refused by the
``renewal_requested`` message's validator exactly when its schema refuses it. A ``data`` object of a
task is validated by that task's own form (``form_schema`` of GET /tasks/{task_id}), so the description
keeps it an open object.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from jsonschema import Draft202012Validator
from werkzeug.routing import Rule

from engine import clock
from engine.api import Engine
from tasks import people
from tasks.models import Person
from tests.procedures.conftest import EXEMPT, MODULES, application

API = "/api/v1"
JSON = "application/json"
# The request body each handler reads with ``json_body()``, by endpoint.
HANDLER_BODIES = {
    "api.start": "StartRequest",
    "api.complete": "CompleteRequest",
    "api.request_renewal": "RenewalRequest",
    "api.audit_report": "AuditReport",
}
# Keywords that describe rather than constrain (``format`` only annotates in draft 2020-12 by default).
ANNOTATIONS = frozenset({"title", "description", "examples", "enumNames", "format", "default", "$comment"})
PARAMETER = re.compile(r"<(?:(\w+)(?:\([^)]*\))?:)?(\w+)>")


@pytest.fixture
def doc(client: FlaskClient) -> dict[str, Any]:
    response = client.get(f"{API}/openapi.json")
    assert response.status_code == 200 and response.is_json
    found: dict[str, Any] = response.get_json()
    assert found["servers"] == [{"url": API}]
    return found


@pytest.fixture
def staff(app: Flask) -> dict[str, str]:
    """The headers of an agency employee's token (staff may start any process and send any report)."""
    engine: Engine = app.extensions["kmop"]
    with engine.transaction() as db:
        person = db.query(Person).filter_by(username="an.vlaio").one()
        token = people.issue_token(db, person, "test openapi", clock.now())
    return {"Authorization": f"Bearer {token}"}


def api_rules(app: Flask) -> Iterator[tuple[Rule, str, str]]:
    """Each route under /api/v1 with each of its methods: (rule, path as described, method)."""
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith(f"{API}/"):
            path = PARAMETER.sub(r"{\2}", rule.rule.removeprefix(API))
            for method in sorted(rule.methods or ()):
                if method not in ("HEAD", "OPTIONS"):
                    yield rule, path, method


def validator(doc: dict[str, Any], name: str) -> Draft202012Validator:
    """A validator for the document's component schema ``name`` (references resolve inside ``doc``)."""
    return Draft202012Validator({**doc, "$ref": f"#/components/schemas/{name}"})


def constraints(schema: Any) -> Any:
    """``schema`` without its annotations (and ``required`` in a fixed order): what it accepts."""
    if isinstance(schema, list):
        return [constraints(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    kept: dict[str, Any] = {}
    for key, value in schema.items():
        if key in ANNOTATIONS or key.startswith("x-"):
            continue
        if key in ("properties", "patternProperties", "$defs"):
            kept[key] = {name: constraints(sub) for name, sub in value.items()}
        elif key == "required":
            kept[key] = sorted(value)
        else:
            kept[key] = constraints(value)
    return kept


Verdict = tuple[Any, bool, bool, str]  # sample, valid by the description, accepted by the handler, why


def disagreements(verdicts: list[Verdict]) -> list[str]:
    """The samples on which the description and the handler disagree, each with the handler's answer."""
    return [
        f"{sample!r}: the description {'accepts' if by_doc else 'refuses'} it, the handler answered {why}"
        for sample, by_doc, by_handler, why in verdicts
        if by_doc != by_handler
    ]


# ------------------------------------------------------------------------------------------- routes


def test_every_route_under_api_v1_is_described_with_the_same_methods(app: Flask, doc: dict[str, Any]) -> None:
    routes: dict[str, set[str]] = {}
    for rule, path, method in api_rules(app):
        assert rule.endpoint.startswith("api."), rule
        routes.setdefault(path, set()).add(method)
    described = {path: {method.upper() for method in item} for path, item in doc["paths"].items()}
    assert described == routes


def test_every_path_parameter_is_described_with_its_type(app: Flask, doc: dict[str, Any]) -> None:
    for rule, path, method in api_rules(app):
        operation = doc["paths"][path][method.lower()]
        described = {
            p["name"]: p["schema"]["type"] for p in operation.get("parameters", ()) if p["in"] == "path"
        }
        expected = {
            name: "integer" if converter == "int" else "string"
            for converter, name in PARAMETER.findall(rule.rule)
        }
        assert described == expected, (method, path)


def test_every_body_a_handler_reads_is_described(app: Flask, doc: dict[str, Any]) -> None:
    for rule, path, method in api_rules(app):
        reads_body = "json_body()" in inspect.getsource(app.view_functions[rule.endpoint])
        assert reads_body == (rule.endpoint in HANDLER_BODIES), rule.endpoint
        body = doc["paths"][path][method.lower()].get("requestBody")
        described = body["content"][JSON]["schema"]["$ref"].rsplit("/", 1)[-1] if body else None
        assert described == HANDLER_BODIES.get(rule.endpoint), (method, path)
        assert body is None or body["required"] is True


# ----------------------------------------------------------------------------------- request bodies


def test_the_application_is_the_start_form_that_validates_it(app: Flask, doc: dict[str, Any]) -> None:
    engine: Engine = app.extensions["kmop"]
    with engine.transaction() as db:
        _, form = engine.start_form(db, "registration")
    assert form is not None
    assert constraints(doc["components"]["schemas"]["Application"]) == constraints(form)
    data = doc["components"]["schemas"]["StartRequest"]["properties"]["data"]
    assert {"$ref": "#/components/schemas/Application"} in data["anyOf"]


def test_the_start_handler_refuses_what_the_start_request_refuses(
    client: FlaskClient, doc: dict[str, Any], staff: dict[str, str]
) -> None:
    envelope, form = validator(doc, "StartRequest"), validator(doc, "Application")
    samples: list[dict[str, Any]] = [
        {"data": application(), "business_key": "APP-DOC-1"},
        {"data": application(), "business_key": None},
        {"data": application(), "business_key": "a" * 100},
        {"data": application(), "business_key": "a" * 101},
        {"data": application(), "business_key": "a b"},
        {"data": application(), "business_key": "-APP"},
        {"data": "not an object"},
        {"data": application(services=[])},
        {"data": application(services=["training", "training"])},
        {"data": application(provider_type="other")},
        {"data": application(starter="yes")},
        {"data": application(company_name="x" * 200)},
        {"data": application(company_name="x" * 201)},
        {"data": {k: v for k, v in application().items() if k != "bic"}},
        {"business_key": "APP-DOC-2"},
        # Not here: "" as business key, which the handler takes as absent and the description does not invite.
    ]
    verdicts: list[Verdict] = []
    for sample in samples:
        response = client.post(f"{API}/processes/registration/instances", json=sample, headers=staff)
        why = f"{response.status_code} {response.get_data(as_text=True)[:300]}"
        by_doc = envelope.is_valid(sample) and form.is_valid(sample["data"])  # the registration's data
        verdicts.append((sample, by_doc, response.status_code != 400, why))
    found = disagreements(verdicts)
    assert not found, "\n".join(found)
    assert {by_doc for _, by_doc, _, _ in verdicts} == {True, False}


def test_the_report_handler_refuses_what_the_audit_report_refuses(
    client: FlaskClient, doc: dict[str, Any], staff: dict[str, str]
) -> None:
    schemas = doc["components"]["schemas"]
    schema = validator(doc, "AuditReport")
    full: dict[str, Any] = schemas["AuditReport"]["examples"][0]
    one = {"activity": {"conformity": "T", "demonstrability": "V"}}
    follow_up = {**full, "audit_type": "follow_up", "scores": one}
    limited = {m: one["activity"] for m in MODULES if m not in EXEMPT}
    samples: list[dict[str, Any]] = [
        full,
        follow_up,
        {**full, "audit_type": "limited", "scores": limited},
        # every module and every score the description names
        *(
            {**follow_up, "scores": {m: one["activity"]}}
            for m in schemas["AuditReport"]["properties"]["scores"]["propertyNames"]["enum"]
        ),
        *(
            {**follow_up, "scores": {"activity": {"conformity": s, "demonstrability": s}}}
            for s in schemas["Score"]["enum"]
        ),
        {**follow_up, "follow_up_deadline": "2027-06-30"},
        *({k: v for k, v in full.items() if k != name} for name in full),
        {**full, "application_id": ""},
        {**full, "report_id": 42},
        {**full, "audit_type": "other"},
        {**follow_up, "scores": {}},
        {**follow_up, "scores": {"nope": one["activity"]}},
        {**follow_up, "scores": {"activity": {"conformity": "Q", "demonstrability": "V"}}},
        {**follow_up, "scores": {"activity": {"conformity": "T"}}},
        {**follow_up, "scores": {"activity": "TV"}},
        {**full, "scores": {m: {"conformity": "B", "demonstrability": "G"} for m in MODULES}},
        # Not here: which modules a full or limited audit must score, a rule the description states in words.
    ]
    verdicts: list[Verdict] = []
    for sample in samples:
        response = client.post(f"{API}/messages/audit_report", json=sample, headers=staff)
        assert response.status_code in (400, 404), response.get_data(as_text=True)  # no case has this id
        why = f"{response.status_code} {response.get_data(as_text=True)[:300]}"
        verdicts.append((sample, schema.is_valid(sample), response.status_code != 400, why))
    found = disagreements(verdicts)
    assert not found, "\n".join(found)
    assert {by_doc for _, by_doc, _, _ in verdicts} == {True, False}


def test_the_renewal_validator_refuses_what_the_renewal_request_refuses(
    app: Flask, doc: dict[str, Any]
) -> None:
    """The handler sends the body's two fields as message ``renewal_requested``; its contract validates."""
    engine: Engine = app.extensions["kmop"]
    contract = engine.registry.message("renewal_requested")
    assert contract is not None and contract.validate is not None
    schema = validator(doc, "RenewalRequest")
    example: dict[str, Any] = doc["components"]["schemas"]["RenewalRequest"]["examples"][0]
    samples: list[dict[str, Any]] = [
        example,
        *({**example, "audit_hours": hours} for hours in (0, 1, 80, 81, 12.5, True, None)),
        {**example, "audit_bureau": ""},
        {**example, "audit_bureau": 7},
        *({k: v for k, v in example.items() if k != name} for name in example),
        # Not here: hours as a string of digits and a bureau of spaces, which the validator also reads.
    ]
    verdicts: list[Verdict] = []
    for sample in samples:
        payload = {
            "application_id": "APP-1",
            "audit_bureau": sample.get("audit_bureau"),
            "audit_hours": sample.get("audit_hours"),
            "requested_by": "an.vlaio",
        }
        try:
            contract.validate(payload)
            verdicts.append((sample, schema.is_valid(sample), True, "accepted"))
        except ValueError as exc:
            verdicts.append((sample, schema.is_valid(sample), False, f"{type(exc).__name__}: {exc}"))
    found = disagreements(verdicts)
    assert not found, "\n".join(found)
    assert {by_doc for _, by_doc, _, _ in verdicts} == {True, False}
