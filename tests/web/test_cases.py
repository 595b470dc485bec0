"""The cases pages: the staff list and its filters, the case view, who may see what, and retrying."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from babel.dates import format_date
from flask import Flask
from flask.testing import FlaskClient

from engine import clock
from engine.api import Engine
from engine.services import ServiceRegistry
from tasks.validation import format_iban
from tests.procedures.conftest import application
from tests.web.conftest import csrf_token, login
from web.i18n import BRUSSELS, short_datetime

PERSONAL_VALUES = ("Acme Opleidingen BV", "info@acme.be", "BE48001123456727", "GEBABEBB", "Jan Peeters")


def shown(value: str) -> str:
    """A personal value as the case page says it (an IBAN in groups of four)."""
    return format_iban(value) if value.startswith("BE48") else value


def due(timer: Any) -> Any:
    return timer.due_at


def long_date(moment: Any) -> str:
    """``29 december 2026``: how the case page writes a date in Dutch."""
    return format_date(moment.astimezone(BRUSSELS).date(), "long", locale="nl_BE")


def start(engine: Engine, key: str, **changes: Any) -> int:
    with engine.transaction() as db:
        return engine.start(db, "registration", application(**changes), business_key=key).id


def complete(engine: Engine, instance_id: int, element: str, data: dict[str, Any]) -> None:
    with engine.transaction() as db:
        [task] = [t for t in engine.show(db, instance_id).ready_tasks if t.element_id == element]
        engine.complete(db, task.id, data, actor="tester")


def to_report(engine: Engine, key: str, bureau: str, **changes: Any) -> int:
    """A case that waits for the audit report of ``bureau`` (with its 4- and 6-week timers)."""
    case = start(engine, key, **changes)
    complete(engine, case, "sign_declaration", {"declaration_accepted": True, "declared_by": "Jan Peeters"})
    complete(engine, case, "check_declaration", {"decision": "approve"})
    complete(engine, case, "choose_bureau", {"audit_bureau": bureau, "audit_hours": 12})
    return case


@pytest.fixture
def cases(app: Flask, engine: Engine) -> dict[str, int]:
    return {
        "audit": to_report(engine, "APP-0001", "dnv"),
        "new": start(engine, "APP-0002"),
        "kiwa": to_report(
            engine, "APP-0003", "kiwa", enterprise_number="1000.000.021", company_name="Andere BV"
        ),
    }


def page(client: FlaskClient, path: str) -> str:
    response = client.get(path)
    assert response.status_code == 200, (path, response.status_code)
    return response.get_data(as_text=True)


def listed(html: str) -> set[int]:
    return {int(n) for n in re.findall(r'<tr data-case="(\d+)"', html)}


# --------------------------------------------------------------------------------------------- list


def test_staff_see_every_case_and_filter_by_process_version_status_and_element(
    client: FlaskClient, cases: dict[str, int]
) -> None:
    login(client, "an.vlaio")
    everything = set(cases.values())
    assert listed(page(client, "/dossiers/")) == everything
    assert listed(page(client, "/dossiers/?process=registration&version=1")) == everything
    assert listed(page(client, "/dossiers/?version=2")) == set()
    assert listed(page(client, "/dossiers/?process=renewal")) == set()
    assert listed(page(client, "/dossiers/?status=waiting")) == everything
    assert listed(page(client, "/dossiers/?status=completed")) == set()
    assert listed(page(client, "/dossiers/?waiting_at=sign_declaration")) == {cases["new"]}
    html = page(client, "/dossiers/?waiting_at=wait_report")
    assert listed(html) == {cases["audit"], cases["kiwa"]}
    assert '<option value="wait_report" selected>' in html
    assert listed(page(client, "/dossiers/?status=bogus&version=x")) == everything, "bad values mean any"


def test_overdue_filter_finds_cases_with_a_timer_in_the_past(
    client: FlaskClient, engine: Engine, cases: dict[str, int]
) -> None:
    login(client, "an.vlaio")
    assert listed(page(client, "/dossiers/?overdue=1")) == set()
    assert isinstance(engine.clock, clock.SimulatedClock)
    engine.clock.set(clock.now() + timedelta(weeks=5))  # past the 4-week timer; nobody fired it
    html = page(client, "/dossiers/?overdue=1")
    # the two with a timer in the past, and the one whose declaration was due after 2 weeks
    assert listed(html) == {cases["audit"], cases["kiwa"], cases["new"]}
    assert 'class="overdue"' in html


def test_the_filters_reach_older_cases_than_the_newest_shown(
    client: FlaskClient, engine: Engine, cases: dict[str, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    from web import lists

    monkeypatch.setattr(lists, "PAGE_SIZE", 1)  # only the newest case fits the page
    newer = [start(engine, f"APP-00{n}", services=["advice"]) for n in (10, 11)]
    login(client, "an.vlaio")
    assert listed(page(client, "/dossiers/")) == {newer[-1]}
    assert listed(page(client, "/dossiers/?waiting_at=wait_report")) == {cases["kiwa"]}
    assert listed(page(client, "/dossiers/?waiting_at=wait_report&process=registration&version=1")) == {
        cases["kiwa"]
    }
    assert isinstance(engine.clock, clock.SimulatedClock)
    engine.clock.set(clock.now() + timedelta(days=10))  # before any declaration is due (2 weeks)
    assert listed(page(client, "/dossiers/?overdue=1")) == set()
    engine.clock.set(clock.now() + timedelta(weeks=4))  # past the 4-week timers and the declarations
    assert listed(page(client, "/dossiers/?overdue=1")) == {newer[-1]}
    with engine.transaction() as db:
        assert engine.overdue(db, clock.now(), [cases["audit"], cases["new"]]) == {
            cases["audit"],
            cases["new"],
        }
        assert {"sign_declaration", "wait_report"} <= set(engine.waiting_elements(db))


@pytest.mark.parametrize("username", ["jan.acme", "admin.acme", "piet.andere", "auditor.dnv"])
def test_the_list_is_for_staff_only(client: FlaskClient, cases: dict[str, int], username: str) -> None:
    login(client, username)
    assert client.get("/dossiers/").status_code == 403


def test_the_list_asks_to_log_in_first(client: FlaskClient, app: Flask) -> None:
    response = client.get("/dossiers/")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


# ------------------------------------------------------------------------------------- case view


def test_case_view_passes_the_elements_to_mark_without_inline_script(
    client: FlaskClient, cases: dict[str, int]
) -> None:
    login(client, "an.vlaio")
    html = page(client, f"/dossiers/{cases['new']}")
    assert 'data-active="sign_declaration"' in html
    done = re.search(r'data-done="([^"]*)"', html)
    assert done and {"application_submitted", "eligibility_check"} <= set(done.group(1).split())
    assert f'data-diagram-url="/dossiers/{cases["new"]}/diagram.bpmn"' in html
    scripts = re.findall(r"<script[^>]*>", html)
    assert scripts and all(" src=" in s for s in scripts), "no inline scripts"
    assert "vendor/bpmn-js/bpmn-navigated-viewer.production.min.js" in html
    assert "Verklaring op eer ondertekenen" in html  # the open task


def test_case_view_shows_pending_timers_with_their_due_dates(
    client: FlaskClient, engine: Engine, cases: dict[str, int]
) -> None:
    login(client, "an.vlaio")
    html = page(client, f"/dossiers/{cases['audit']}")
    with engine.transaction() as db:
        timers = engine.show(db, cases["audit"]).timers
    assert {t.element_id for t in timers} == {"report_after_4_weeks", "report_after_6_weeks"}
    # In words: the timers by their names in the diagram, due on a long date; no element ids.
    for name, timer in zip(
        ("4 weken zonder rapport", "6 weken zonder rapport"), sorted(timers, key=due), strict=True
    ):
        assert f"<td>{name}</td><td>timer</td>" in html and long_date(timer.due_at) in html
    assert "<strong>Taak afgerond</strong>: Auditbureau kiezen" in html  # the history, in words
    assert "<code>report_after_4_weeks" not in html and "user_task_completed" not in html
    # The technical tab keeps the element ids, the events and the exact times for operators.
    raw = page(client, f"/dossiers/{cases['audit']}?tab=technisch")
    for timer in timers:
        assert f"<code>{timer.element_id}</code>" in raw and short_datetime(timer.due_at) in raw
    assert "<code>user_task_completed</code>" in raw and "<code>choose_bureau</code>" in raw


def test_vendored_viewer_and_page_script_are_served(client: FlaskClient) -> None:
    for name in (
        "vendor/bpmn-js/bpmn-navigated-viewer.production.min.js",
        "vendor/bpmn-js/diagram-js.css",
        "vendor/bpmn-js/bpmn-js.css",
        "vendor/kmop-case-view.js",
        "vendor/kmop-case-view.css",
    ):
        response = client.get(f"/static/{name}")
        assert response.status_code == 200, name
        response.close()


def test_staff_and_own_provider_see_the_personal_data(client: FlaskClient, cases: dict[str, int]) -> None:
    for username in ("an.vlaio", "admin.acme"):
        login(client, username)
        html = page(client, f"/dossiers/{cases['audit']}")
        for value in PERSONAL_VALUES:
            assert shown(value) in html, (username, value)
        assert "afgeschermd" not in html


def test_auditor_of_the_bureau_sees_the_case_without_personal_data(
    client: FlaskClient, cases: dict[str, int]
) -> None:
    login(client, "auditor.dnv")
    html = page(client, f"/dossiers/{cases['audit']}")
    for value in PERSONAL_VALUES:
        assert value not in html and shown(value) not in html, value
    assert "Persoonsgegevens zijn afgeschermd" in html
    print(html)
    assert "0566.988.259" in html and "Wachten op auditrapport" in html  # the rest of the case is there
    assert page(client, f"/dossiers/{cases['audit']}?tab=technisch").count("<code>wait_report</code>") == 0
    assert "Incidenten" not in html, "incidents are for staff"
    assert page(client, f"/dossiers/{cases['audit']}/diagram.bpmn")


@pytest.mark.parametrize(
    ("username", "case"),
    [
        ("piet.andere", "audit"),  # a provider of another organisation
        ("piet.andere", "new"),
        ("auditor.dnv", "kiwa"),  # an auditor of another bureau
        ("auditor.dnv", "new"),  # no bureau chosen yet
        ("jan.acme", "audit"),  # of the organisation, but without the provider right
        ("admin.acme", "kiwa"),
    ],
)
def test_a_case_that_is_not_theirs_is_refused(
    client: FlaskClient, cases: dict[str, int], username: str, case: str
) -> None:
    login(client, username)
    assert client.get(f"/dossiers/{cases[case]}").status_code == 403
    assert client.get(f"/dossiers/{cases[case]}/diagram.bpmn").status_code == 403


def test_unknown_case_is_not_found(client: FlaskClient, cases: dict[str, int]) -> None:
    login(client, "an.vlaio")
    assert client.get("/dossiers/99999").status_code == 404
    assert client.get("/dossiers/99999/diagram.bpmn").status_code == 404


def test_diagram_is_the_process_xml_behind_the_access_check(
    client: FlaskClient, cases: dict[str, int]
) -> None:
    anonymous = client.get(f"/dossiers/{cases['new']}/diagram.bpmn")
    assert anonymous.status_code == 302 and "/login" in anonymous.headers["Location"]
    login(client, "admin.acme")
    response = client.get(f"/dossiers/{cases['new']}/diagram.bpmn")
    assert response.status_code == 200 and response.mimetype == "application/xml"
    xml = response.get_data(as_text=True)
    assert 'id="registration"' in xml and "bpmndi:BPMNDiagram" in xml and "bpmn:lane" in xml


# --------------------------------------------------------------------------------------- incidents


@pytest.fixture
def broken_case(app: Flask, engine: Engine, registry: ServiceRegistry) -> Any:
    """A case whose eligibility check failed once and became an incident; the service then recovers."""
    real = registry.get("check_eligibility")
    assert real is not None

    def down(ctx: Any, **kwargs: Any) -> Any:
        raise ConnectionError("KBO unreachable")

    registry.register("check_eligibility", down, attempts=1)
    case = start(engine, "APP-0009")
    registry.register("check_eligibility", real.function)
    with engine.transaction() as db:
        [incident] = engine.show(db, case).incidents
    return case, incident.id


def test_staff_retry_an_incident_from_the_case_view(
    client: FlaskClient, engine: Engine, broken_case: Any
) -> None:
    case, incident = broken_case
    login(client, "an.vlaio")
    html = page(client, f"/dossiers/{case}")
    assert "KBO unreachable" in html and "Opnieuw proberen" in html
    assert 'data-incident="eligibility_check"' in html
    action = f"/dossiers/{case}/incidents/{incident}/retry"
    assert client.post(action).status_code == 400, "no CSRF token, no retry"

    response = client.post(action, data={"csrf_token": csrf_token(client, f"/dossiers/{case}")})
    assert response.status_code == 302 and response.headers["Location"].endswith(f"/dossiers/{case}")
    with engine.transaction() as db:
        detail = engine.show(db, case)
    assert detail.status == "waiting" and detail.active_elements == ["sign_declaration"]
    assert [i.status for i in detail.incidents] == ["resolved"]
    html = page(client, f"/dossiers/{case}")
    assert "Het incident is opnieuw geprobeerd." in html and "Opnieuw proberen" not in html

    again = client.post(action, data={"csrf_token": csrf_token(client, f"/dossiers/{case}")})
    assert again.status_code == 302
    assert "Dit incident is al afgehandeld." in page(client, f"/dossiers/{case}")


def test_only_staff_may_retry_and_only_incidents_of_that_case(
    client: FlaskClient, engine: Engine, broken_case: Any, cases: dict[str, int]
) -> None:
    case, incident = broken_case
    login(client, "admin.acme")  # the case's own provider sees the case, not its incidents
    html = page(client, f"/dossiers/{case}")
    assert "KBO unreachable" not in html
    token = csrf_token(client, f"/dossiers/{case}")
    assert (
        client.post(f"/dossiers/{case}/incidents/{incident}/retry", data={"csrf_token": token}).status_code
        == 403
    )
    login(client, "an.vlaio")
    token = csrf_token(client, f"/dossiers/{case}")
    other = client.post(f"/dossiers/{cases['new']}/incidents/{incident}/retry", data={"csrf_token": token})
    assert other.status_code == 404
    with engine.transaction() as db:
        assert [i.status for i in engine.show(db, case).incidents] == ["open"]


def test_case_view_in_english(client: FlaskClient, cases: dict[str, int]) -> None:
    login(client, "an.vlaio")
    client.post("/language/en", data={"csrf_token": csrf_token(client, "/"), "next": "/"})
    html = page(client, f"/dossiers/{cases['audit']}")
    assert "Case APP-" in html and "History" in html and "Waiting" in html and "Started on" in html
    assert "Filter" in page(client, "/dossiers/")


def test_a_refused_case_shows_as_refused_not_as_ended(
    client: FlaskClient, app: Flask, engine: Engine
) -> None:
    refused = start(engine, "APP-0009")
    complete(
        engine, refused, "sign_declaration", {"declaration_accepted": True, "declared_by": "Jan Peeters"}
    )
    complete(
        engine, refused, "check_declaration", {"decision": "reject", "decision_note": "Niet ondertekend"}
    )
    with engine.transaction() as db:
        assert engine.show(db, refused).status == "completed"
    login(client, "an.vlaio")
    html = page(client, "/dossiers/?status=completed")
    assert listed(html) == {refused}
    row = html[html.index(f'<tr data-case="{refused}">') :]
    row = row[: row.index("</tr>")]
    assert "Geweigerd" in row and "Beëindigd" not in row
    shown = page(client, f"/dossiers/{refused}")
    assert "Geweigerd" in shown and "Niet ondertekend" in shown
    # a version no row can have means any version (it used to fail in PostgreSQL)
    assert listed(page(client, "/dossiers/?version=99999999999")) == listed(page(client, "/dossiers/"))
