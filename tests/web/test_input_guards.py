"""Bad input on every route family, on both databases: ids no row can have, NUL bytes, replayed cookies.

An id above 2**31-1 fails in PostgreSQL (ids are 32-bit there) and a NUL byte cannot be stored in its text;
either must answer 404 or 400 in words, never a 500. A session cookie copied before log-out must not log
anyone in afterwards, on any audience's pages; the API never takes the cookie at all (401).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import Flask
from flask.testing import FlaskClient

from engine.api import Engine
from engine.models import MAX_ID
from tests.web.conftest import csrf_token
from tests.web.test_api import token_for
from tests.web.test_provider import client_of, complete, grant, ready, start, to_report

TOO_BIG = MAX_ID + 1
HUGE = 10**30  # past any integer type a database has


@dataclass
class World:
    """A case waiting for its audit report, one at signing, and a client per audience."""

    reporting: int
    signing: int
    agency_task: str
    provider_task: str
    clients: dict[str, FlaskClient]
    token: str


def world(app: Flask, engine: Engine) -> World:
    reporting = to_report(engine, "APP-G-000001")
    signing = start(engine, "APP-G-000002")
    checking = start(engine, "APP-G-000003")
    complete(engine, checking, "sign_declaration", {"declaration_accepted": True, "declared_by": "Jan"})
    [agency_task] = ready(engine, checking, "check_declaration")
    [provider_task] = ready(engine, signing, "sign_declaration")
    grant(engine, "jan.acme")
    clients = {
        "provider": client_of(app, "jan.acme"),
        "manager": client_of(app, "admin.acme"),
        "bureau": client_of(app, "auditor.dnv"),
        "agency": client_of(app, "an.vlaio"),
        "anonymous": app.test_client(),
    }
    return World(reporting, signing, agency_task, provider_task, clients, token_for(engine, "an.vlaio"))


def call(client: FlaskClient, method: str, path: str, data: Any = None, token: str | None = None) -> Any:
    """GET, a form POST with a valid CSRF token, or (with a token) an API call with a JSON body."""
    if token is not None:
        headers = {"Authorization": f"Bearer {token}"}
        if method == "GET":
            return client.get(path, headers=headers)
        return client.post(path, json=data if data is not None else {}, headers=headers)
    if method == "GET":
        return client.get(path)
    form = dict(data or {})
    form.setdefault("csrf_token", csrf_token(client, "/login"))
    return client.post(path, data=form)


def test_impossible_ids_are_not_found_and_nul_bytes_refused_on_every_route(
    app: Flask, engine: Engine
) -> None:
    w = world(app, engine)
    checks: list[tuple[str, str, str, Any]] = []
    for bad in (TOO_BIG, HUGE, 0):
        checks += [
            ("provider", "GET", f"/aanbieder/aanvragen/{bad}", None),
            ("provider", "POST", f"/aanbieder/aanvragen/{bad}/verlenging", {"audit_bureau": "dnv"}),
            ("manager", "POST", f"/aanbieder/gebruikers/{bad}", {"action": "grant"}),
            ("bureau", "GET", f"/auditbureau/audits/{bad}", None),
            ("bureau", "POST", f"/auditbureau/audits/{bad}", {"report_id": "R-1"}),
            ("agency", "GET", f"/dossiers/{bad}", None),
            ("agency", "GET", f"/dossiers/{bad}/diagram.bpmn", None),
            ("agency", "POST", f"/dossiers/{w.reporting}/incidents/{bad}/retry", None),
            ("agency", "POST", f"/account/sleutels/{bad}/intrekken", {"confirmed": "1"}),
            ("agency", "GET", f"/vlaio/taken/{bad}", None),
            ("agency", "POST", f"/vlaio/taken/{bad}/opnemen", None),
            ("api", "GET", f"/api/v1/cases/{bad}", None),
            ("api", "POST", f"/api/v1/cases/{bad}/renewal", {"audit_bureau": "dnv", "audit_hours": 4}),
            ("api", "GET", f"/api/v1/tasks?case={bad}", None),
            ("api", "GET", f"/api/v1/tasks/{bad}", None),
            ("api", "POST", f"/api/v1/tasks/{bad}/complete", {"data": {}}),
        ]
    for family, method, path, data in checks:
        client = w.clients["agency" if family == "api" else family]
        response = call(client, method, path, data, w.token if family == "api" else None)
        assert response.status_code == 404, (method, path, response.status_code)
        if family == "api":
            assert response.get_json()["message"], path
        else:
            assert "Niet gevonden" in response.get_data(as_text=True), path
    # A filter with an impossible id counts as "any", as any other malformed filter value does.
    assert w.clients["agency"].get(f"/dossiers/?version={TOO_BIG}").status_code == 200

    nul = "a\x00b"
    checks = [
        ("anonymous", "POST", "/login", {"username": nul, "password": "x"}),
        ("anonymous", "GET", "/login?next=/%00", None),
        ("anonymous", "GET", "/register/?q=a%00b", None),
        ("anonymous", "GET", "/static/kmop%00.css", None),
        ("provider", "POST", "/aanbieder/aanvragen/nieuw", {"company_name": nul}),
        ("provider", "GET", "/aanbieder/registraties/DV.O00%00001/attest.pdf", None),
        ("provider", "POST", f"/aanbieder/taken/{w.provider_task}", {"declared_by": nul}),
        ("provider", "POST", f"/aanbieder/aanvragen/{w.signing}/verlenging", {nul: "1"}),
        ("provider", "POST", "/account/sleutels", {"label": nul}),
        ("bureau", "POST", f"/auditbureau/audits/{w.reporting}", {"report_id": nul}),
        ("agency", "GET", "/vlaio/?name=a%00b&process=%00", None),
        ("agency", "GET", "/vlaio/taken/a%00b", None),
        ("agency", "POST", f"/vlaio/taken/{w.agency_task}", {"decision": nul}),
        ("agency", "POST", f"/vlaio/taken/{w.agency_task}/opnemen", {"next": nul}),
        ("agency", "GET", "/dossiers/?process=a%00b&waiting_at=%00", None),
        ("api", "GET", "/api/v1/cases?status=a%00b", None),
        ("api", "GET", "/api/v1/tasks/a%00b", None),
        ("api", "GET", "/api/v1/registrations/DV%00", None),
        ("api", "GET", "/api/v1/processes/registr%00ation/form", None),
        ("api", "POST", "/api/v1/processes/registration/instances", {"data": {"company_name": nul}}),
        ("api", "POST", "/api/v1/messages/audit_report", {"application_id": "APP-G-000001", nul: 1}),
        ("api", "POST", f"/api/v1/tasks/{w.agency_task}/complete", {"data": {"reason": [nul]}}),
    ]
    for family, method, path, data in checks:
        client = w.clients["agency" if family == "api" else family]
        response = call(client, method, path, data, w.token if family == "api" else None)
        assert response.status_code == 400, (method, path, response.status_code)
        if family == "api":
            assert "NUL" in response.get_json()["message"], path
        else:
            assert "nulteken" in response.get_data(as_text=True), path


def test_a_cookie_copied_before_log_out_opens_nothing_afterwards(app: Flask, engine: Engine) -> None:
    """Every audience's pages send the replayed cookie to the log-in page; the API answers 401."""
    w = world(app, engine)
    pages = {
        "provider": [
            "/aanbieder/",
            f"/aanbieder/aanvragen/{w.signing}",
            f"/aanbieder/taken/{w.provider_task}",
        ],
        "manager": ["/aanbieder/gebruikers", "/account/sleutels"],
        "bureau": ["/auditbureau/", f"/auditbureau/audits/{w.reporting}"],
        "agency": ["/vlaio/", f"/vlaio/taken/{w.agency_task}", "/dossiers/", f"/dossiers/{w.reporting}"],
    }
    for family, paths in pages.items():
        client = w.clients[family]
        cookie = client.get_cookie("session")
        assert cookie is not None
        copy = app.test_client()
        copy.set_cookie("session", cookie.value)
        form_token = csrf_token(copy, "/")
        assert all(copy.get(path).status_code == 200 for path in paths), family
        stolen = copy.get_cookie("session")
        assert stolen is not None
        client.post("/logout", data={"csrf_token": csrf_token(client, "/")})
        for path in paths:
            response = copy.get(path)
            assert response.status_code == 302 and response.location.startswith("/login"), path
        copy.set_cookie("session", stolen.value)  # the cookie as it was stolen, with its form token
        refused = copy.post("/account/sleutels", data={"label": "stolen", "csrf_token": form_token})
        assert refused.status_code == 302 and refused.location.startswith("/login"), family
        assert copy.get("/api/v1/cases").status_code == 401, family
