"""Every route of the provider, bureau and agency pages against every role, and the cross-organisation and
cross-bureau cases; markup in a company name shows as text; a POST without a CSRF token is refused."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import event, func, select

from engine import clock
from engine.api import Engine
from engine.config import PROJECT_ROOT
from engine.models import DefinitionAudit, ModelDraft
from tasks import people, renewal
from tasks.models import Person
from tests.web.conftest import add_person, csrf_token, login
from tests.web.test_complaints import filed
from tests.web.test_provider import (
    ACME,
    MODULES,
    OTHER,
    client_of,
    complete,
    grant,
    post,
    ready,
    registered,
    start,
    to_report,
)

PEOPLE = ("kees.acme", "jan.acme", "admin.acme", "piet.andere", "auditor.dnv", "an.vlaio", "bea.beheer")
ANALYST = "ana.analist"  # the workbench's one role; kept out of PEOPLE, whose table predates it
SCRIPT = "<script>alert(1)</script> BV"
ASPECTS = ("conformity", "demonstrability")


@dataclass
class World:
    ids: dict[str, Any]
    clients: dict[str, FlaskClient]


@pytest.fixture
def world(app: Flask, engine: Engine) -> World:
    grant(engine, "jan.acme")
    add_person(engine, "kees.acme", (), {"enterprise_number": ACME})
    add_person(engine, "bea.beheer", ("beheerder",), {"kind": "agency"})
    acme_case, acme_number = registered(engine, "APP-M-000001")
    _, other_number = registered(engine, "APP-M-000002", enterprise_number=OTHER, company_name="Andere BV")
    acme_sign = start(engine, "APP-M-000003", services=["advice"])
    other_sign = start(engine, "APP-M-000004", services=["advice"], enterprise_number=OTHER)
    checking = start(engine, "APP-M-000005", services=["advice"])
    complete(engine, checking, "sign_declaration", {"declaration_accepted": True, "declared_by": "Jan"})
    dnv_wait = to_report(engine, "APP-M-000006", services=["advice"])
    kiwa_wait = to_report(engine, "APP-M-000007", bureau="kiwa", services=["advice"], enterprise_number=OTHER)
    with engine.transaction() as db:
        person_ids = {p.username: p.id for p in db.query(Person)}
    complaint, answer = filed(engine, "APP-M-000006")  # Acme's complaint to DNV, waiting for its answer
    ids = {
        "complaint": complaint,
        "answer": answer,
        "acme_case": acme_case,
        "acme_number": acme_number,
        "other_number": other_number,
        "acme_sign": ready(engine, acme_sign, "sign_declaration")[0],
        "other_sign": ready(engine, other_sign, "sign_declaration")[0],
        "check": ready(engine, checking, "check_declaration")[0],
        "dnv_wait": dnv_wait,
        "kiwa_wait": kiwa_wait,
        "kees": person_ids["kees.acme"],
        "piet": person_ids["piet.andere"],
    }
    add_person(engine, "ana.analist", ("analist",), {"kind": "agency"})
    clients = {name: client_of(app, name) for name in (*PEOPLE, ANALYST)}
    clients["anonymous"] = app.test_client()
    return World(ids, clients)


# (endpoint, method, path template, form data, who may use it). Claim before release, an before bea.
ROUTES: list[tuple[str, str, str, dict[str, Any], set[str]]] = [
    ("provider.index", "GET", "/aanbieder/", {}, {"jan.acme", "admin.acme", "piet.andere"}),
    ("provider.case", "GET", "/aanbieder/aanvragen/{acme_case}", {}, {"jan.acme", "admin.acme"}),
    (
        "provider.certificate_pdf",
        "GET",
        "/aanbieder/registraties/{acme_number}/attest.pdf",
        {},
        {"jan.acme", "admin.acme"},
    ),
    ("provider.apply", "GET", "/aanbieder/aanvragen/nieuw", {}, {"jan.acme", "piet.andere"}),
    ("provider.apply", "POST", "/aanbieder/aanvragen/nieuw", {}, {"jan.acme", "piet.andere"}),
    ("provider.task", "GET", "/aanbieder/taken/{acme_sign}", {}, {"jan.acme"}),
    ("provider.task", "POST", "/aanbieder/taken/{acme_sign}", {}, {"jan.acme"}),
    ("provider.request_renewal", "GET", "/aanbieder/aanvragen/{acme_case}/verlenging", {}, {"jan.acme"}),
    ("provider.request_renewal", "POST", "/aanbieder/aanvragen/{acme_case}/verlenging", {}, {"jan.acme"}),
    ("provider.users", "GET", "/aanbieder/gebruikers", {}, {"admin.acme"}),
    ("provider.set_right", "POST", "/aanbieder/gebruikers/{kees}", {"action": "revoke"}, {"admin.acme"}),
    ("provider.invite", "GET", "/aanbieder/gebruikers/uitnodigen", {}, {"admin.acme"}),
    (
        "provider.invite",
        "POST",
        "/aanbieder/gebruikers/uitnodigen",
        {"name": "X", "email": "x"},
        {"admin.acme"},
    ),
    ("bureau.index", "GET", "/auditbureau/", {}, {"auditor.dnv"}),
    ("bureau.report", "GET", "/auditbureau/audits/{dnv_wait}", {}, {"auditor.dnv"}),
    ("bureau.report", "POST", "/auditbureau/audits/{dnv_wait}", {}, {"auditor.dnv"}),
    ("agency.inbox", "GET", "/vlaio/", {}, {"an.vlaio", "bea.beheer"}),
    ("agency.task", "GET", "/vlaio/taken/{check}", {}, {"an.vlaio", "bea.beheer"}),
    ("agency.task", "POST", "/vlaio/taken/{check}", {}, {"an.vlaio", "bea.beheer"}),
    ("agency.claim", "POST", "/vlaio/taken/{check}/opnemen", {}, {"an.vlaio", "bea.beheer"}),
    ("agency.release", "POST", "/vlaio/taken/{check}/vrijgeven", {}, {"an.vlaio", "bea.beheer"}),
    ("complaints.index", "GET", "/klachten/", {}, {*PEOPLE} - {"kees.acme"}),
    ("complaints.new", "GET", "/klachten/nieuw", {}, {"jan.acme", "piet.andere"}),
    ("complaints.new", "POST", "/klachten/nieuw", {}, {"jan.acme", "piet.andere"}),
    (
        "complaints.show",
        "GET",
        "/klachten/{complaint}",
        {},
        {"jan.acme", "admin.acme", "auditor.dnv", "an.vlaio", "bea.beheer"},
    ),
    ("complaints.task", "GET", "/klachten/{complaint}/taken/{answer}", {}, {"auditor.dnv"}),
    ("complaints.task", "POST", "/klachten/{complaint}/taken/{answer}", {}, {"auditor.dnv"}),
]

# Someone with the right role reaching into another organisation's or bureau's things.
CROSSINGS: list[tuple[str, str, str, dict[str, Any]]] = [
    ("piet.andere", "GET", "/aanbieder/aanvragen/{acme_case}", {}),
    ("piet.andere", "GET", "/aanbieder/registraties/{acme_number}/attest.pdf", {}),
    ("jan.acme", "GET", "/aanbieder/registraties/{other_number}/attest.pdf", {}),
    ("admin.acme", "GET", "/aanbieder/registraties/{other_number}/attest.pdf", {}),
    ("jan.acme", "GET", "/aanbieder/taken/{other_sign}", {}),
    (
        "jan.acme",
        "POST",
        "/aanbieder/taken/{other_sign}",
        {"declaration_accepted": "1", "declared_by": "Jan"},
    ),
    ("piet.andere", "GET", "/aanbieder/taken/{acme_sign}", {}),
    ("jan.acme", "GET", "/aanbieder/taken/{check}", {}),
    ("admin.acme", "POST", "/aanbieder/gebruikers/{piet}", {"action": "grant"}),
    ("piet.andere", "GET", "/aanbieder/aanvragen/{acme_case}/verlenging", {}),
    (
        "piet.andere",
        "POST",
        "/aanbieder/aanvragen/{acme_case}/verlenging",
        {"audit_bureau": "kiwa", "audit_hours": "8"},
    ),
    # The first audit's bureau may not deliver the renewal audit the provider did not ask it for.
    (
        "auditor.dnv",
        "POST",
        "/auditbureau/audits/{acme_case}",
        {
            "report_id": "X-REN",
            "audit_type": "full",
            **{f"scores.{m}.{a}": "T" for m in MODULES for a in ASPECTS},
        },
    ),
    ("auditor.dnv", "GET", "/auditbureau/audits/{kiwa_wait}", {}),
    ("auditor.dnv", "POST", "/auditbureau/audits/{kiwa_wait}", {"report_id": "X", "audit_type": "full"}),
]


# The analyst's workbench: every route is the analyst's alone (GET, POST and the editor's PUT). The
# matrix runs after a second version of ``registration`` is deployed, so the diff has two versions.
MODELER_ROUTES: list[tuple[str, str, str, dict[str, Any]]] = [
    ("modeler.index", "GET", "/modeler/", {}),
    ("modeler.process", "GET", "/modeler/registration", {}),
    ("modeler.edit", "GET", "/modeler/registration/edit", {}),
    ("modeler.draft_json", "GET", "/modeler/registration/draft.json", {}),
    ("modeler.draft_save", "PUT", "/modeler/registration/draft.json", {"files": []}),
    ("modeler.validate_json", "POST", "/modeler/registration/validate.json", {"files": []}),
    ("modeler.deploy", "POST", "/modeler/registration/deploy", {"reason": "x"}),
    ("modeler.discard", "POST", "/modeler/registration/discard", {}),
    ("modeler.operators_json", "GET", "/modeler/api/operators.json", {}),
    ("modeler.forms_json", "GET", "/modeler/api/forms.json?key=registration", {}),
    (
        "modeler.timer_json",
        "POST",
        "/modeler/api/timer.json",
        {"kind": "timeDuration", "expression": "'P1D'"},
    ),
    ("modeler.form_preview_json", "POST", "/modeler/api/form-preview.json", {"schema": "{}"}),
    ("modeler.download", "GET", "/modeler/registration/versions/1/download", {}),
    ("modeler.diagram_xml", "GET", "/modeler/registration/versions/1/diagram.xml", {}),
    ("modeler.diff", "GET", "/modeler/registration/diff?from=1&to=2", {}),
    ("modeler.diff_json", "GET", "/modeler/registration/diff.json?from=1&to=2", {}),
    ("modeler.migrate", "GET", "/modeler/registration/migrate", {}),
    ("modeler.migrate_run", "POST", "/modeler/registration/migrate", {"from": "1", "to": "2"}),
    ("modeler.tryout", "GET", "/modeler/registration/try", {}),
    ("modeler.tryout_create", "POST", "/modeler/registration/try", {}),
    ("modeler.tryout_start", "POST", "/modeler/registration/try/start", {}),
    ("modeler.tryout_complete", "POST", "/modeler/registration/try/tasks/none", {}),
    ("modeler.tryout_message", "POST", "/modeler/registration/try/message", {}),
    ("modeler.tryout_advance", "POST", "/modeler/registration/try/advance", {"duration": "P1D"}),
    ("modeler.tryout_discard", "POST", "/modeler/registration/try/discard", {}),
    ("modeler.tryout_diagram", "GET", "/modeler/registration/try/diagram.xml", {}),
]
JSON_BODY = frozenset(
    {"modeler.draft_save", "modeler.validate_json", "modeler.timer_json", "modeler.form_preview_json"}
)


# The monitor: agency staff and operators (and analysts, who are agency staff too) read it and act on it.
MONITOR_ROUTES: list[tuple[str, str, str, dict[str, Any]]] = [
    ("monitor.index", "GET", "/monitor/", {}),
    ("monitor.diagram", "GET", "/monitor/diagram/registration.bpmn", {}),
    ("monitor.trends", "GET", "/monitor/trends", {}),
    ("monitor.retry", "POST", "/monitor/incidents/1/retry", {}),
    (
        "monitor.retry_group",
        "POST",
        "/monitor/incidents/retry-group",
        {"process": "registration", "element": "x", "error": "y"},
    ),
    ("monitor.resend", "POST", "/monitor/mails/1/resend", {}),
]
MONITOR_STAFF = {"an.vlaio", "bea.beheer", ANALYST}


def _call(client: FlaskClient, method: str, path: str, data: dict[str, Any], json: bool = False) -> Any:
    if method == "GET":
        return client.get(path)
    if json:
        headers = {"X-CSRFToken": csrf_token(client, "/login")}
        return client.open(path, method=method, json=data, headers=headers)
    return client.post(path, data={**data, "csrf_token": csrf_token(client, "/login")})


def test_the_table_names_every_route_of_the_three_audiences(app: Flask) -> None:
    mine = {
        (rule.endpoint, method)
        for rule in app.url_map.iter_rules()
        if rule.endpoint.split(".")[0] in ("provider", "bureau", "agency", "complaints")
        for method in (rule.methods or set()) - {"HEAD", "OPTIONS"}
    }
    assert mine == {(endpoint, method) for endpoint, method, *_ in ROUTES}


def test_every_route_against_every_role(world: World) -> None:
    for endpoint, method, template, data, allowed in ROUTES:
        path = template.format(**world.ids)
        anonymous = _call(world.clients["anonymous"], method, path, data)
        assert anonymous.status_code == 302 and "/login" in anonymous.headers["Location"], (endpoint, method)
        for name in PEOPLE:
            response = _call(world.clients[name], method, path, data)
            if name in allowed:
                assert response.status_code not in (403, 404), (endpoint, method, name)
                assert "/login" not in response.headers.get("Location", ""), (endpoint, method, name)
            else:
                assert response.status_code == 403, (endpoint, method, name, response.status_code)


def test_the_workbench_table_names_every_route_of_the_workbench(app: Flask) -> None:
    mine = {
        (rule.endpoint, method)
        for rule in app.url_map.iter_rules()
        if rule.endpoint.startswith("modeler.")
        for method in (rule.methods or set()) - {"HEAD", "OPTIONS"}
    }
    assert mine == {(endpoint, method) for endpoint, method, *_ in MODELER_ROUTES}


def test_only_analysts_reach_the_workbench(world: World, engine: Engine, tmp_path: Path) -> None:
    """Save, deploy, migrate, try: every workbench route answers 403 to everyone but the analyst, and a
    refused request leaves no draft, version or audit row behind."""
    shutil.copytree(PROJECT_ROOT / "bpmn", tmp_path / "bpmn")
    changed = tmp_path / "bpmn" / "registration.bpmn"
    changed.write_text(changed.read_text().replace('"P4W"', '"P3W"'))
    with engine.transaction() as db:
        assert engine.deploy(db, [tmp_path / "bpmn"]).created == [
            {"process_key": "registration", "version": 2}
        ]
    for endpoint, method, path, data in MODELER_ROUTES:
        json = endpoint in JSON_BODY
        anonymous = _call(world.clients["anonymous"], method, path, data, json)
        assert anonymous.status_code in (302, 401), (endpoint, anonymous.status_code)
        for name in PEOPLE:
            response = _call(world.clients[name], method, path, data, json)
            assert response.status_code == 403, (endpoint, method, name, response.status_code)
        with engine.transaction(write=False) as db:
            assert db.scalar(select(func.count()).select_from(DefinitionAudit)) == 0, endpoint
            assert db.scalar(select(func.count()).select_from(ModelDraft)) == 0, endpoint
        response = _call(world.clients[ANALYST], method, path, data, json)
        assert response.status_code != 403 and response.status_code < 500, (endpoint, response.status_code)
        assert "/login" not in response.headers.get("Location", ""), endpoint


def test_only_agency_staff_reach_the_monitor(world: World, app: Flask) -> None:
    mine = {
        (rule.endpoint, method)
        for rule in app.url_map.iter_rules()
        if rule.endpoint.startswith("monitor.")
        for method in (rule.methods or set()) - {"HEAD", "OPTIONS"}
    }
    assert mine == {(endpoint, method) for endpoint, method, *_ in MONITOR_ROUTES}
    for endpoint, method, path, data in MONITOR_ROUTES:
        anonymous = _call(world.clients["anonymous"], method, path, data)
        assert anonymous.status_code == 302 and "/login" in anonymous.headers["Location"], endpoint
        for name in (*PEOPLE, ANALYST):
            response = _call(world.clients[name], method, path, data)
            if name in MONITOR_STAFF:
                assert response.status_code not in (401, 403) and response.status_code < 500, (endpoint, name)
            else:
                assert response.status_code == 403, (endpoint, method, name, response.status_code)


def test_no_reaching_into_another_organisation_or_bureau(world: World) -> None:
    for name, method, template, data in CROSSINGS:
        response = _call(world.clients[name], method, template.format(**world.ids), data)
        assert response.status_code in (403, 404), (name, method, template, response.status_code)
    jan = world.clients["jan.acme"]
    assert jan.get("/aanbieder/registraties/DV.O999999/attest.pdf").status_code == 404
    other = world.clients["piet.andere"].get("/aanbieder/").get_data(as_text=True)
    assert world.ids["acme_number"] not in other and "APP-M-000001" not in other
    assert world.ids["other_number"] in other


def test_markup_in_a_company_name_is_shown_as_text(app: Flask, engine: Engine) -> None:
    grant(engine, "jan.acme")
    jan = client_of(app, "jan.acme")
    typed = {
        "company_name": SCRIPT,
        "email": "info@acme.be",
        "iban": "BE48 0011 2345 6727",
        "bic": "GEBABEBB",
        "services": ["training"],
        "provider_type": "private",
    }
    refused = post(jan, "/aanbieder/aanvragen/nieuw", {**typed, "iban": "BE00"}).get_data(as_text=True)
    accepted = post(jan, "/aanbieder/aanvragen/nieuw", typed)
    case = int(accepted.headers["Location"].rsplit("/", 1)[-1])
    complete(engine, case, "sign_declaration", {"declaration_accepted": True, "declared_by": "<b>Jan</b>"})
    complete(engine, case, "check_declaration", {"decision": "approve"})
    [choose] = ready(engine, case, "choose_bureau")
    pages = [
        refused,
        jan.get("/aanbieder/").get_data(as_text=True),
        jan.get(f"/aanbieder/aanvragen/{case}").get_data(as_text=True),
        jan.get(f"/aanbieder/taken/{choose}").get_data(as_text=True),
        client_of(app, "an.vlaio").get(f"/vlaio/taken/{choose}").get_data(as_text=True),
    ]
    complete(engine, case, "choose_bureau", {"audit_bureau": "dnv", "audit_hours": 8})
    auditor = client_of(app, "auditor.dnv")
    pages += [
        auditor.get("/auditbureau/").get_data(as_text=True),
        auditor.get(f"/auditbureau/audits/{case}").get_data(as_text=True),
    ]
    for html in pages:
        assert "<script>alert(1)</script>" not in html and "<b>Jan</b>" not in html
        assert "&lt;script&gt;alert(1)&lt;/script&gt; BV" in html


def test_a_post_without_csrf_token_is_refused(world: World, engine: Engine) -> None:
    ids = world.ids
    posts = [
        ("jan.acme", "/aanbieder/aanvragen/nieuw"),
        ("jan.acme", f"/aanbieder/taken/{ids['acme_sign']}"),
        ("jan.acme", f"/aanbieder/aanvragen/{ids['acme_case']}/verlenging"),
        ("admin.acme", f"/aanbieder/gebruikers/{ids['kees']}"),
        ("auditor.dnv", f"/auditbureau/audits/{ids['dnv_wait']}"),
        ("an.vlaio", f"/vlaio/taken/{ids['check']}"),
        ("an.vlaio", f"/vlaio/taken/{ids['check']}/opnemen"),
        ("an.vlaio", f"/vlaio/taken/{ids['check']}/vrijgeven"),
    ]
    data = {
        "action": "grant",
        "decision": "approve",
        "declaration_accepted": "1",
        "declared_by": "Jan",
        "audit_bureau": "kiwa",
        "audit_hours": "8",
    }
    for name, path in posts:
        assert world.clients[name].post(path, data=data).status_code == 400, path
    with engine.transaction() as db:
        assert engine.task(db, ids["check"]).claimed_by is None
        assert engine.task(db, ids["acme_sign"]).status == "ready"
        assert renewal.history(db, "APP-M-000001") == []
        kees = db.get(Person, ids["kees"])
        assert kees is not None and people.roles_of(db, kees) == set()


def test_logging_in_again_keeps_the_rights_of_the_new_person(app: Flask) -> None:
    client = app.test_client()
    login(client, "auditor.dnv")
    assert client.get("/auditbureau/").status_code == 200
    client.post("/logout", data={"csrf_token": csrf_token(client, "/")})
    login(client, "an.vlaio")
    assert client.get("/auditbureau/").status_code == 403 and client.get("/vlaio/").status_code == 200


class Writes:
    """Counts the statements that change the database (INSERT, UPDATE, DELETE) while switched on."""

    def __init__(self, engine: Engine) -> None:
        self.seen: list[str] = []
        self.on = False
        event.listen(engine.db, "before_cursor_execute", self._statement)

    def _statement(self, conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if self.on and statement.lstrip().split(" ", 1)[0].upper() in ("INSERT", "UPDATE", "DELETE"):
            self.seen.append(statement.split("\n", 1)[0][:80])


def test_reading_a_page_or_the_api_writes_nothing(world: World, app: Flask, engine: Engine) -> None:
    """Every GET route for each person allowed it, the case pages and the API's reads: no write at all
    (the API records a token's use at most once a minute, in a transaction of its own)."""
    writes = Writes(engine)
    token = people_token(engine, "an.vlaio")
    api = app.test_client()
    headers = {"Authorization": f"Bearer {token}"}
    assert api.get("/api/v1/cases", headers=headers).status_code == 200  # records the token's first use
    engine.advance_clock(clock.now() + timedelta(seconds=30))  # later, but within the minute: no new record
    writes.on = True
    for endpoint, method, template, _, allowed in ROUTES:
        if method != "GET":
            continue
        for name in sorted(allowed):
            response = world.clients[name].get(template.format(**world.ids))
            assert response.status_code == 200, (endpoint, name, response.status_code)
    staff = world.clients["an.vlaio"]
    for path in ("/dossiers/", f"/dossiers/{world.ids['acme_case']}", "/register/?q=Acme", "/"):
        assert staff.get(path).status_code == 200, path
    for path in ("/cases", f"/cases/{world.ids['acme_case']}", "/tasks", "/registrations"):
        assert api.get(f"/api/v1{path}", headers=headers).status_code == 200, path
    assert writes.seen == []
    writes.on = False
    engine.advance_clock(clock.now() + timedelta(minutes=1))  # a minute after the recorded use: noted again
    writes.on = True
    for _ in range(3):
        assert api.get("/api/v1/cases", headers=headers).status_code == 200
    assert [w.split(" SET ")[0] for w in writes.seen] == ["UPDATE api_token"]


def people_token(engine: Engine, username: str) -> str:
    with engine.transaction() as db:
        person = db.query(Person).filter_by(username=username).one()
        return people.issue_token(db, person, "reads", clock.now())


# Every route family that takes a number from the path or the query, with the person who may use it.
NUMBERED: list[tuple[str, str, str]] = [
    ("jan.acme", "GET", "/aanbieder/aanvragen/{n}"),
    ("jan.acme", "GET", "/aanbieder/aanvragen/{n}/verlenging"),
    ("jan.acme", "POST", "/aanbieder/aanvragen/{n}/verlenging"),
    ("admin.acme", "POST", "/aanbieder/gebruikers/{n}"),
    ("auditor.dnv", "GET", "/auditbureau/audits/{n}"),
    ("auditor.dnv", "POST", "/auditbureau/audits/{n}"),
    ("an.vlaio", "GET", "/dossiers/{n}"),
    ("jan.acme", "GET", "/klachten/{n}"),
    ("an.vlaio", "GET", "/dossiers/{n}/diagram.bpmn"),
    ("bea.beheer", "POST", "/dossiers/{n}/incidents/{n}/retry"),
    ("jan.acme", "POST", "/account/sleutels/{n}/intrekken"),
    (ANALYST, "GET", "/modeler/registration/versions/{n}/download"),
    (ANALYST, "GET", "/modeler/registration/versions/{n}/diagram.xml"),
    (ANALYST, "GET", "/modeler/registration/diff?from={n}&to=1"),
    (ANALYST, "GET", "/modeler/registration/diff.json?from=1&to={n}"),
]


@pytest.mark.parametrize("number", [2**31, 99_999_999_999, 0])
def test_an_id_no_row_can_have_is_not_found_on_every_route(
    world: World, app: Flask, engine: Engine, number: int
) -> None:
    """Ids above 2^31-1 (what a PostgreSQL integer holds) or below 1 answer 404, never 500."""
    for name, method, template in NUMBERED:
        path = template.format(n=number)
        response = _call(world.clients[name], method, path, {})
        assert response.status_code == 404, (name, method, path, response.status_code)
    token = people_token(engine, "an.vlaio")
    api = app.test_client()
    headers = {"Authorization": f"Bearer {token}"}
    for method, path in (
        ("GET", f"/api/v1/cases/{number}"),
        ("GET", f"/api/v1/tasks?case={number}"),
        ("POST", f"/api/v1/cases/{number}/renewal"),
    ):
        response = api.open(path, method=method, headers=headers, json={})
        assert response.status_code == 404, (path, response.status_code)
        assert response.is_json and response.get_json()["error"], path


# Every route family that takes text from the path, the query or a form, with the person who may use it
# and the answer: 400 where the text reaches the database, 200 where a filter is applied in memory (a
# filter with a NUL character matches nothing) or the parameter is not one the page reads.
TEXTUAL: list[tuple[str, str, str, dict[str, str], int]] = [
    ("jan.acme", "GET", "/aanbieder/taken/a%00b", {}, 400),
    ("jan.acme", "GET", "/aanbieder/registraties/DV%00/attest.pdf", {}, 400),
    ("jan.acme", "POST", "/aanbieder/aanvragen/nieuw", {"company_name": "A\x00B"}, 400),
    ("an.vlaio", "GET", "/vlaio/taken/a%00b", {}, 400),
    ("an.vlaio", "GET", "/vlaio/?name=a%00b&process=x%00", {}, 400),
    ("an.vlaio", "GET", "/dossiers/?process=a%00b&waiting_at=%00&status=%00", {}, 400),
    ("auditor.dnv", "GET", "/auditbureau/?q=%00", {}, 400),
    ("jan.acme", "POST", "/account/sleutels", {"label": "a\x00b"}, 400),
    ("anonymous", "GET", "/register/?q=a%00b", {}, 400),
    ("anonymous", "POST", "/login", {"username": "a\x00b", "password": "x"}, 400),
    (ANALYST, "GET", "/modeler/a%00b", {}, 400),
    (ANALYST, "GET", "/modeler/?q=a%00b", {}, 400),
    (ANALYST, "GET", "/modeler/api/forms.json?key=a%00b", {}, 400),
    (ANALYST, "POST", "/modeler/a%00b/deploy", {"reason": "x"}, 400),
    (ANALYST, "POST", "/modeler/registration/deploy", {"reason": "a\x00b"}, 400),
]


def test_text_with_a_nul_byte_is_a_clear_400_never_a_500(world: World, app: Flask, engine: Engine) -> None:
    """PostgreSQL cannot store or compare text with a NUL character: every route that would pass it to
    the database answers 400 with a message, on both databases (never 500)."""
    for name, method, path, data, status in TEXTUAL:
        response = _call(world.clients[name], method, path, data)
        assert response.status_code == status, (name, method, path, response.status_code)
    token = people_token(engine, "an.vlaio")
    api = app.test_client()
    headers = {"Authorization": f"Bearer {token}"}
    for path in (
        "/api/v1/cases?status=%00",
        "/api/v1/registrations/DV%00",
        "/api/v1/registrations?status=a%00",
        "/api/v1/tasks/a%00b",
        "/api/v1/processes/a%00b/form",
    ):
        response = api.get(path, headers=headers)
        assert response.status_code == 400 and response.is_json, (path, response.status_code)
        assert response.get_json()["message"], path  # says what is wrong
